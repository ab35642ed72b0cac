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
  /** Queues `message` (JSON-like data) for this tick's batch. `onFail` hears if it cannot be delivered. */
  send(message: unknown, onFail?: (error: Error) => void): void;
  onMessage(fn: (message: unknown) => void): void;
  /** Called once when the link closes (at once if it already has). */
  onClose(fn: (error: Error) => void): void;
  readonly closed: boolean;
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

export interface LinkOptions {
  /** Envelope tag, so several links (or other users) can share one channel. Default `tidings.engine`. */
  name?: string;
}

interface Pending {
  message: unknown;
  onFail: ((error: Error) => void) | undefined;
}

export function processLink(channel: IpcChannel, options: LinkOptions = {}): Link {
  const name = options.name ?? 'tidings.engine';
  let queue: Pending[] = [];
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
    for (const p of dropped) p.onFail?.(error);
    for (const fn of closeHandlers.splice(0)) fn(error);
  }

  function write(batch: unknown[], done: (error: Error | null) => void): void {
    const send = channel.send;
    if (typeof send !== 'function') throw new LinkClosedError('this process has no IPC channel');
    send.call(channel, { tidings: name, b: batch }, done);
  }

  function flush(): void {
    scheduled = false;
    if (closed || queue.length === 0) return;
    const batch = queue;
    queue = [];
    const onSent = (error: Error | null) => {
      if (error) shut(new LinkClosedError(`sending on the IPC channel failed: ${error.message}`));
    };
    try {
      write(
        batch.map((p) => p.message),
        onSent,
      );
    } catch {
      // Serialization failed for at least one message: send them one by one, failing only those.
      for (const p of batch) {
        if (closed) {
          p.onFail?.(closeError!);
          continue;
        }
        try {
          write([p.message], onSent);
        } catch (err) {
          p.onFail?.(err instanceof Error ? err : new Error(String(err)));
        }
      }
    }
  }

  return {
    send(message, onFail) {
      if (closed) {
        onFail?.(closeError!);
        return;
      }
      queue.push({ message, onFail });
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
    close() {
      flush();
      shut(new LinkClosedError('the link was closed'));
    },
  };
}
