import { describe, expect, it } from 'vitest';
import { FrameHeaderParser, PreConnectGuard, type FrameHeader } from './ws-guard.js';

/** One frame as a client (masked) or a server (unmasked) would send it. */
function frame(fin: boolean, opcode: number, payload: Buffer, masked = true): Buffer {
  const n = payload.length;
  const ext = n < 126 ? Buffer.alloc(0) : n < 65536 ? Buffer.alloc(2) : Buffer.alloc(8);
  if (n >= 126 && n < 65536) ext.writeUInt16BE(n);
  if (n >= 65536) ext.writeBigUInt64BE(BigInt(n));
  const first = Buffer.from([(fin ? 0x80 : 0) | opcode, (masked ? 0x80 : 0) | (n < 126 ? n : n < 65536 ? 126 : 127)]);
  const mask = masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0);
  const body = masked ? Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!)) : payload;
  return Buffer.concat([first, ext, mask, body]);
}

function headersOf(chunks: Buffer[]): FrameHeader[] {
  const parser = new FrameHeaderParser();
  const out: FrameHeader[] = [];
  for (const c of chunks) {
    expect(parser.feed(c, (h) => (out.push(h), true))).toBe(true);
  }
  return out;
}

/** A stream of frames with every header shape: 7-, 16- and 64-bit lengths, masked or not, fragments and control frames between them. */
const FRAMES: Array<[boolean, number, number, boolean]> = [
  [false, 1, 0, true],
  [false, 0, 1, true],
  [true, 9, 125, true], // a ping between fragments
  [false, 0, 126, true],
  [true, 0, 65_535, true],
  [true, 2, 65_536, false],
  [true, 1, 70_000, true],
  [true, 10, 0, false],
  [true, 1, 3, true],
];
const expected: FrameHeader[] = FRAMES.map(([fin, opcode, length, masked]) => ({ fin, opcode, masked, length }));
const stream = Buffer.concat(FRAMES.map(([fin, opcode, length, masked]) => frame(fin, opcode, Buffer.alloc(length, 0x61), masked)));

describe('frame header parser', () => {
  it('reads every header shape from one chunk', () => {
    expect(headersOf([stream])).toEqual(expected);
  });

  it('reads the same headers whatever the chunk boundaries: every split point, and one byte at a time', () => {
    // Every cut of the stream into two chunks, near each header (the payloads between are skipped).
    const cuts = new Set<number>();
    let at = 0;
    for (const [fin, opcode, length, masked] of FRAMES) {
      const size = frame(fin, opcode, Buffer.alloc(length), masked).length;
      for (let i = 0; i <= 16; i++) {
        cuts.add(Math.min(at + i, stream.length));
        cuts.add(Math.max(at + size - i, 0));
      }
      at += size;
    }
    for (const cut of cuts) expect(headersOf([stream.subarray(0, cut), stream.subarray(cut)])).toEqual(expected);
    const small = Buffer.concat(expected.filter((h) => h.length < 200).map((h) => frame(h.fin, h.opcode, Buffer.alloc(h.length), h.masked)));
    const bytes = [...small].map((b) => Buffer.from([b]));
    expect(headersOf(bytes)).toEqual(expected.filter((h) => h.length < 200));
  });

  it('takes empty chunks, and stops for good when told to or on a length past 2^53', () => {
    const parser = new FrameHeaderParser();
    const seen: number[] = [];
    expect(parser.feed(Buffer.alloc(0), () => true)).toBe(true);
    expect(parser.feed(stream, (h) => (seen.push(h.opcode), seen.length < 2))).toBe(false);
    expect(seen).toEqual([1, 0]);
    expect(parser.feed(stream, () => true)).toBe(false);
    const huge = Buffer.from([0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]);
    expect(new FrameHeaderParser().feed(huge, () => true)).toBe(false);
  });
});

describe('pre-connect guard', () => {
  const fragments = (n: number) => Buffer.concat([frame(false, 1, Buffer.from('{')), ...Array.from({ length: n - 1 }, () => frame(false, 0, Buffer.from(' ')))]);

  it('refuses the data frame past maxFrames, counting fragments across chunks; control frames are free', () => {
    const guard = new PreConnectGuard({ maxBytes: 0, maxFrames: 4 });
    const pings = Buffer.concat(Array.from({ length: 10 }, () => frame(true, 9, Buffer.alloc(4))));
    expect(guard.take(pings)).toBeUndefined();
    const four = fragments(4);
    expect(guard.take(four.subarray(0, 9))).toBeUndefined();
    expect(guard.take(four.subarray(9))).toBeUndefined();
    expect(guard.counted.frames).toBe(4);
    // The fifth frame's header, split across two chunks.
    const fifth = frame(false, 0, Buffer.from(' '));
    expect(guard.take(fifth.subarray(0, 1))).toBeUndefined();
    expect(guard.take(fifth.subarray(1))).toEqual({ limit: 'pre_connect_frames', reason: 'too many frames before connect' });
    // Once exceeded, it stays so.
    expect(guard.take(Buffer.alloc(0))?.limit).toBe('pre_connect_frames');
  });

  it('refuses the chunk that takes it past maxBytes', () => {
    const guard = new PreConnectGuard({ maxBytes: 1000, maxFrames: 0 });
    expect(guard.take(Buffer.alloc(600))).toBeUndefined();
    expect(guard.take(Buffer.alloc(400))).toBeUndefined();
    expect(guard.take(Buffer.alloc(1))).toEqual({ limit: 'pre_connect_bytes', reason: 'too many bytes before connect' });
  });

  it('lets a connect message through: one frame, well under the budget', () => {
    const guard = new PreConnectGuard({ maxBytes: 65_536, maxFrames: 16 });
    expect(guard.take(frame(true, 1, Buffer.from(JSON.stringify({ id: 1, type: 'connect', token: 'x'.repeat(4000) }))))).toBeUndefined();
    expect(guard.counted.frames).toBe(1);
  });
});
