/**
 * What the user-level features (the notification inbox, activity feeds, job progress) need
 * from the client: its state and events, its subscriptions (the `Tidings` class is one), and
 * a way to send a command. They take these instead of the `Tidings` class, so they never
 * import the client.
 */
import type { Listener } from './emitter.js';
import type { CommandBody } from './outbox.js';
import type { Subscription } from './subscription.js';
import type { ClientEvents, ConnectionState, SubscriptionOptions } from './types.js';

/** @internal The part of the client the features use. */
export interface ClientLink {
  readonly state: ConnectionState;
  on<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): () => void;
  subscribe<T = unknown>(channel: string, options?: SubscriptionOptions): Subscription<T>;
  getSubscription<T = unknown>(channel: string): Subscription<T> | undefined;
}

/** @internal Sends a command (queued while disconnected) and resolves with its result. */
export type Call = (body: CommandBody) => Promise<unknown>;
