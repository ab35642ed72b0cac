/**
 * The methods each engine part proxies over a link: the only coupling between the IPC engine
 * and the engine interfaces. `methodsOf<T>()(remote, local)` fails to compile when `T` has a
 * method that is in neither list, so a new interface method cannot be forgotten here.
 * Every `remote` method returns a promise and takes JSON-like arguments (no functions).
 */
import type { Broker } from '../broker.js';
import type { NodeBus } from '../node-bus.js';
import type { PresenceManager } from '../presence.js';
import type { ProgressStore } from '../progress.js';
import type { SharedLimits } from '../shared-limits.js';
import type { TypingStore } from '../typing.js';
import type { UserStatusStore } from '../user-status.js';

type Missing<T, L extends readonly unknown[], K extends readonly unknown[]> = Exclude<keyof T, L[number] | K[number]>;

/**
 * `remote`: proxied as `peer.call(part, name, args)`; `local`: implemented on the worker side.
 * `close` is remote for the per-node handles (broker, bus, limits: closing one releases that
 * node's subscriptions, membership or slots) and local (a no-op) for the shared parts, which a
 * node must never close for the others.
 */
export function methodsOf<T>() {
  return <const L extends readonly (keyof T & string)[], const K extends readonly (keyof T & string)[]>(
    remote: L,
    local: K & ([Missing<T, L, K>] extends [never] ? unknown : { missing: Missing<T, L, K> }),
  ): { remote: L; local: K } => ({ remote, local });
}

export const BROKER = methodsOf<Broker>()(['publishControl', 'subscribe', 'unsubscribe', 'position', 'removeHistory', 'close'], ['setHandler', 'publish', 'history', 'historyStats']);
export const PRESENCE = methodsOf<PresenceManager>()(['add', 'touch', 'update', 'remove', 'settleLeave', 'clients', 'users', 'stats', 'sweepExpired'], ['close']);
export const USER_STATUS = methodsOf<UserStatusStore>()(
  ['addConnection', 'setStatus', 'removeConnection', 'settleOffline', 'touch', 'get', 'listOnline', 'countOnline', 'countUsers', 'sweepExpired'],
  ['close'],
);
export const TYPING = methodsOf<TypingStore>()(['start', 'stop', 'list'], ['close']);
export const PROGRESS = methodsOf<ProgressStore>()(['set', 'list', 'get'], ['close']);
export const BUS = methodsOf<NodeBus>()(['broadcast', 'send', 'request', 'requestAll', 'heartbeat', 'nodes', 'close'], ['start']);
export const LIMITS = methodsOf<SharedLimits>()(['acquire', 'release', 'held', 'take', 'close'], []);

/** Part name → the methods the host serves for it as plain calls (the rest have their own wire form). */
export const ENGINE_PARTS: Record<string, readonly string[]> = {
  broker: BROKER.remote,
  presence: PRESENCE.remote,
  userStatus: USER_STATUS.remote,
  occupancy: USER_STATUS.remote,
  typing: TYPING.remote,
  progress: PROGRESS.remote,
  bus: BUS.remote,
  limits: LIMITS.remote,
};
