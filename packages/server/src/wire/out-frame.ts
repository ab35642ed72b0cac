/**
 * One encoded frame on its way to clients, shared by every connection it goes to.
 *
 * The JSON is encoded once into a buffer with a few bytes of headroom in front,
 * so a transport that wraps frames (a WebSocket frame header) can build its wire
 * form in place, once, without copying the payload: the same bytes then go to
 * every socket.
 */
import { encodeMsgpackFrame } from './msgpack.js';

const HEADROOM = 10; // the longest WebSocket server frame header

export class OutFrame {
  /** Byte length of the frame's JSON. */
  readonly length: number;
  /** The frame's JSON as text (joining several frames for one write is cheaper on strings). */
  readonly text: string;
  /** The JSON, UTF-8, after HEADROOM bytes of room for a header. */
  private readonly room: Buffer;
  private view: Buffer | undefined;
  private wrapped: Buffer | undefined;
  private sse: Buffer | undefined;
  private mp: Buffer | undefined;
  private mpFramed: Buffer | undefined;

  private constructor(text: string, room: Buffer, length: number) {
    this.text = text;
    this.room = room;
    this.length = length;
  }

  static fromText(text: string): OutFrame {
    const room = Buffer.allocUnsafe(HEADROOM + Buffer.byteLength(text));
    const length = room.write(text, HEADROOM);
    return new OutFrame(text, room, length);
  }

  /** The frame's JSON, UTF-8 (a view, made on first use: the fan-out path rarely needs it). */
  get payload(): Buffer {
    return (this.view ??= this.room.subarray(HEADROOM, HEADROOM + this.length));
  }


  /**
   * The payload with a header of `headerLength` bytes written by `writeHeader`
   * just before it, built once and cached (every connection gets the same bytes).
   */
  wrap(headerLength: number, writeHeader: (target: Buffer) => void): Buffer {
    if (this.wrapped === undefined) {
      const framed = this.room.subarray(HEADROOM - headerLength, HEADROOM + this.length);
      writeHeader(framed);
      this.wrapped = framed;
    }
    return this.wrapped;
  }

  /**
   * The frame as an SSE event without its per-session `id:` line, built by
   * `build` on first use and cached, as `wrap` caches the WebSocket form: every
   * SSE session this frame goes to copies the same bytes (see http-session.ts).
   */
  sseEvent(build: (text: string) => Buffer): Buffer {
    return (this.sse ??= build(this.text));
  }

  /**
   * The frame in MessagePack (wire/msgpack.ts), built on first use and cached: every
   * MessagePack connection this frame goes to gets the same buffer.
   */
  get msgpack(): Buffer {
    return (this.mp ??= encodeMsgpackFrame(this.text));
  }

  /**
   * The MessagePack with a transport's framing (a WebSocket binary frame header), built by
   * `frame` on first use and cached like `wrap`: every MessagePack socket gets the same bytes.
   */
  msgpackFramed(frame: (msgpack: Buffer) => Buffer): Buffer {
    return (this.mpFramed ??= frame(this.msgpack));
  }
}
