/**
 * One encoded frame on its way to clients, shared by every connection it goes to.
 *
 * The JSON is encoded once into a buffer with a few bytes of headroom in front,
 * so a transport that wraps frames (a WebSocket frame header) can build its wire
 * form in place, once, without copying the payload: the same bytes then go to
 * every socket.
 */
const HEADROOM = 10; // the longest WebSocket server frame header

export class OutFrame {
  /** The frame's JSON, UTF-8. */
  readonly payload: Buffer;
  /** `payload` with HEADROOM bytes before it in the same memory. */
  private readonly room: Buffer;
  private wrapped: Buffer | undefined;

  private constructor(room: Buffer, length: number) {
    this.room = room;
    this.payload = room.subarray(HEADROOM, HEADROOM + length);
  }

  static fromText(text: string): OutFrame {
    const room = Buffer.allocUnsafe(HEADROOM + Buffer.byteLength(text));
    const length = room.write(text, HEADROOM);
    return new OutFrame(room, length);
  }

  get length(): number {
    return this.payload.length;
  }

  /**
   * The payload with a header of `headerLength` bytes written by `writeHeader`
   * just before it, built once and cached (every connection gets the same bytes).
   */
  wrap(headerLength: number, writeHeader: (target: Buffer) => void): Buffer {
    if (this.wrapped === undefined) {
      const framed = this.room.subarray(HEADROOM - headerLength, HEADROOM + this.payload.length);
      writeHeader(framed);
      this.wrapped = framed;
    }
    return this.wrapped;
  }
}
