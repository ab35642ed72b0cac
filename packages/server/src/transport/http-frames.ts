/**
 * What an SSE or long-polling session keeps of its frames, and how a frame becomes an SSE
 * event: the held frames (texts and sizes, oldest first) and the byte-level encoding of
 * `id:`/`event:`/`data:` lines that http-session.ts writes to a stream.
 */
import { randomBytes } from 'node:crypto';

/**
 * The frames a session holds, oldest first. A frame is stored as its text (the string
 * is shared by every session the frame went to) and its byte length, in two arrays: a
 * held frame costs a session two array slots, not an object of its own (a full 1 MiB
 * replay window of small frames is thousands of them per session). Sequence numbers are
 * contiguous and the newest frame is always the session's last, so they are not stored:
 * frame `seq` is `last - seq` places before the end. Dropping the oldest moves `head`;
 * the dropped slots are cut off once they outnumber the live ones.
 */
export class HeldFrames {
  texts: string[] = [];
  sizes: number[] = [];
  /** Index of the oldest held frame. */
  head = 0;
  /** Sum of the held frames' sizes. */
  bytes = 0;

  get count(): number {
    return this.texts.length - this.head;
  }

  push(text: string, size: number): void {
    this.texts.push(text);
    this.sizes.push(size);
    this.bytes += size;
  }

  dropOldest(): void {
    const head = this.head;
    this.bytes -= this.sizes[head]!;
    this.texts[head] = ''; // let the text go now, not at the next compaction
    this.head = head + 1;
    if (this.head >= 64 && this.head * 2 >= this.texts.length) {
      this.texts.splice(0, this.head);
      this.sizes.splice(0, this.head);
      this.head = 0;
    }
  }

  /** The held frames' texts joined with ",". */
  joined(): string {
    return this.head === 0 ? this.texts.join(',') : this.texts.slice(this.head).join(',');
  }
}

/** `event: <name>\ndata: <frame>\n\n`: everything of a frame's SSE event but its `id:` line. */
export function encodeEvent(text: string): Buffer {
  return Buffer.from(`event: ${eventName(text)}\ndata: ${text}\n\n`);
}

/**
 * The SSE event of a frame for a stream that asked for events named by type only (`sseEvents:
 * "types"` when the session opened: an EventSource, which hears only the names it listens to,
 * cannot listen to every application's event names): a named publication's event is
 * `publication`; other frames' events are `encodeEvent`'s. Null when it is the same as `encodeEvent`'s.
 */
export function encodeTypedEvent(text: string): Buffer | null {
  return publicationEventName(text) === undefined ? null : Buffer.from(`event: publication\ndata: ${text}\n\n`);
}

/** Byte length of `id: <seq>\n`. */
export function idLineLength(seq: number): number {
  let digits = 1;
  for (let p = 10; seq >= p; p *= 10) digits++;
  return digits + 5;
}

/** Writes `id: <seq>\n` (ASCII) into `target` at `at`; returns the offset after it. */
export function writeIdLine(target: Buffer, at: number, seq: number): number {
  target[at] = 0x69; // i
  target[at + 1] = 0x64; // d
  target[at + 2] = 0x3a; // :
  target[at + 3] = 0x20; // space
  const end = at + idLineLength(seq) - 1;
  let n = seq;
  for (let p = end - 1; p >= at + 4; p--) {
    target[p] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  target[end] = 0x0a; // \n
  return end + 1;
}

/** Reused by `#writeStream` for the events of one write; emptied after each (no frame is kept). */
export const eventScratch: Buffer[] = [];

/** 128 random bits, URL-safe. */
export function randomKey(): string {
  return randomBytes(16).toString('base64url');
}

/** The SSE event name of a frame: a publication's event name when it has one, else its push `type`, or `reply` for replies. */
export function eventName(text: string): string {
  if (!text.startsWith('{"type":"')) return 'reply';
  const end = text.indexOf('"', 9);
  return end > 9 ? (publicationEventName(text) ?? text.slice(9, end)) : 'message';
}

const PUBLICATION_START = '{"type":"publication",';
const EVENT_KEY = ',"event":"';

/**
 * The `event` of a publication push as `encodePublication` writes it (before `data`). Neither key
 * can be matched inside the channel's JSON string (its quotes are escaped there), and data is
 * after them; an event name has no character JSON escapes (`EVENT_NAME_PATTERN`).
 */
export function publicationEventName(text: string): string | undefined {
  if (!text.startsWith(PUBLICATION_START)) return undefined;
  const at = text.indexOf(EVENT_KEY);
  if (at < 0) return undefined;
  const dataAt = text.indexOf(',"data":');
  if (dataAt >= 0 && at > dataAt) return undefined;
  const start = at + EVENT_KEY.length;
  const end = text.indexOf('"', start);
  return end > start ? text.slice(start, end) : undefined;
}
