/**
 * What a node tells the app's backend through webhooks: the event kinds, their fields, and
 * the narrow `WebhookEmitter` the parts that see them call. A leaf: sessions, features and
 * `cluster/` emit through it; `webhooks/` turns each event into outbox rows for the endpoints
 * that want it (docs/webhooks.md lists the events and their payloads).
 *
 * Emitting never throws and never waits: the emitter queues the event and writes it to the
 * durable outbox in the background (a failure there is logged and counted, and does not hurt
 * the connection that caused the event).
 */

export const WEBHOOK_EVENT_TYPES = [
  'connection.opened',
  'connection.closed',
  'user.online',
  'user.offline',
  'channel.occupied',
  'channel.vacated',
  'subscription.created',
  'subscription.removed',
  'presence.join',
  'presence.leave',
  'publication.client',
  'notification.read',
  'delivery.gap',
  /** Sent by `POST /webhooks/test` (to try an endpoint and its signature check). */
  'webhook.test',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface WebhookEvent {
  type: WebhookEventType;
  /** The channel the event is about (channel, subscription, presence, publication and delivery-gap events). */
  channel?: string;
  /** The user the event is about ('' for anonymous connections). */
  user?: string;
  /** The connection the event is about. */
  client?: string;
  /** The rest of the event's payload (a publication's data, a close code, notification ids…). */
  data?: Record<string, unknown>;
  /** When it happened, ms since the epoch; the emitter fills in now when absent. */
  time?: number;
}

export interface WebhookEmitter {
  /** Queues `event` for every endpoint subscribed to its type (and namespace). Never throws. */
  emit(event: WebhookEvent): void;
  /** True when some endpoint wants events of `type`: lets a caller skip building a costly payload. */
  wants(type: WebhookEventType): boolean;
}

/** The emitter of a node without webhooks. */
export const NO_WEBHOOKS: WebhookEmitter = {
  emit: () => {},
  wants: () => false,
};
