/**
 * The store behind `useChannel`: the newest publications of one channel, live ones merged
 * with the last `history` read from the server, at most `keep` of them.
 *
 * History is read once the subscription is subscribed (never twice for one store, so
 * StrictMode's remount reuses the read in flight), and read again after a `gap`: missed
 * publications that recovery could not deliver.
 */
import type { GapContext, PublicationContext, PublishOptions, PublishResult, Subscription } from '@tidings/client';
import { appendPublication, fromHistory, mergePublications } from './message-buffer.js';
import { SubscriptionStore, type ChannelStoreConfig, type SubscriptionSnapshot } from './subscription-store.js';

/** What `useChannel` shows, besides `publish`. */
export interface ChannelSnapshot<T> extends SubscriptionSnapshot<T> {
  /** Publications, oldest first: ordered by offset (arrival order without history), at most `keep`. */
  messages: readonly PublicationContext<T>[];
  /** True until the first history read finished (with `history > 0`), and during a read after a gap. */
  loading: boolean;
}

/** @internal */
export interface ChannelStoreSettings extends ChannelStoreConfig {
  history: number;
  keep: number;
}

const EMPTY: readonly never[] = Object.freeze([]);

/** @internal */
export class ChannelStore<T> extends SubscriptionStore<T, ChannelSnapshot<T>> {
  readonly #history: number;
  readonly #keep: number;
  /** The latest `onPublication` given to the hook. */
  onPublication: ((publication: PublicationContext<T>) => void) | undefined;
  #messages: readonly PublicationContext<T>[] = EMPTY;
  #loading: boolean;
  #historyRead = false;
  /** Bumped by each history read: an older read's answer is dropped. */
  #read = 0;
  #reading = false;

  constructor(settings: ChannelStoreSettings) {
    super(settings);
    this.#history = settings.history;
    this.#keep = settings.keep;
    this.#loading = settings.enabled && settings.history > 0;
  }

  /** Publishes to the channel (whether or not the hook is mounted yet). */
  readonly publish = (data: T, options?: PublishOptions): Promise<PublishResult> => this.client.publish(this.channel, data, options);

  protected override compute(): ChannelSnapshot<T> {
    return { ...this.base(), messages: this.#messages, loading: this.#loading };
  }

  protected override listen(sub: Subscription<T>): Array<() => void> {
    return [
      sub.on('publication', (publication) => {
        this.#messages = appendPublication(this.#messages, publication, this.#keep);
        this.changed();
        this.onPublication?.(publication);
      }),
      sub.on('subscribed', () => this.#readInitial(sub)),
      sub.on('gap', (gap) => this.#onGap(sub, gap)),
    ];
  }

  protected override started(sub: Subscription<T>): void {
    this.#readInitial(sub);
  }

  #readInitial(sub: Subscription<T>): void {
    if (this.#history > 0 && sub.state === 'subscribed' && !this.#historyRead && !this.#reading) this.#readHistory(sub, this.#history);
  }

  #onGap(sub: Subscription<T>, gap: GapContext): void {
    // A new epoch means the stream was reset: offsets start again and the old list cannot
    // be merged with the new one.
    if (gap.to.epoch !== undefined && gap.to.epoch !== gap.from.epoch) this.#messages = EMPTY;
    this.#readHistory(sub, this.#history > 0 ? this.#history : this.#keep);
  }

  #readHistory(sub: Subscription<T>, limit: number): void {
    const read = ++this.#read;
    this.#reading = true;
    this.#loading = true;
    this.changed();
    sub.history({ limit: Math.min(limit, this.#keep), reverse: true }).then(
      (result) => {
        if (read !== this.#read) return;
        const chronological = result.publications.map((p) => fromHistory<T>(this.channel, p)).reverse();
        this.#messages = mergePublications(this.#messages, chronological, this.#keep);
        this.#historyRead = true;
        this.#reading = false;
        this.#loading = false;
        this.changed();
      },
      (error: unknown) => {
        if (read !== this.#read) return;
        this.#reading = false;
        this.#loading = false;
        // Not marked read: the next `subscribed` (after a reconnect) tries again.
        this.setError(error);
      },
    );
  }
}
