/**
 * Channel occupancy across the deployment, for the `channel.occupied` and `channel.vacated`
 * webhooks: each exactly once across every node, however subscribers come and go.
 *
 * The engine's occupancy store (`Engine.occupancy`, a user status store keyed by channel) counts
 * every node that holds subscribers of a channel as one connection, its node id. `Channels` tells
 * this part when the node's first subscriber of a channel arrives (`first`) and its last leaves
 * (`last`). The store's edges are the events, decided in the engine in one atomic step:
 * - occupied: the add that takes the channel from no node to one (a storm of subscribes on every
 *   node gives one);
 * - vacated: the last node's remove starts a grace period of `webhooks.vacatedDelay`, after which
 *   the settle reports the channel empty, once; a node that subscribes again meanwhile (a page
 *   refresh) cancels it, so neither event is sent;
 * - a node that dies (`kill -9`) stops refreshing its entries (`refresh`, on the presence timer);
 *   they expire after `presence.ttl` and the first node to `sweep` afterwards reports the vacated.
 *
 * Internal channels (`$…`: status following) are not counted. Nothing is counted while no endpoint
 * wants either event (the cost is one engine call per channel per node at its first subscriber
 * and at its last). Engine failures are logged; an event they cost is not retried.
 */
import type { UserStatusStore } from '../engine/user-status.js';
import type { Logger } from '../log.js';
import type { WebhookEmitter } from '../webhook-events.js';

const RESOLVED = Promise.resolve();
/** Channels taken per sweep call, and calls per sweep. */
const SWEEP_LIMIT = 500;
const SWEEP_ROUNDS = 10;

export interface OccupancyDeps {
  /** The engine's occupancy store; absent (an engine without one): nothing is counted. */
  store: UserStatusStore | undefined;
  nodeId: string;
  webhooks: WebhookEmitter;
  /** How long an empty channel waits before `channel.vacated` (`webhooks.vacatedDelay`). */
  vacatedDelayMs: number;
  log: Logger;
}

export class ChannelOccupancy {
  /** Channels this node is counted in. */
  private readonly held = new Set<string>();
  /** The engine calls of one channel, chained, so an add and a remove never overtake each other. */
  private readonly ops = new Map<string, Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly deps: OccupancyDeps) {}

  /** This node's first subscriber of `channel` arrived. */
  first(channel: string): void {
    const { store, webhooks, nodeId } = this.deps;
    if (!store || this.closed || channel.startsWith('$') || this.held.has(channel)) return;
    if (!webhooks.wants('channel.occupied') && !webhooks.wants('channel.vacated')) return;
    this.held.add(channel);
    this.enqueue(channel, async () => {
      const r = await store.addConnection(channel, nodeId, 'online', undefined, 0);
      if (r.cameOnline) webhooks.emit({ type: 'channel.occupied', channel, data: { node: nodeId } });
    });
  }

  /** This node's last subscriber of `channel` left. */
  last(channel: string): void {
    const { store } = this.deps;
    if (!store || !this.held.delete(channel)) return;
    this.enqueue(channel, async () => {
      const { lastConnection } = await store.removeConnection(channel, this.deps.nodeId);
      if (lastConnection) this.afterDelay(() => this.settle(channel));
    });
  }

  /** Keeps this node's entries from expiring: one engine call for all of them (the presence timer's). */
  refresh(): void {
    const { store, nodeId } = this.deps;
    if (!store || this.held.size === 0) return;
    this.background(store.touch([...this.held].map((channel) => ({ user: channel, client: nodeId }))));
  }

  /** Reports the channels whose last node died (its entries expired): once across the deployment. */
  sweep(): void {
    const { store } = this.deps;
    if (!store || this.closed) return;
    this.background(
      (async () => {
        for (let round = 0; round < SWEEP_ROUNDS; round++) {
          const found = await store.sweepExpired(SWEEP_LIMIT);
          for (const entry of found.changed) if (entry.wentOffline) this.vacated(entry.user, 'expired');
          if (!found.more) return;
        }
      })(),
    );
  }

  /** Stops the timers; entries left in the engine expire (the node's goodbye is its close of the engine). */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private async settle(channel: string): Promise<void> {
    const entry = await this.deps.store!.settleOffline(channel);
    if (entry?.wentOffline) this.vacated(channel, 'unsubscribed');
  }

  private vacated(channel: string, reason: 'unsubscribed' | 'expired'): void {
    this.deps.webhooks.emit({ type: 'channel.vacated', channel, data: { node: this.deps.nodeId, reason } });
  }

  private enqueue(channel: string, op: () => Promise<void>): void {
    const next = (this.ops.get(channel) ?? RESOLVED).then(op).catch((err: unknown) => this.deps.log.warn({ err, channel }, 'channel occupancy: engine call failed'));
    this.ops.set(channel, next);
    void next.then(() => {
      if (this.ops.get(channel) === next) this.ops.delete(channel);
    });
  }

  private afterDelay(work: () => Promise<void>): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.background(work());
    }, this.deps.vacatedDelayMs);
    timer.unref();
    this.timers.add(timer);
  }

  private background(work: Promise<unknown>): void {
    work.catch((err: unknown) => this.deps.log.warn({ err }, 'channel occupancy: engine call failed'));
  }
}
