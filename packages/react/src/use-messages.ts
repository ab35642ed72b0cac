/**
 * `useMessages`: a channel's messages with their edits, deletes and reactions folded in
 * (docs/messaging.md), and the actions that make them. A `MessageLog` of @tidings/client over
 * the shared subscription while the component is mounted, itself shared by the hooks on the same
 * channel and limit (StrictMode and several components read the history once).
 */
import { useMemo, useSyncExternalStore } from 'react';
import { MessageLog, TidingsError, type AnnotateOptions, type Message, type PublishOptions, type PublishResult, type Subscription } from '@tidings/client';
import { useTidingsContext } from './context.js';
import { acquireShared } from './shared-registry.js';
import { SubscriptionStore, type ChannelHookOptions, type ChannelStoreConfig, type SubscriptionSnapshot } from './subscription-store.js';
import { useIsomorphicLayoutEffect, useKeyedStore } from './use-store.js';

export type { Message } from '@tidings/client';

export interface UseMessagesOptions extends ChannelHookOptions {
  /** Newest messages read from history when subscribed, and again after a gap. Default 50. */
  limit?: number;
}

/** What `useMessages` shows, besides the actions. */
export interface MessagesSnapshot<T> extends SubscriptionSnapshot<T> {
  /** Messages, oldest first, at their latest version (`deleted` ones with `data: null`); operations are never listed. */
  messages: readonly Message<T>[];
  /** True until the first page of history is in, and while it is read again after a gap. */
  loading: boolean;
}

/** The actions of `useMessages`, stable across renders. Each resolves with the server's ack. */
export interface MessagesActions<T> {
  /** Publishes a message; `{ replyTo: offset }` makes it a reply. */
  send: (data: T, options?: PublishOptions) => Promise<PublishResult>;
  /** Replaces a message's content (its author, or a moderator role). */
  edit: (offset: number, data: T) => Promise<PublishResult>;
  /** Deletes a message (its author, or a moderator role). */
  remove: (offset: number) => Promise<PublishResult>;
  /** Adds this user's reaction. */
  react: (offset: number, emoji: string) => Promise<PublishResult>;
  /** Takes this user's reaction back. */
  unreact: (offset: number, emoji: string) => Promise<PublishResult>;
  /** Adds (or with `remove`, takes back) an annotation of any kind. */
  annotate: (offset: number, name: string, options?: AnnotateOptions) => Promise<PublishResult>;
}

export interface UseMessagesResult<T> extends MessagesSnapshot<T>, MessagesActions<T> {}

const EMPTY: readonly never[] = Object.freeze([]);

/** @internal */
export class MessagesStore<T> extends SubscriptionStore<T, MessagesSnapshot<T>> {
  readonly #limit: number;
  readonly #releaseDelay: number;
  #log: MessageLog<T> | null = null;
  readonly actions: MessagesActions<T>;

  constructor(config: ChannelStoreConfig, limit: number) {
    super(config);
    this.#limit = limit;
    this.#releaseDelay = config.releaseDelay;
    const sub = (): Subscription<T> => {
      const s = this.subscription ?? (this.client.getSubscription(this.channel) as Subscription<T> | undefined);
      if (!s) throw new TidingsError('unsubscribed', `useMessages: not subscribed to ${this.channel}`, { temporary: false });
      return s;
    };
    const run = (f: () => Promise<PublishResult>): Promise<PublishResult> => {
      try {
        return f();
      } catch (error) {
        return Promise.reject(error);
      }
    };
    this.actions = {
      send: (data, options) => this.client.publish(this.channel, data, options),
      edit: (offset, data) => run(() => sub().edit(offset, data)),
      remove: (offset) => run(() => sub().delete(offset)),
      react: (offset, emoji) => run(() => sub().react(offset, emoji)),
      unreact: (offset, emoji) => run(() => sub().unreact(offset, emoji)),
      annotate: (offset, name, options) => run(() => sub().annotate(offset, name, options)),
    };
  }

  protected override compute(): MessagesSnapshot<T> {
    const log = this.#log;
    return { ...this.base(), messages: log?.messages ?? EMPTY, loading: this.enabled && (log?.loading ?? true) };
  }

  protected override listen(sub: Subscription<T>): Array<() => void> {
    let lease = acquireShared(this.client, `messages\u0000${this.channel}\u0000${this.#limit}`, () => new MessageLog<T>(sub, { limit: this.#limit }), this.#releaseDelay);
    if (lease.value.subscription !== sub) {
      // A log kept for a subscription that has ended since: this one needs its own.
      lease.release();
      const own = new MessageLog<T>(sub, { limit: this.#limit });
      lease = { value: own, release: () => own.close() };
    }
    const log = (this.#log = lease.value as MessageLog<T>);
    if (log.error) this.setError(log.error);
    return [
      log.on('change', () => this.changed()),
      log.on('error', (error) => this.setError(error)),
      () => {
        lease.release();
        if (this.#log === log) this.#log = null;
      },
    ];
  }
}

/**
 * Subscribes to a chat channel while the component is mounted and returns its messages with
 * edits, deletes and reactions folded in, live; after a reconnect it shows the final state of
 * what changed meanwhile (recovery), each message once. The namespace needs `history` and
 * `messaging` (docs/messaging.md). Components on one channel share one subscription.
 *
 * @example
 * ```tsx
 * function Chat({ room }: { room: string }) {
 *   const { messages, send, edit, remove, react } = useMessages<{ text: string }>(`chat:${room}`, { limit: 100 });
 *   return (
 *     <>
 *       {messages.map((m) => (
 *         <Message key={m.offset} author={m.info?.user} text={m.deleted ? 'deleted' : m.data.text}
 *           reactions={m.annotations?.reaction} onReact={(emoji) => react(m.offset, emoji)}
 *           onEdit={(text) => edit(m.offset, { text })} onDelete={() => remove(m.offset)} />
 *       ))}
 *       <Composer onSend={(text, replyTo) => send({ text }, { replyTo })} />
 *     </>
 *   );
 * }
 * ```
 */
export function useMessages<T = unknown>(channel: string, options: UseMessagesOptions = {}): UseMessagesResult<T> {
  const { client, releaseDelay } = useTidingsContext('useMessages');
  const enabled = options.enabled ?? true;
  const limit = options.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1) throw new TypeError(`useMessages: limit must be an integer ≥ 1, got ${String(limit)}`);
  const store = useKeyedStore([client, channel, enabled, limit, releaseDelay], () => new MessagesStore<T>({ client, channel, enabled, releaseDelay }, limit));
  useIsomorphicLayoutEffect(() => {
    store.options = { getToken: options.getToken, recover: options.recover };
  });
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return useMemo(() => ({ ...snapshot, ...store.actions }), [snapshot, store]);
}
