/**
 * An activity feed (`client.activity(scope)`): the newest entries of a scope read page by
 * page with the `activity` command, and new ones live from the scope's channel
 * `<activityNamespace>:<scope>`. Entries are merged by id, newest first; the first page is
 * read again after every (re)subscribe, so entries appended while offline show up.
 */
import type { Activity, ActivityResult } from '@tidings/protocol';
import { Emitter } from './emitter.js';
import type { TidingsError } from './errors.js';
import type { Call, ClientLink } from './link.js';
import type { Subscription } from './subscription.js';

/** Open feeds per subscription, and whether a feed made it (then the last feed closed ends it). */
const feeds = new WeakMap<Subscription<Activity>, { open: number; owned: boolean }>();

/** Options of `client.activity()`. */
export interface ActivityFeedOptions {
  /** Entries per page read (1..100). Default 20. */
  limit?: number;
  /** Subscription token of the scope's channel, in namespaces that need one. */
  getToken?: (channel: string) => string | Promise<string>;
}

export interface ActivityFeedEvents {
  /** A new entry arrived live. */
  activity: Activity;
  /** Anything the getters return changed. */
  change: undefined;
  /** Reading or subscribing failed. */
  error: TidingsError;
}

/**
 * One scope's activity feed, live. Made by `client.activity(scope)`; `close()` it when done.
 *
 * @example
 * ```ts
 * const feed = client.activity('project-7', { limit: 30 });
 * feed.on('change', () => render(feed.items));
 * // later
 * feed.close();
 * ```
 */
export class ActivityFeed extends Emitter<ActivityFeedEvents> {
  /** The feed's scope (`global` or an application scope). */
  readonly scope: string;
  /** The channel its live entries come from. */
  readonly channel: string;
  readonly #call: Call;
  readonly #limit: number;
  readonly #getToken: ActivityFeedOptions['getToken'];
  readonly #sub: Subscription<Activity>;
  readonly #offs: Array<() => void>;
  #items: readonly Activity[] = [];
  #next: string | undefined;
  #paged = false;
  #loading = true;
  #error: TidingsError | null = null;
  #closed = false;

  /** @internal Made by `client.activity()`. */
  constructor(client: ClientLink, call: Call, namespace: string, scope: string, options: ActivityFeedOptions) {
    super();
    this.scope = scope;
    this.channel = `${namespace}:${scope}`;
    this.#call = call;
    this.#limit = options.limit ?? 20;
    this.#getToken = options.getToken;
    const owned = !client.getSubscription(this.channel);
    const sub = (this.#sub = client.subscribe<Activity>(this.channel, options.getToken ? { getToken: options.getToken } : {}));
    const count = feeds.get(sub) ?? { open: 0, owned };
    count.open++;
    feeds.set(sub, count);
    this.#offs = [
      sub.on('publication', ({ data }) => {
        if (this.#merge([data])) this.emit('activity', data);
      }),
      sub.on('subscribed', () => void this.refresh().catch(() => {})),
      sub.on('error', (err) => this.#fail(err)),
    ];
    if (sub.state === 'subscribed') void this.refresh().catch(() => {});
  }

  /** Entries, newest first: the pages read and the live ones. The same array until something changes. */
  get items(): readonly Activity[] {
    return this.#items;
  }

  /** True until the first page has been read. */
  get loading(): boolean {
    return this.#loading;
  }

  /** The last failure, cleared by the next successful read. */
  get error(): TidingsError | null {
    return this.#error;
  }

  /** Whether older entries than the loaded ones exist. */
  get hasMore(): boolean {
    return this.#next !== undefined;
  }

  /**
   * Reads the first page again (done by itself after every resubscribe) and merges it in.
   *
   * @example
   * ```ts
   * await feed.refresh();
   * ```
   */
  async refresh(): Promise<void> {
    const page = await this.#read(undefined);
    if (!page) return;
    // After `loadMore()`, the cursor of the oldest loaded page stays the one to go on from.
    if (!this.#paged) this.#next = page.nextCursor;
    this.#loading = false;
    this.#merge(page.activities, true);
  }

  /**
   * Reads the next page of older entries. Resolves with `hasMore`.
   *
   * @example
   * ```ts
   * if (feed.hasMore) await feed.loadMore();
   * ```
   */
  async loadMore(): Promise<boolean> {
    if (this.#next === undefined) return false;
    const page = await this.#read(this.#next);
    if (page) {
      this.#paged = true;
      this.#next = page.nextCursor;
      this.#merge(page.activities, true);
    }
    return this.hasMore;
  }

  /**
   * Stops the live stream: the last open feed of a scope unsubscribes from its channel,
   * unless the application subscribed to that channel itself.
   *
   * @example
   * ```ts
   * feed.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#offs) off();
    const count = feeds.get(this.#sub)!;
    if (--count.open > 0) return;
    feeds.delete(this.#sub);
    if (count.owned) this.#sub.unsubscribe();
  }

  async #read(cursor: string | undefined): Promise<ActivityResult | undefined> {
    try {
      const token = this.#getToken ? await this.#getToken(this.channel) : undefined;
      const page = (await this.#call({ type: 'activity', scope: this.scope, limit: this.#limit, ...(cursor ? { cursor } : {}), ...(token ? { token } : {}) })) as ActivityResult;
      this.#error = null;
      return this.#closed ? undefined : page;
    } catch (err) {
      this.#fail(err as TidingsError);
      throw err;
    }
  }

  /** Adds entries not seen yet, newest first by id. Returns whether any was new. */
  #merge(entries: readonly Activity[], always = false): boolean {
    const known = new Set(this.#items.map((a) => a.id));
    const fresh = entries.filter((a) => !known.has(a.id));
    if (fresh.length > 0) this.#items = [...this.#items, ...fresh].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    if (fresh.length > 0 || always) this.emit('change', undefined);
    return fresh.length > 0;
  }

  #fail(err: TidingsError): void {
    this.#error = err;
    this.#loading = false;
    this.emit('error', err);
    this.emit('change', undefined);
  }
}
