/**
 * Announcing what expiry did: a node that died without goodbye (`kill -9`, a killed worker)
 * leaves its connections in the engine until they expire, and nobody removes them. Every node
 * sweeps the engine on its presence timer; the engine hands each expiry to exactly one sweeping
 * node, which announces it as a goodbye would have been: a `leave` (namespaces with joinLeave) or
 * a `presence` push in the channel, and the user's `status` (offline, or away) to its followers,
 * and the `presence.leave` / `user.offline` webhooks (`presence-webhooks.ts`).
 * The grace period is already over: an expired connection's node has been silent for the TTL.
 */
import type { NamespaceConfig } from '../config/schema.js';
import type { ControlEvent } from '../engine/broker.js';
import type { UserStatusEntry } from '../engine/user-status.js';
import type { WebhookEmitter } from '../webhook-events.js';
import type { PresenceState } from './presence-state.js';
import { presenceLeft, userOffline } from './presence-webhooks.js';

/** Channels (and users) taken per engine call, and calls per sweep: the rest waits for the next one. */
const SWEEP_LIMIT = 500;
const SWEEP_ROUNDS = 10;

export interface ExpiryDeps {
  state: PresenceState;
  /** The namespace of a channel (undefined: unknown, nothing is announced but `presence` pushes). */
  namespaceOf?(channel: string): NamespaceConfig | undefined;
  control(channel: string, event: ControlEvent): Promise<void>;
  announceStatus(entry: UserStatusEntry): void;
  /** `presence.leave` and `user.offline` of what expiry did (`presence-webhooks.ts`); absent: none. */
  webhooks?: WebhookEmitter | undefined;
}

/** Sweeps until nothing more is due (at most SWEEP_ROUNDS engine calls) and announces every expiry found. */
export async function announceExpiries(deps: ExpiryDeps): Promise<void> {
  for (let round = 0; round < SWEEP_ROUNDS; round++) {
    const found = await deps.state.sweep(SWEEP_LIMIT);
    for (const entry of found.status) {
      deps.announceStatus(entry);
      if (entry.wentOffline) userOffline(deps.webhooks, entry, 'expired');
    }
    await Promise.all(
      found.presence.map(async (e) => {
        if (!e.userLeft) return e.user ? deps.control(e.channel, { type: 'presence', user: e.user }) : undefined;
        presenceLeft(deps.webhooks, e.channel, e.info, 'expired');
        if (deps.namespaceOf?.(e.channel)?.joinLeave) await deps.control(e.channel, { type: 'leave', info: e.info });
      }),
    );
    if (!found.more) return;
  }
}
