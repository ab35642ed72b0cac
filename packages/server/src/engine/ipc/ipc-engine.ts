/**
 * The worker side of the IPC engine: an `Engine` whose parts are proxies to an engine node
 * that the process at the other end of a link holds (`serveEngine`, engine-host.ts; in
 * `tidings serve --workers` the primary, holding a MemoryCluster).
 *
 * - Every part's methods are calls over the link (ipc-methods.ts lists them). Calls reach the
 *   host in the order they were made and the host invokes them in that order.
 * - The broker handler's `onPublication(channel, publication, position)` / `onControl` and the
 *   bus handler's messages arrive as link messages, in the order the host produced them.
 *   Publications travel as their data's JSON (publication-wire.ts).
 * - `broker.historyStats` is not offered (it is synchronous; the host reports its own).
 * - `close()` of the per-node parts (broker, bus, limits) releases that handle on the host;
 *   `close()` of a shared part (presence, user status, typing, progress) does nothing, since
 *   other nodes use it. `Engine.close()` releases the whole node on the host (its
 *   subscriptions, bus membership and limit slots).
 * - When the link closes (the host died), pending and later calls reject at once with a
 *   `LinkClosedError` (bus calls: `BusRequestError` code `closed`) naming the call.
 */
import { randomBytes } from 'node:crypto';
import type { Publication, StreamPosition } from '@tidings/protocol';
import { EXCEPT_CLIENT, type Broker, type BrokerHandler, type ControlEvent, type HistoryPage, type PublishOutcome } from '../broker.js';
import type { Engine } from '../engine.js';
import { BusRequestError, type BusHandler, type BusMessage, type NodeBus } from '../node-bus.js';
import type { PresenceManager } from '../presence.js';
import type { ProgressStore } from '../progress.js';
import type { SharedLimits } from '../shared-limits.js';
import type { TypingStore } from '../typing.js';
import type { UserStatusStore } from '../user-status.js';
import { BROKER, BUS, LIMITS, PRESENCE, PROGRESS, TYPING, USER_STATUS } from './ipc-methods.js';
import { LinkClosedError, type Link } from './link.js';
import { encodeData, fromWire, publicationFrom, type WirePublication } from './publication-wire.js';
import { routerFor, type RpcPeer } from './rpc.js';

export interface IpcEngineOptions {
  /** Handed to the host's `engineFor` (e.g. which engine, for tests running several). */
  options?: unknown;
  /** This node's id on the link (default: unique). Not the bus node id (`bus.start` names that). */
  node?: string;
}

const noop = async (): Promise<void> => {};

let nodeSeq = 0;
/** A node id unique across the processes of one machine. */
export function linkNodeId(prefix: string): string {
  return `${prefix}-${process.pid}-${++nodeSeq}-${randomBytes(4).toString('hex')}`;
}

/** A proxy object whose `methods` call `part` through `peer`, plus the `local` ones. */
export function remoteParts<T>(peer: RpcPeer, part: string, methods: readonly string[], local: Partial<T>): T {
  const out: Record<string, unknown> = {};
  for (const method of methods) out[method] = (...args: unknown[]) => peer.call(part, method, args);
  // Closing a part of a node already closed (or whose host is gone) has nothing left to do.
  if (methods.includes('close')) out.close = () => (peer.ended ? Promise.resolve() : peer.call(part, 'close', []).then(noop, noop));
  return Object.assign(out, local) as T;
}

/**
 * `close()` of a node opened on `peer`, once: asks the host to close it (whether the host
 * answers does not matter), then ends the peer, so later calls reject with `reason`.
 */
export function closeOnce(peer: RpcPeer, reason: string): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () =>
    (closing ??= peer
      .call('', 'close', [])
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => peer.end(new LinkClosedError(reason))));
}

export function ipcEngine(link: Link, options: IpcEngineOptions = {}): Engine {
  const node = options.node ?? linkNodeId('engine');
  let brokerHandler: BrokerHandler | undefined;
  let busHandler: BusHandler | undefined;

  const peer = routerFor(link).peer(node, {
    serve(part, method, args) {
      if (part === 'bus' && method === 'onMessage') {
        const handler = busHandler;
        if (!handler) throw new Error('IPC engine: bus message before bus.start');
        // Handled in a later turn, in arrival order: a message can share a batch with the answer
        // to the send that caused it, and the bus delivers asynchronously (never before that
        // send's promise settles, as with the memory bus).
        return new Promise((resolve, reject) =>
          setImmediate(() => {
            try {
              resolve(handler.onMessage(args[0] as BusMessage, args[1] as string));
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          }),
        );
      }
      throw new Error(`IPC engine: the worker serves no ${part}.${method}`);
    },
    event(part, name, args) {
      if (part !== 'broker' || !brokerHandler) return;
      if (name === 'pub') {
        const [channel, json, info, offset, epoch, except, event] = args as [string, string, Publication['info'], number | undefined, string | undefined, string | null | undefined, string | undefined];
        const position: StreamPosition | undefined = epoch !== undefined && offset !== undefined ? { epoch, offset } : undefined;
        const pub = publicationFrom(json, info, offset, event);
        if (except !== undefined && except !== null) pub[EXCEPT_CLIENT] = except;
        brokerHandler.onPublication(channel, pub, position);
      } else if (name === 'ctl') {
        brokerHandler.onControl(args[0] as string, args[1] as ControlEvent);
      }
    },
    failure(error, part, method) {
      const message = `IPC engine: ${part ? `${part}.${method}` : method} failed, the engine host is gone: ${error.message}`;
      return part === 'bus' ? new BusRequestError(message, 'closed') : new LinkClosedError(message);
    },
  });
  // Calls made before the host answers wait behind the opening there, in order.
  peer.open('engine', options.options).catch((err: unknown) => peer.end(err instanceof Error ? err : new Error(String(err))));

  const broker = remoteParts<Broker>(peer, 'broker', BROKER.remote, {
    setHandler(handler) {
      brokerHandler = handler;
    },
    async publish(channel, data, publishOptions): Promise<PublishOutcome> {
      const { json, ...rest } = publishOptions;
      return (await peer.call('broker', 'publish', [channel, json ?? encodeData(data), rest])) as PublishOutcome;
    },
    async history(channel, query): Promise<HistoryPage> {
      const page = (await peer.call('broker', 'history', [channel, query])) as { position: StreamPosition; publications: WirePublication[] };
      return { position: page.position, publications: page.publications.map(fromWire) };
    },
  });

  const bus = remoteParts<NodeBus>(peer, 'bus', BUS.remote, {
    async start(nodeId, handler) {
      busHandler = handler;
      await peer.call('bus', 'start', [nodeId]);
    },
  });

  return {
    broker,
    presence: remoteParts<PresenceManager>(peer, 'presence', PRESENCE.remote, { close: noop }),
    userStatus: remoteParts<UserStatusStore>(peer, 'userStatus', USER_STATUS.remote, { close: noop }),
    occupancy: remoteParts<UserStatusStore>(peer, 'occupancy', USER_STATUS.remote, { close: noop }),
    typing: remoteParts<TypingStore>(peer, 'typing', TYPING.remote, { close: noop }),
    progress: remoteParts<ProgressStore>(peer, 'progress', PROGRESS.remote, { close: noop }),
    bus,
    limits: remoteParts<SharedLimits>(peer, 'limits', LIMITS.remote, {}),
    close: closeOnce(peer, 'this IPC engine node was closed'),
  };
}
