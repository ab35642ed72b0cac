/**
 * The primary side of the IPC engine: serves the engine nodes of the workers at the other end
 * of a link (`ipcEngine`, ipc-engine.ts). Each node that opens gets its own engine handle from
 * `engineFor` (in `tidings serve --workers`: `MemoryCluster.node()`), and:
 *
 * - its calls are invoked on that handle in the order they arrive (a memory engine does its
 *   work synchronously at the call, so the order of effects is the order of calls);
 * - its broker handler sends each publication (as JSON, with its position) and control event
 *   to the worker as link events, in the order the broker delivers them; its bus handler asks
 *   the worker's bus handler over the link and answers with the worker's answer;
 * - when the worker closes the node, or the link closes (the worker died or disconnected), the
 *   handle closes: its subscriptions, bus membership and limit slots go.
 */
import { EXCEPT_CLIENT, type EncodedPublication } from '../broker.js';
import type { Engine } from '../engine.js';
import type { BusMessage } from '../node-bus.js';
import { ENGINE_PARTS } from './ipc-methods.js';
import { LinkClosedError, messageSize, type Link } from './link.js';
import { dataJson, toWire } from './publication-wire.js';
import { routerFor, type PeerHandlers, type RpcPeer } from './rpc.js';

/** A publication event's JSON length beyond its channel, data, node id, info and epoch (the envelope, keys and offset). */
const PUB_EVENT_BYTES = 64;

/** What a worker asked for when it opened a node. */
export interface EngineRequest {
  /** The node's id on the link. */
  node: string;
  /** `IpcEngineOptions.options` of the worker (undefined unless it gave some). */
  options: unknown;
}

export interface EngineHost {
  /** Nodes open on this link now. */
  readonly nodes: number;
  /** Closes every node's handle (the link itself stays open). */
  close(): Promise<void>;
}

export function serveEngine(link: Link, engineFor: (request: EngineRequest) => Engine | Promise<Engine>): EngineHost {
  const open = new Map<string, () => Promise<void>>();
  routerFor(link).serve('engine', (node, options, peer) => {
    const made = engineFor({ node, options });
    return made instanceof Promise ? made.then((engine) => hostNode(engine, peer, open)) : hostNode(made, peer, open);
  });
  return {
    get nodes() {
      return open.size;
    },
    async close() {
      await Promise.all([...open.values()].map((close) => close()));
    },
  };
}

function hostNode(engine: Engine, peer: RpcPeer, open: Map<string, () => Promise<void>>): PeerHandlers {
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      open.delete(peer.node);
      await engine.close();
      peer.end(new LinkClosedError(`IPC engine node ${peer.node} closed`));
    })();
    return closing;
  };
  open.set(peer.node, close);

  engine.broker.setHandler({
    onPublication(channel, publication, position) {
      const pub = publication as EncodedPublication;
      const json = dataJson(pub);
      // The hot path of fan-out: its size for the link's backlog from the parts that vary.
      const size = PUB_EVENT_BYTES + json.length + channel.length + peer.node.length + (pub.info === undefined ? 0 : messageSize(pub.info)) + (position?.epoch.length ?? 0);
      const except = pub[EXCEPT_CLIENT];
      const args: unknown[] = except === undefined ? [channel, json, pub.info, pub.offset, position?.epoch] : [channel, json, pub.info, pub.offset, position?.epoch, except];
      // The event name, when there is one, is the 7th (a missing `except` crosses as null).
      if (pub.event !== undefined) args.push(...(except === undefined ? [null, pub.event] : [pub.event]));
      peer.emit('broker', 'pub', args, pub.event === undefined ? size : size + pub.event.length + 3);
    },
    onControl(channel, event) {
      peer.emit('broker', 'ctl', [channel, event]);
    },
  });

  const parts = engine as unknown as Record<string, Record<string, (...args: unknown[]) => unknown>>;
  return {
    serve(part, method, args) {
      if (part === '' && method === 'close') return close();
      if (part === 'broker' && method === 'publish') {
        const [channel, json, options] = args as [string, string, object];
        return engine.broker.publish(channel, JSON.parse(json), { ...options, json });
      }
      if (part === 'broker' && method === 'history') {
        const [channel, query] = args as Parameters<Engine['broker']['history']>;
        return engine.broker.history(channel, query).then((page) => ({ position: page.position, publications: page.publications.map(toWire) }));
      }
      if (part === 'bus' && method === 'start') {
        return engine.bus.start(args[0] as string, { onMessage: (message: BusMessage, from: string) => peer.call('bus', 'onMessage', [message, from]) });
      }
      if (!Object.hasOwn(ENGINE_PARTS, part) || !ENGINE_PARTS[part]!.includes(method)) throw new Error(`IPC engine: no method ${part}.${method}`);
      const target = parts[part]!;
      return target[method]!.apply(target, args);
    },
    // The worker is gone: nobody is left to tell if releasing its handle fails.
    ended: () => void close().catch(() => undefined),
  };
}
