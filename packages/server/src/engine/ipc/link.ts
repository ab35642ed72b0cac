/**
 * A Link carries the IPC engine's messages over a process IPC channel: a `ChildProcess` or a
 * cluster `Worker` on the primary side, `process` on the worker side.
 *
 * - Messages sent in one tick leave as ONE `send` of an array (order kept), flushed on
 *   `setImmediate`: a burst of publications costs one syscall, not one each.
 * - Only this link's envelopes (`{ tidings: name, b: [...] }`) are read; other messages on the
 *   same channel (cluster internals, prom-client's metric requests, a second link) pass by.
 * - A channel that closes (disconnect, exit, a failed send) closes the link once; `onClose`
 *   handlers learn why. Sending on a closed link never throws: `onFail` (or nothing) learns it.
 * - A message the channel cannot serialize (a BigInt or a cycle under JSON serialization)
 *   fails alone through its `onFail`; the rest of its batch is still sent.
 * - Backpressure: `backlog` is the size of what this side holds for the other end, queued in
 *   this tick or sent but not yet handed to the OS (a `send` whose callback has not run: the
 *   other end stopped reading and the socket buffer is full). Past `maxBacklogBytes` the link
 *   closes with a `LinkBacklogError` (a stuck peer costs a bounded amount of memory; what is
 *   already in the channel stays there until its process goes). Sizes are the messages' JSON
 *   length, estimated without serializing them (strings count their length).
 */

/** The parts of ChildProcess, cluster.Worker and process a link uses. */
export interface IpcChannel {
  send?(message: unknown, callback: (error: Error | null) => void): boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the channels' own listener type
  on(event: string, listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  off(event: string, listener: (...args: any[]) => void): unknown;
}

export interface Link {
  /**
   * Queues `message` (JSON-like data) for this tick's batch. `onFail` hears if it cannot be
   * delivered. `size`: its JSON length if the caller knows it cheaply (default: `messageSize`).
   */
  send(message: unknown, onFail?: (error: Error) => void, size?: number): void;
  onMessage(fn: (message: unknown) => void): void;
  /** Called once when the link closes (at once if it already has). */
  onClose(fn: (error: Error) => void): void;
  readonly closed: boolean;
  /** Bytes queued for the other end or in the channel's send buffer (not yet handed to the OS). */
  readonly backlog: number;
  /** Stops using the channel (listeners removed, queued messages dropped); the channel itself stays open. */
  close(): void;
}

/** Thrown to callers of a link that closed: the process at the other end is gone or the channel was closed. */
export class LinkClosedError extends Error {
  readonly code = 'link_closed';
  constructor(message: string) {
    super(message);
    this.name = 'LinkClosedError';
  }
}

/** The link closed because the other end stopped reading: more than `maxBacklogBytes` waited for it. */
export class LinkBacklogError extends LinkClosedError {
  constructor(
    readonly backlogBytes: number,
    readonly maxBacklogBytes: number,
  ) {
    super(`the process at the other end of the IPC channel stopped reading: ${backlogBytes} bytes waited for it (more than ${maxBacklogBytes})`);
    this.name = 'LinkBacklogError';
  }
}

export interface LinkOptions {
  /** Envelope tag, so several links (or other users) can share one channel. Default `tidings.engine`. */
  name?: string;
  /** Most bytes waiting for the other end before the link closes with a `LinkBacklogError`. Default: no bound. */
  maxBacklogBytes?: number;
}

interface Pending {
  message: unknown;
  onFail: ((error: Error) => void) | undefined;
  size: number;
}

/** Values walked, and depth, before `messageSize` measures by serializing instead (a large, deep or cyclic message). */
const SIZE_WALK_BUDGET = 10_000;
const SIZE_WALK_DEPTH = 64;

/** The JSON length of `message`, estimated by walking it; a message too large to walk is serialized (0 if it cannot be). */
export function messageSize(message: unknown): number {
  let budget = SIZE_WALK_BUDGET;
  const walk = (v: unknown, depth: number): number => {
    if (--budget < 0 || depth > SIZE_WALK_DEPTH) {
      budget = -1;
      return 0;
    }
    switch (typeof v) {
      case 'string':
        return v.length + 2;
      case 'number':
      case 'bigint':
        return 8;
      case 'boolean':
        return 5;
      case 'object': {
        if (v === null) return 4;
        let n = 2;
        if (Array.isArray(v)) for (let i = 0; i < v.length; i++) n += walk(v[i], depth + 1) + 1;
        else {
          const keys = Object.keys(v);
          for (let i = 0; i < keys.length; i++) n += keys[i]!.length + 4 + walk((v as Record<string, unknown>)[keys[i]!], depth + 1);
        }
        return n;
      }
      default:
        return 0;
    }
  };
  const size = walk(message, 0);
  if (budget >= 0) return size;
  try {
    return JSON.stringify(message)?.length ?? 0;
  } catch {
    return 0;
  }
}

export function processLink(channel: IpcChannel, options: LinkOptions = {}): Link {
  const name = options.name ?? 'tidings.engine';
  const maxBacklog = options.maxBacklogBytes ?? Infinity;
  let queue: Pending[] = [];
  let queuedBytes = 0;
  let sendingBytes = 0;
  let scheduled = false;
  let closed = false;
  let closeError: Error | undefined;
  const messageHandlers: ((message: unknown) => void)[] = [];
  const closeHandlers: ((error: Error) => void)[] = [];

  const onChannelMessage = (raw: unknown) => {
    if (closed || typeof raw !== 'object' || raw === null) return;
    const envelope = raw as { tidings?: unknown; b?: unknown };
    if (envelope.tidings !== name || !Array.isArray(envelope.b)) return;
    for (const message of envelope.b) for (const fn of messageHandlers) fn(message);
  };
  const onDisconnect = () => shut(new LinkClosedError('the IPC channel disconnected (the process at the other end exited or closed it)'));
  const onExit = (code: number | null, signal: string | null) =>
    shut(new LinkClosedError(`the process at the other end of the IPC channel exited (${signal ? `signal ${signal}` : `code ${code}`})`));
  channel.on('message', onChannelMessage);
  channel.on('disconnect', onDisconnect);
  channel.on('exit', onExit);

  function detach(): void {
    channel.off('message', onChannelMessage);
    channel.off('disconnect', onDisconnect);
    channel.off('exit', onExit);
  }

  function shut(error: Error): void {
    if (closed) return;
    closed = true;
    closeError = error;
    detach();
    const dropped = queue;
    queue = [];
    queuedBytes = 0;
    for (const p of dropped) p.onFail?.(error);
    for (const fn of closeHandlers.splice(0)) fn(error);
  }

  /** Sends `batch` (`bytes` long); its bytes count as in flight until the channel's callback. */
  function write(batch: unknown[], bytes: number): void {
    const send = channel.send;
    if (typeof send !== 'function') throw new LinkClosedError('this process has no IPC channel');
    send.call(channel, { tidings: name, b: batch }, (error: Error | null) => {
      sendingBytes -= bytes;
      if (error) shut(new LinkClosedError(`sending on the IPC channel failed: ${error.message}`));
    });
    // Counted only once sent: a send that throws (serialization) never calls back.
    sendingBytes += bytes;
  }

  function flush(): void {
    scheduled = false;
    if (closed || queue.length === 0) return;
    const batch = queue;
    queue = [];
    queuedBytes = 0;
    try {
      write(
        batch.map((p) => p.message),
        batch.reduce((n, p) => n + p.size, 0),
      );
    } catch {
      // Serialization failed for at least one message: send them one by one, failing only those.
      for (const p of batch) {
        if (closed) {
          p.onFail?.(closeError!);
          continue;
        }
        try {
          write([p.message], p.size);
        } catch (err) {
          p.onFail?.(err instanceof Error ? err : new Error(String(err)));
        }
      }
    }
  }

  return {
    send(message, onFail, knownSize) {
      if (closed) {
        onFail?.(closeError!);
        return;
      }
      const size = knownSize ?? messageSize(message);
      queue.push({ message, onFail, size });
      queuedBytes += size;
      if (queuedBytes + sendingBytes > maxBacklog) {
        shut(new LinkBacklogError(queuedBytes + sendingBytes, maxBacklog));
        return;
      }
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    onMessage(fn) {
      messageHandlers.push(fn);
    },
    onClose(fn) {
      if (closed) fn(closeError!);
      else closeHandlers.push(fn);
    },
    get closed() {
      return closed;
    },
    get backlog() {
      return queuedBytes + sendingBytes;
    },
    close() {
      flush();
      shut(new LinkClosedError('the link was closed'));
    },
  };
}
