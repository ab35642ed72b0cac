/**
 * The webhook events a connection causes (docs/webhooks.md lists their payloads): opened once its
 * connect succeeded, closed when a connected session ends, a subscription created once it went live
 * (client or server-side) and removed (with why), a client publication once accepted. Sent through
 * the node's `WebhookEmitter` (`SessionServices.webhooks`; none when absent). Emitting never throws.
 */
import type { ResolvedChannel } from '../auth/channel-policy.js';
import { NO_WEBHOOKS, type WebhookEmitter } from '../webhook-events.js';
import type { PublishedOutcome } from './services.js';
import type { Subscription } from './subscription.js';

/** What these events read of a session (session.ts is one; no import of it, so no cycle). */
export interface WebhookSession {
  readonly id: string;
  readonly user: string;
  readonly info: Record<string, unknown> | undefined;
  readonly transport: { readonly kind: string };
  readonly request: { readonly remoteAddress: string };
  readonly clientName: string | undefined;
  readonly clientVersion: string | undefined;
  readonly connectedAt: number;
  readonly services: { readonly webhooks?: WebhookEmitter | undefined };
}

/** Why a subscription ended: the client's `unsubscribe`, the server (API, hook expiry), the connection closing, a delivery gap. */
export type SubscriptionEndReason = 'client' | 'server' | 'disconnect' | 'resubscribe';

function emitter(session: WebhookSession): WebhookEmitter {
  return session.services.webhooks ?? NO_WEBHOOKS;
}

/** `connection.opened`: the connect reply was sent. */
export function connectionOpened(session: WebhookSession): void {
  const data: Record<string, unknown> = { transport: session.transport.kind, remoteAddress: session.request.remoteAddress };
  if (session.clientName) data.name = session.clientName;
  if (session.clientVersion) data.version = session.clientVersion;
  emitter(session).emit({ type: 'connection.opened', client: session.id, user: session.user, data });
}

/** `connection.closed`: a connected session ended (close code and reason, how long it lasted in ms). */
export function connectionClosed(session: WebhookSession, code: number, reason: string): void {
  const data = { code, reason, duration: Date.now() - session.connectedAt, transport: session.transport.kind };
  emitter(session).emit({ type: 'connection.closed', client: session.id, user: session.user, data });
}

/** `subscription.created`: a subscription went live (its reply or `subscribe` push was sent). */
export function subscriptionCreated(session: WebhookSession, sub: Subscription): void {
  emitter(session).emit({ type: 'subscription.created', channel: sub.channel, client: session.id, user: session.user, data: { serverSide: sub.serverSide } });
}

/** `subscription.removed`: a live subscription ended, and why. */
export function subscriptionRemoved(session: WebhookSession, sub: Subscription, reason: SubscriptionEndReason): void {
  emitter(session).emit({ type: 'subscription.removed', channel: sub.channel, client: session.id, user: session.user, data: { serverSide: sub.serverSide, reason } });
}

/** `publication.client`: a client's publish was accepted and published (not for a deduplicated repeat). */
export function clientPublication(session: WebhookSession, target: ResolvedChannel, data: unknown, outcome: PublishedOutcome): void {
  const webhooks = emitter(session);
  if (outcome.deduplicated || !webhooks.wants('publication.client')) return;
  const payload: Record<string, unknown> = { data };
  if (outcome.position) Object.assign(payload, { offset: outcome.position.offset, epoch: outcome.position.epoch });
  if (session.info) payload.info = session.info;
  webhooks.emit({ type: 'publication.client', channel: target.channel, client: session.id, user: session.user, data: payload });
}
