/**
 * The channels of this node as the engine sees them: the part of `cluster/` that keeps the
 * engine's subscriptions in step with the hub's subscribers, reads channel streams for
 * recovery and `history`, and is the engine's handler, which hands what the engine delivers
 * to the hub.
 *
 * Subscribe is hub first, then engine: a subscriber is in the hub (and buffers what arrives)
 * before the engine is asked for the channel, so nothing delivered once the engine
 * subscription is in place can slip past it. The engine calls of one channel (subscribe when
 * the hub gets its first subscriber, unsubscribe when it loses its last) run one after
 * another, in the order the hub changed: however subscribes and unsubscribes race, the last
 * call made for a channel matches the hub, so no engine subscription is left dangling and no
 * subscribed channel is left without one. Calls of different channels due in the same tick
 * go to the engine together, one `subscribe` and one `unsubscribe` call for the batch (a
 * channel is in at most one pending batch, as its own calls wait for each other).
 *
 * Continuity: for every channel with history, the position of the last publication the
 * engine delivered is kept; the next one must have the same epoch and the next offset. When it
 * does not (a publication lost between nodes, a stream lost and started again), that is a
 * *delivery gap*: the gap handler tells the channel's local subscribers to recover (see
 * `cluster/delivery-gaps.ts`), never silently. When the engine's delivery was down and comes
 * back (`onResync`, e.g. Redis restarted), the stream's current position is compared with the
 * newest this node knows its subscribers have: the last one delivered or the newest one read for
 * them (subscribe replies, recovery). A position ahead of it, of another epoch, or a stream that
 * is gone is a delivery gap too: publications made meanwhile were never delivered.
 *
 * Occupancy (`cluster/occupancy.ts`, the `channel.occupied` / `channel.vacated` webhooks) is told
 * when the node's first subscriber of a channel arrives and its last leaves, in the hub's order.
 *
 * An engine that does not answer (`BrokerUnavailableError`) makes subscribe, position and
 * history fail with `unavailable` (temporary): the client retries.
 */
import type { Push, StreamPosition } from '@tidings/protocol';
import { ErrorCode } from '@tidings/protocol';
import { BrokerUnavailableError, ENCODED_DATA, EXCEPT_CLIENT, type Broker, type BrokerHandler, type ControlEvent, type EncodedPublication, type HistoryPage, type HistoryQuery } from '../engine/broker.js';
import { TidingsError } from '../errors.js';
import { untagPublication } from '../features/message-tags.js';
import type { Hub, HubSubscription } from '../hub/hub.js';

const RESOLVED = Promise.resolve();

/** Told of a delivery gap on a channel (before the publication that revealed it is handed to the hub). */
export type DeliveryGapHandler = (channel: string, last: StreamPosition, next: StreamPosition) => void;

/** Told when this node's first subscriber of a channel arrives and its last leaves (`cluster/occupancy.ts`). */
export interface OccupancyListener {
  first(channel: string): void;
  last(channel: string): void;
}

/** Engine calls of one kind due in the same tick. */
interface Batch {
  channels: string[];
  done: Promise<void>;
}

export class Channels implements BrokerHandler {
  /** Per channel with local subscribers: resolves when the engine delivers it to this node. */
  private readonly ready = new Map<string, Promise<void>>();
  /** The engine calls of one channel, chained: the per-channel lock. */
  private readonly ops = new Map<string, Promise<void>>();
  /** Per channel the engine delivers here, the position of the last stored publication delivered. */
  private readonly last = new Map<string, StreamPosition>();
  /** Per channel the engine delivers here, the newest position read for its subscribers (subscribe replies, recovery). */
  private readonly read = new Map<string, StreamPosition>();
  private subscribes: Batch | undefined;
  private unsubscribes: Batch | undefined;

  constructor(
    private readonly broker: Broker,
    private readonly hub: Hub,
    private readonly onGap: DeliveryGapHandler = () => {},
    private readonly occupancy?: OccupancyListener,
  ) {
    broker.setHandler(this);
  }

  /**
   * Registers a subscriber with the hub; from this call on it receives the channel's live
   * publications that reach this node. The promise resolves once the engine subscription
   * for the channel is in place (rejects if the engine fails).
   */
  subscribe(sub: HubSubscription): Promise<void> {
    const { channel } = sub;
    if (this.hub.add(sub)) {
      this.ready.set(channel, this.enqueue(channel, () => this.batched(true, channel)).catch(engineUnavailable));
      this.occupancy?.first(channel);
    }
    return this.ready.get(channel)!;
  }

  /** Removes a subscriber from the hub; the channel's last one releases the engine subscription. */
  unsubscribe(sub: HubSubscription): void {
    const { channel } = sub;
    if (!this.hub.remove(sub)) return;
    this.ready.delete(channel);
    this.occupancy?.last(channel);
    this.enqueue(channel, () => this.batched(false, channel)).catch(() => {
      // A failed unsubscribe only costs unused deliveries, which the hub drops.
    });
  }

  /** Local subscribers of a channel. */
  subscriberCount(channel: string): number {
    return this.hub.subscriberCount(channel);
  }

  // ------------------------------------------------------------ streams (recovery, history)

  /** A channel stream's epoch and top offset. */
  position(channel: string): Promise<StreamPosition> {
    return this.broker.position(channel).then((position) => (this.noteRead(channel, position), position), engineUnavailable);
  }

  /**
   * A page of a channel's stream, with its position (see `HistoryQuery` for `since` and gaps);
   * replies and message operations in their fields (features/message-tags.ts), not folded.
   */
  history(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    return this.broker.history(channel, query).then((page) => {
      this.noteRead(channel, page.position);
      return { position: page.position, publications: page.publications.map(untagPublication) };
    }, engineUnavailable);
  }

  /**
   * Publishes a control event (presence, typing, status, notifications, progress) on a
   * channel, ordered with its publications: the features' one way into the engine's channels.
   */
  publishControl(channel: string, event: ControlEvent): Promise<void> {
    return this.broker.publishControl(channel, event);
  }

  // ------------------------------------------------------------ BrokerHandler

  /**
   * A publication from the engine: continuity checked (stored ones), then to the hub, with the
   * JSON of its data when the engine has it.
   */
  onPublication(channel: string, pub: EncodedPublication, position?: StreamPosition): void {
    if (position !== undefined) {
      const last = this.last.get(channel);
      this.last.set(channel, position);
      if (last !== undefined && (position.offset !== last.offset + 1 || position.epoch !== last.epoch)) this.onGap(channel, last, position);
    }
    // Untagged (a reply's or operation's fields out of the engine's event string); never folded live.
    this.hub.deliverPublication(channel, untagPublication(pub), pub[ENCODED_DATA], pub[EXCEPT_CLIENT]);
  }

  /**
   * Delivery was down and is back: `position` is the stream's top now (undefined: the stream is
   * gone). Ahead of what this node's subscribers have, or another epoch: a delivery gap.
   */
  onResync(channel: string, position: StreamPosition | undefined): void {
    if (this.hub.subscriberCount(channel) === 0) return;
    const last = this.last.get(channel);
    const read = this.read.get(channel);
    // What the subscribers have: the newer of the last delivered and the last read (a delivery is newer on an epoch change).
    const known = last === undefined ? read : read === undefined || read.epoch !== last.epoch || read.offset <= last.offset ? last : read;
    // Nothing stored was delivered or read for them (a channel without history): nothing to compare.
    if (known === undefined) return;
    if (position === undefined || position.epoch !== known.epoch || position.offset > known.offset) {
      this.onGap(channel, known, position ?? { epoch: '', offset: 0 });
    }
    if (position !== undefined) this.last.set(channel, position);
    this.read.delete(channel);
  }

  /** A control event from the engine: to the hub as the push it becomes on the wire (built only when someone here listens). */
  onControl(channel: string, event: ControlEvent): void {
    if (this.hub.subscriberCount(channel) === 0) return;
    this.hub.deliverControl(channel, controlPush(channel, event), event.type === 'typing' || event.type === 'read' ? event.exceptUser : undefined);
  }

  // ------------------------------------------------------------ engine calls

  /** A position read for the channel's subscribers (kept only while it has some: the engine delivers it here). */
  private noteRead(channel: string, position: StreamPosition): void {
    if (this.hub.subscriberCount(channel) === 0) return;
    const before = this.read.get(channel);
    if (before === undefined || before.epoch !== position.epoch || position.offset > before.offset) this.read.set(channel, position);
  }

  private enqueue(channel: string, op: () => Promise<void>): Promise<void> {
    const prev = this.ops.get(channel) ?? RESOLVED;
    const next = prev.then(op, op);
    this.ops.set(channel, next);
    const cleanup = () => {
      if (this.ops.get(channel) === next) this.ops.delete(channel);
    };
    next.then(cleanup, cleanup);
    return next;
  }

  /**
   * Joins the channel to this tick's batch of engine subscribes (or unsubscribes); resolves
   * when the batch's engine call does. Continuity starts afresh with each engine subscription.
   */
  private batched(subscribe: boolean, channel: string): Promise<void> {
    this.last.delete(channel);
    let batch = subscribe ? this.subscribes : this.unsubscribes;
    if (!batch) {
      const channels: string[] = [];
      // Flushed once this tick's microtasks are done: the calls queued in the tick join it.
      const done = new Promise<void>((resolve) => process.nextTick(resolve)).then(() => {
        if (subscribe) this.subscribes = undefined;
        else this.unsubscribes = undefined;
        if (subscribe) return this.broker.subscribe(channels);
        // Deliveries up to the engine's unsubscribe may have set a position again: forgotten after it.
        return this.broker.unsubscribe(channels).finally(() => {
          for (const channel of channels) {
            this.last.delete(channel);
            this.read.delete(channel);
          }
        });
      });
      batch = { channels, done };
      if (subscribe) this.subscribes = batch;
      else this.unsubscribes = batch;
    }
    batch.channels.push(channel);
    return batch.done;
  }
}

/** An engine that does not answer: the caller gets `unavailable` (temporary), other errors pass. */
export function engineUnavailable(err: unknown): never {
  if (err instanceof BrokerUnavailableError) throw new TidingsError(ErrorCode.Unavailable, 'the engine is not answering; try again', { temporary: true });
  throw err;
}

/** The push a control event becomes on the wire. */
function controlPush(channel: string, event: ControlEvent): Push {
  switch (event.type) {
    case 'join':
    case 'leave':
      return { type: event.type, channel, info: event.info };
    case 'typing': {
      const push: Push = { type: 'typing', channel, user: event.user, typing: event.typing };
      if (event.info) push.info = event.info;
      return push;
    }
    case 'presence':
      return { type: 'presence', channel, user: event.user };
    case 'status': {
      // Status travels on internal channels; the push names the user, not the channel.
      const push: Push = { type: 'status', user: event.user, status: event.status };
      if (event.lastSeen !== undefined) push.lastSeen = event.lastSeen;
      return push;
    }
    // These travel on the user's personal channel and are addressed to the user, not the channel.
    case 'notification':
      return event.unreadByType === undefined
        ? { type: 'notification', notification: event.notification, unread: event.unread }
        : { type: 'notification', notification: event.notification, unread: event.unread, unreadByType: event.unreadByType };
    case 'notification_update': {
      const push: Push = { type: 'notification_update', change: event.change, unread: event.unread };
      if (event.ids) push.ids = event.ids;
      if (event.all) push.all = true;
      return push;
    }
    case 'progress':
      return { type: 'progress', job: event.job };
    // A read receipt names the channel read (it travels on the reader's personal channel too).
    case 'read':
      return { type: 'read', channel: event.channel, user: event.user, offset: event.offset, at: event.at };
  }
}
