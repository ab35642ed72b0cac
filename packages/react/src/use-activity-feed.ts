/**
 * `useActivityFeed`: the newest entries of an activity feed, live.
 */
import { useMemo, useSyncExternalStore } from 'react';
import type { Activity, ActivityFeed, Tidings, TidingsError } from '@tidings/client';
import { useTidingsContext } from './context.js';
import { acquireShared, type SharedLease } from './shared-registry.js';
import { Store } from './store.js';
import { useIsomorphicLayoutEffect, useKeyedStore } from './use-store.js';

export interface UseActivityFeedOptions {
  /** Entries shown (and read per page). Default 20. */
  limit?: number;
  /** Follow the feed only while true. Default true. */
  enabled?: boolean;
  /** Subscription token of the scope's channel, in namespaces that need one. The latest function is called. */
  getToken?: (channel: string) => string | Promise<string>;
}

/** What `useActivityFeed` shows, besides `loadMore`. */
export interface ActivityFeedSnapshot {
  /** The newest entries, newest first: at most `limit`, more after `loadMore()`. The same array until something changes. */
  items: readonly Activity[];
  /** True until the first page has been read. */
  loading: boolean;
  error: TidingsError | null;
  /** Older entries exist. */
  hasMore: boolean;
}

export interface UseActivityFeedResult extends ActivityFeedSnapshot {
  /** Shows (and reads) `limit` more older entries; resolves with `hasMore`. Stable across renders. */
  loadMore: () => Promise<boolean>;
}

const EMPTY: readonly never[] = Object.freeze([]);

/** @internal */
export class ActivityFeedStore extends Store<ActivityFeedSnapshot> {
  /** The latest `getToken` given to the hook. */
  getToken: UseActivityFeedOptions['getToken'];
  readonly #client: Tidings;
  readonly #scope: string;
  readonly #limit: number;
  readonly #enabled: boolean;
  readonly #releaseDelay: number;
  #lease: SharedLease<ActivityFeed> | undefined;
  #off: (() => void) | undefined;
  /** Entries shown: `limit`, and `limit` more per `loadMore()`. */
  #shown: number;
  #source: readonly Activity[] = EMPTY;
  #items: readonly Activity[] = EMPTY;

  constructor(client: Tidings, scope: string, limit: number, enabled: boolean, releaseDelay: number) {
    super();
    this.#client = client;
    this.#scope = scope;
    this.#limit = limit;
    this.#enabled = enabled;
    this.#releaseDelay = releaseDelay;
    this.#shown = limit;
  }

  readonly loadMore = async (): Promise<boolean> => {
    const feed = this.#lease?.value;
    if (!feed) return false;
    this.#shown += this.#limit;
    if (feed.items.length < this.#shown && feed.hasMore) await feed.loadMore();
    this.changed();
    return this.getSnapshot().hasMore;
  };

  protected override compute(): ActivityFeedSnapshot {
    const feed = this.#lease?.value;
    if (!feed) return { items: EMPTY, loading: this.#enabled, error: null, hasMore: false };
    if (feed.items !== this.#source || this.#items.length !== Math.min(this.#shown, feed.items.length)) {
      this.#source = feed.items;
      this.#items = feed.items.slice(0, this.#shown);
    }
    return { items: this.#items, loading: feed.loading, error: feed.error, hasMore: feed.hasMore || feed.items.length > this.#shown };
  }

  protected override start(): void {
    if (!this.#enabled) return;
    const getToken = this.getToken ? (channel: string) => this.getToken!(channel) : undefined;
    const make = () => this.#client.activity(this.#scope, { limit: this.#limit, ...(getToken ? { getToken } : {}) });
    const lease = acquireShared(this.#client, `activity\u0000${this.#scope}\u0000${this.#limit}`, make, this.#releaseDelay);
    this.#lease = lease;
    this.#off = lease.value.on('change', () => this.changed());
    this.changed();
  }

  protected override stop(): void {
    this.#off?.();
    this.#lease?.release();
    this.#lease = this.#off = undefined;
    this.changed();
  }
}

/**
 * The newest entries of the activity feed of `scope` (`global` when omitted), live:
 * entries appended by the backend (`POST /api/v1/activity`) appear at the top as they
 * happen, and what was appended while offline shows up after the reconnect. Components on
 * the same scope and limit share one feed.
 *
 * @example
 * ```tsx
 * function ProjectActivity({ projectId }: { projectId: string }) {
 *   const { items, loading, hasMore, loadMore } = useActivityFeed(`project-${projectId}`, { limit: 10 });
 *   if (loading) return <Spinner />;
 *   return (
 *     <ul>
 *       {items.map((a) => <li key={a.id}>{String((a.actor as { name?: string })?.name ?? a.actor)} {a.action} {String(a.target)}</li>)}
 *       {hasMore && <button onClick={() => loadMore()}>Older</button>}
 *     </ul>
 *   );
 * }
 * ```
 */
export function useActivityFeed(scope = 'global', options: UseActivityFeedOptions = {}): UseActivityFeedResult {
  const { client, releaseDelay } = useTidingsContext('useActivityFeed');
  const limit = options.limit ?? 20;
  const enabled = options.enabled ?? true;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new TypeError(`useActivityFeed: limit must be an integer from 1 to 100, got ${String(limit)}`);
  const store = useKeyedStore([client, scope, limit, enabled, releaseDelay], () => new ActivityFeedStore(client, scope, limit, enabled, releaseDelay));
  useIsomorphicLayoutEffect(() => {
    store.getToken = options.getToken;
  });
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return useMemo(() => ({ ...snapshot, loadMore: store.loadMore }), [snapshot, store]);
}
