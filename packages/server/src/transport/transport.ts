/**
 * A Transport moves whole messages between one client and its Session. The
 * session never sees sockets: WebSocket is one transport; SSE and long-polling
 * plug in by implementing this interface and feeding `Session.handleMessage`.
 */
import type { OutFrame } from '../wire/out-frame.js';

export type TransportKind = 'websocket' | 'sse' | 'polling';

export interface Transport {
  readonly kind: TransportKind;
  /**
   * Sends the frames queued for this client in one turn, as one message (frames
   * joined by "\n") or however the transport carries frames. `bytes` is the sum of
   * their sizes in the transport's `encoding`. The buffers are shared with other sessions (fan-out) and the
   * array is reused by the caller after the call: keep neither, modify neither.
   */
  write(frames: readonly OutFrame[], bytes: number): void;
  /** Bytes accepted by `write` that the kernel has not taken yet; counts toward `maxQueueBytes`. */
  readonly bufferedBytes: number;
  /**
   * How frames go on the wire: `msgpack` writes each frame's `OutFrame.msgpack`, so a frame's
   * size (for `write`'s `bytes`, the queue bound and bytes out) is that buffer's length and
   * frames go back to back. Absent: JSON, `OutFrame.length` and a separator between frames.
   */
  readonly encoding?: 'json' | 'msgpack';
  /** Sends what is queued, then closes with `code`. The transport reports the end through `onClose`. */
  close(code: number, reason: string): void;
  /** Drops the connection at once, discarding anything queued. */
  terminate(): void;
  /** The session's `connect` was accepted: what guarded the connection before it can go (WebSocket: the pre-connect guard). */
  connectAccepted?(): void;
}

/** What a transport knows about the request that opened it (for hooks, logs and limits). */
export interface TransportRequestInfo {
  remoteAddress: string;
  /** Request headers, lower-cased; never logged as a whole. */
  headers: Record<string, string | string[] | undefined>;
  /** Request path without the query string. */
  path: string;
}
