/**
 * The webhook events of presence and user status (docs/webhooks.md lists their payloads), sent
 * exactly where the presence feature (`presence.ts`) and expiry (`presence-expiry.ts`) learn of
 * them from the engine's edges, so each happens once across the deployment:
 * - `presence.join` when a user's first connection enters a channel's presence (not within the
 *   user's leave grace period), `presence.leave` when the grace period settles it gone, or when
 *   expiry (a node that died) takes the user's last connection;
 * - `user.online` when a user's first connection anywhere comes (offline → online or away),
 *   `user.offline` when the grace period after the last one settles, or expiry does; online ↔ away
 *   is neither.
 * The join/leave webhooks do not depend on the namespace's `joinLeave` (which only decides the
 * pushes to subscribers); they need `presence` on.
 */
import type { ClientInfo } from '@tidings/protocol';
import type { UserStatusEntry } from '../engine/user-status.js';
import { NO_WEBHOOKS, type WebhookEmitter } from '../webhook-events.js';

const or = (w: WebhookEmitter | undefined): WebhookEmitter => w ?? NO_WEBHOOKS;

/** `presence.join`: the user entered the channel's presence with connection `client.client`. */
export function presenceJoined(webhooks: WebhookEmitter | undefined, channel: string, client: ClientInfo): void {
  or(webhooks).emit({ type: 'presence.join', channel, user: client.user, client: client.client, data: client.info ? { info: client.info } : {} });
}

/** `presence.leave`: the user is gone from the channel's presence (`client`: its last connection there). */
export function presenceLeft(webhooks: WebhookEmitter | undefined, channel: string, client: ClientInfo, reason: 'left' | 'expired'): void {
  const data: Record<string, unknown> = { reason };
  if (client.info) data.info = client.info;
  or(webhooks).emit({ type: 'presence.leave', channel, user: client.user, client: client.client, data });
}

/** `user.online`: the user's first connection (`client`) came; `status` is the user's now (online or away). */
export function userOnline(webhooks: WebhookEmitter | undefined, user: string, client: string, status: string): void {
  or(webhooks).emit({ type: 'user.online', user, client, data: { status } });
}

/** `user.offline`: the user has no connection left (the grace period settled, or expiry). */
export function userOffline(webhooks: WebhookEmitter | undefined, entry: UserStatusEntry, reason: 'disconnected' | 'expired'): void {
  const data: Record<string, unknown> = { reason };
  if (entry.lastSeen !== undefined) data.lastSeen = entry.lastSeen;
  or(webhooks).emit({ type: 'user.offline', user: entry.user, data });
}
