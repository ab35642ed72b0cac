/**
 * What a WebSocket may cost before its session's `connect` is accepted.
 *
 * A socket that never sends `connect` is unauthenticated: it may hold the server's
 * memory only for `client.connectTimeout`, and only so much. `ws` bounds every
 * connection's messages (`websocket.maxPayload` bytes, `websocket.maxFragments`
 * frames per message, both public `ws` options); before `connect` is accepted this
 * guard adds a budget of raw bytes (`websocket.preConnectBytes`: frame headers,
 * masks and control frames included) and of data frames (`websocket.preConnectFrames`:
 * every fragment of every message counts, so a message left unfinished cannot be
 * parked one byte at a time).
 *
 * It reads what the socket delivers through the socket's public `'data'` event,
 * parsing only frame headers (payloads are skipped, never copied), and detaches
 * once `connect` has been accepted: a connected socket pays nothing for it.
 */

/** The header of one WebSocket frame (RFC 6455 §5.2). */
export interface FrameHeader {
  fin: boolean;
  /** 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong (3–7 and 11–15 reserved). */
  opcode: number;
  masked: boolean;
  /** Payload length in bytes. */
  length: number;
}

/** Largest header: 2 bytes, a 64-bit extended length, a 4-byte mask. */
const MAX_HEADER = 14;

/**
 * Incremental parser of frame headers over a byte stream cut anywhere (TCP chunks):
 * reports each header as soon as it is complete and skips the payload that follows.
 * Keeps at most one partial header (14 bytes); never looks inside payloads.
 */
export class FrameHeaderParser {
  private readonly partial = Buffer.alloc(MAX_HEADER);
  private partialLength = 0;
  /** Payload bytes of the current frame still to skip. */
  private skip = 0;
  /** Set when a header is malformed (a 64-bit length with the top bit set, or beyond 2^53). */
  private broken = false;

  /**
   * Feeds the next bytes of the stream. `onFrame` is called for each complete header, in
   * order; when it returns false, parsing stops for good (the caller gave up on the stream).
   * Returns false when it stopped, or when a header was malformed.
   */
  feed(chunk: Uint8Array, onFrame: (header: FrameHeader) => boolean): boolean {
    if (this.broken) return false;
    let at = 0;
    while (at < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        continue;
      }
      // Collect header bytes: first the two fixed ones, then as many as they announce.
      const need = this.partialLength < 2 ? 2 : headerLength(this.partial);
      const n = Math.min(need - this.partialLength, chunk.length - at);
      this.partial.set(chunk.subarray(at, at + n), this.partialLength);
      this.partialLength += n;
      at += n;
      if (this.partialLength < need) continue;
      if (need === 2 && headerLength(this.partial) > 2) continue;
      const header = parseHeader(this.partial);
      this.partialLength = 0;
      if (!header) {
        this.broken = true;
        return false;
      }
      this.skip = header.length;
      if (!onFrame(header)) {
        this.broken = true;
        return false;
      }
    }
    return true;
  }
}

/** Full header length announced by the first two bytes in `b`. */
function headerLength(b: Buffer): number {
  const len7 = b[1]! & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b[1]! & 0x80 ? 4 : 0);
}

function parseHeader(b: Buffer): FrameHeader | undefined {
  const len7 = b[1]! & 0x7f;
  let length = len7;
  if (len7 === 126) length = b.readUInt16BE(2);
  else if (len7 === 127) {
    const high = b.readUInt32BE(2);
    // RFC 6455: the most significant bit must be 0; JavaScript numbers stop being exact at 2^53.
    if (high > 0x1fffff) return undefined;
    length = high * 2 ** 32 + b.readUInt32BE(6);
  }
  return { fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, masked: (b[1]! & 0x80) !== 0, length };
}

/** The pre-connect budget (0: no limit for that part). */
export interface PreConnectLimits {
  /** Raw bytes the client may send before `connect` is accepted. */
  maxBytes: number;
  /** Data frames (fragments of any message) the client may send before `connect` is accepted. */
  maxFrames: number;
}

/** A budget that was exceeded: the `limit_hits_total` label and the close reason. */
export interface PreConnectViolation {
  limit: 'pre_connect_bytes' | 'pre_connect_frames';
  reason: string;
}

/** Counts what one socket sent before `connect` was accepted, against its budget. */
export class PreConnectGuard {
  private readonly parser = new FrameHeaderParser();
  private bytes = 0;
  private frames = 0;
  private violation: PreConnectViolation | undefined;

  constructor(private readonly limits: PreConnectLimits) {}

  /** Accounts for the next chunk from the socket; returns the exceeded budget, if any. */
  take(chunk: Uint8Array): PreConnectViolation | undefined {
    if (this.violation) return this.violation;
    const { maxBytes, maxFrames } = this.limits;
    this.bytes += chunk.length;
    if (maxBytes > 0 && this.bytes > maxBytes) {
      this.violation = { limit: 'pre_connect_bytes', reason: 'too many bytes before connect' };
      return this.violation;
    }
    if (maxFrames > 0) {
      // A malformed header is left to `ws`, which closes with 1002 on the same bytes.
      this.parser.feed(chunk, (header) => {
        if (header.opcode >= 8) return true;
        if (++this.frames <= maxFrames) return true;
        this.violation = { limit: 'pre_connect_frames', reason: 'too many frames before connect' };
        return false;
      });
    }
    return this.violation;
  }

  /** Bytes and data frames counted so far. */
  get counted(): { bytes: number; frames: number } {
    return { bytes: this.bytes, frames: this.frames };
  }
}
