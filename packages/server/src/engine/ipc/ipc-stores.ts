/**
 * The durable stores over a link, so one process (the primary of `tidings serve --workers`)
 * is the only SQLite writer: `ipcStores(link)` gives a worker proxies of NotificationStore,
 * ActivityStore and AuditStore (and the other stores of StoreBundle: the webhook outbox, so every
 * worker enqueues into the primary's one outbox); `serveStores(link, storesFor)` serves them on the primary.
 *
 * A proxy's call resolves when the host's store call resolved, so "durable on resolve" holds
 * across the link: a 2xx a worker answers after `create` resolved means the row is committed.
 * Errors keep their class (`BadCursorError`). When the link closes, pending and later calls
 * reject with `LinkClosedError`; the write may or may not have happened (as with a crash).
 *
 * Readiness: each proxy also offers `status()` (what open-stores.ts reads for `/ready`), the
 * host's `status()` of its stores (its database: PostgreSQL may be away) as last answered. The
 * worker asks at once and then every `statusEveryMs` (one question at a time, an unref'd timer),
 * so a change on the host shows within about that long. Not ready until the first answer, and
 * for good once the link closed.
 */
import type { ActivityStore } from '../../store/activity-store.js';
import type { AuditStore } from '../../store/audit-store.js';
import type { NotificationStore } from '../../store/notification-store.js';
import type { StoreStatus } from '../../store/postgres/database.js';
import type { UserChannelsStore } from '../../store/user-channels-store.js';
import type { ReadReceiptsStore } from '../../store/read-receipts-store.js';
import type { WebhookOutbox } from '../../store/webhook-outbox.js';
import { closeOnce, linkNodeId, remoteParts } from './ipc-engine.js';
import { methodsOf } from './ipc-methods.js';
import { LinkClosedError, type Link } from './link.js';
import { routerFor, type PeerHandlers } from './rpc.js';

const NOTIFICATIONS = methodsOf<NotificationStore>()(['create', 'list', 'counts', 'markRead', 'remove', 'prune'], []);
const ACTIVITY = methodsOf<ActivityStore>()(['append', 'list', 'recent', 'prune'], []);
const AUDIT = methodsOf<AuditStore>()(['append', 'query', 'prune'], []);
const USER_CHANNELS = methodsOf<UserChannelsStore>()(['add', 'remove', 'list', 'any'], []);
const READ_RECEIPTS = methodsOf<ReadReceiptsStore>()(['mark', 'get', 'list'], []);
const WEBHOOKS = methodsOf<WebhookOutbox>()(['enqueue', 'claim', 'markDelivered', 'markFailed', 'markDead', 'listDead', 'replay', 'stats', 'prune'], []);
const STORE_PARTS: Record<string, readonly string[]> = {
  notifications: NOTIFICATIONS.remote,
  activity: ACTIVITY.remote,
  audit: AUDIT.remote,
  userChannels: USER_CHANNELS.remote,
  readReceipts: READ_RECEIPTS.remote,
  webhooks: WEBHOOKS.remote,
};

export interface StoreBundle {
  notifications: NotificationStore;
  activity: ActivityStore;
  audit: AuditStore;
  userChannels: UserChannelsStore;
  readReceipts: ReadReceiptsStore;
  /** The one webhook outbox: workers enqueue into it, and the API routes of a worker read and replay it. */
  webhooks: WebhookOutbox;
}

/** What the host gives a worker: the stores, (optionally) whether they can be used now, and what to do when that worker's stores close. */
export interface HostedStores extends StoreBundle {
  /** The stores' readiness (its database's), asked by the worker periodically; absent: always ready. */
  status?(): StoreStatus;
  close?(): Promise<void> | void;
}

/** A proxy that also reports the host's readiness. */
type WithStatus<T> = T & { status(): StoreStatus };

export interface IpcStores {
  notifications: WithStatus<NotificationStore>;
  activity: WithStatus<ActivityStore>;
  audit: WithStatus<AuditStore>;
  userChannels: WithStatus<UserChannelsStore>;
  readReceipts: WithStatus<ReadReceiptsStore>;
  webhooks: WithStatus<WebhookOutbox>;
  /** The host's stores' status as last answered (the same as each proxy's `status()`). */
  status(): StoreStatus;
  /** Ends this worker's use of the stores (the host's `close`, if any, runs). */
  close(): Promise<void>;
}

export interface IpcStoresOptions {
  /** Handed to the host's `storesFor`. */
  options?: unknown;
  /** How often the host's status is asked, in ms (default 1000). */
  statusEveryMs?: number;
}

export function ipcStores(link: Link, options: IpcStoresOptions = {}): IpcStores {
  const peer = routerFor(link).peer(linkNodeId('stores'), {
    failure: (error, part, method) => new LinkClosedError(`IPC stores: ${part ? `${part}.${method}` : method} failed, the store host is gone: ${error.message}`),
  });
  peer.open('stores', options.options).catch((err: unknown) => peer.end(err instanceof Error ? err : new Error(String(err))));
  let last: StoreStatus = { ready: false, reason: 'stores: no answer from the store host yet' };
  let asking = false;
  const ask = () => {
    if (asking || peer.ended) return;
    asking = true;
    peer
      .call('', 'status', [])
      .then(
        (answer) => (last = isStatus(answer) ? answer : { ready: false, reason: 'stores: the store host gave no status' }),
        (err: unknown) => (last = { ready: false, reason: err instanceof Error ? err.message : String(err) }),
      )
      .finally(() => (asking = false));
  };
  const timer = setInterval(ask, options.statusEveryMs ?? 1000);
  timer.unref();
  ask();
  link.onClose(() => clearInterval(timer));
  const status = (): StoreStatus => (peer.ended ? { ready: false, reason: `stores: ${peer.endError?.message ?? 'closed'}` } : last);
  const closeStores = closeOnce(peer, 'these IPC stores were closed');
  return {
    notifications: Object.assign(remoteParts<NotificationStore>(peer, 'notifications', NOTIFICATIONS.remote, {}), { status }),
    activity: Object.assign(remoteParts<ActivityStore>(peer, 'activity', ACTIVITY.remote, {}), { status }),
    audit: Object.assign(remoteParts<AuditStore>(peer, 'audit', AUDIT.remote, {}), { status }),
    userChannels: Object.assign(remoteParts<UserChannelsStore>(peer, 'userChannels', USER_CHANNELS.remote, {}), { status }),
    readReceipts: Object.assign(remoteParts<ReadReceiptsStore>(peer, 'readReceipts', READ_RECEIPTS.remote, {}), { status }),
    webhooks: Object.assign(remoteParts<WebhookOutbox>(peer, 'webhooks', WEBHOOKS.remote, {}), { status }),
    status,
    close: () => {
      clearInterval(timer);
      return closeStores();
    },
  };
}

function isStatus(v: unknown): v is StoreStatus {
  return typeof v === 'object' && v !== null && typeof (v as StoreStatus).ready === 'boolean';
}

export interface StoreRequest {
  node: string;
  options: unknown;
}

/** Serves the stores of every worker that opens them on `link`; each gets `storesFor`'s stores. */
export function serveStores(link: Link, storesFor: (request: StoreRequest) => HostedStores | Promise<HostedStores>): void {
  routerFor(link).serve('stores', async (node, options, peer): Promise<PeerHandlers> => {
    const stores = await storesFor({ node, options });
    const parts = stores as unknown as Record<string, Record<string, (...args: unknown[]) => unknown>>;
    let closing: Promise<void> | undefined;
    const close = () => (closing ??= Promise.resolve()
      .then(() => stores.close?.())
      .finally(() => peer.end(new LinkClosedError(`IPC stores ${node} closed`))));
    return {
      serve(part, method, args) {
        if (part === '' && method === 'close') return close();
        if (part === '' && method === 'status') return stores.status?.() ?? { ready: true };
        if (!Object.hasOwn(STORE_PARTS, part) || !STORE_PARTS[part]!.includes(method)) throw new Error(`IPC stores: no method ${part}.${method}`);
        const target = parts[part]!;
        return target[method]!.apply(target, args);
      },
      ended: () => void close().catch(() => undefined),
    };
  });
}
