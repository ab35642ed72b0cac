/**
 * Node-local registry of sessions and channel subscriptions, and local fan-out.
 *
 * The hub only delivers what reaches this node; publishing goes through the node
 * (`Tidings.publish`), which hands publications to the Broker, which hands them
 * back here on every node with subscribers. A publication is encoded once here
 * and the same bytes go to every local subscriber.
 */
import { encodeFrame, encodePublication, type Publication, type Push } from '@tidings/protocol';
import { ENCODED_DATA, type Broker, type ControlEvent, type EncodedPublication } from '../engine/broker.js';
import { OutFrame } from '../wire/out-frame.js';

/** One connection's subscription to one channel, as the hub sees it. */
export interface HubSubscription {
  readonly channel: string;
  /** The subscriber's user id (control events can skip the sender's own connections). */
  readonly user: string;
  /** A publication for this channel; `frame` is shared by every subscriber. */
  deliver(pub: Publication, frame: OutFrame): void;
  /** A control push for this channel (join, leave, typing, presence, status; already encoded, shared). */
  deliverControl(frame: OutFrame): void;
}

/** A connection, as the hub's registry sees it. */
export interface HubSession {
  readonly id: string;
  /** Empty string for anonymous connections. */
  readonly user: string;
}

const RESOLVED = Promise.resolve();

export class Hub<S extends HubSession = HubSession> {
  private readonly channels = new Map<string, Set<HubSubscription>>();
  /** Resolves when the broker delivers the channel to this node. */
  private readonly ready = new Map<string, Promise<void>>();
  /** Broker subscribe/unsubscribe calls of one channel run one after another. */
  private readonly ops = new Map<string, Promise<void>>();
  private readonly sessions = new Map<string, S>();
  private readonly users = new Map<string, Set<S>>();
  /** Publications written to sockets (one per subscriber), for stats. */
  deliveredTotal = 0;
  private internalChannels = 0;

  constructor(
    private readonly broker: Broker,
    /** Told how many subscribers each publication reached (metrics). */
    private readonly onDelivered: (subscribers: number) => void = () => {},
  ) {}

  // ------------------------------------------------------------ sessions

  addSession(session: S): void {
    this.sessions.set(session.id, session);
    let set = this.users.get(session.user);
    if (!set) {
      set = new Set();
      this.users.set(session.user, set);
    }
    set.add(session);
  }

  removeSession(session: S): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    const set = this.users.get(session.user);
    if (set) {
      set.delete(session);
      if (set.size === 0) this.users.delete(session.user);
    }
  }

  session(id: string): S | undefined {
    return this.sessions.get(id);
  }

  /** Connections of one user on this node. */
  userSessions(user: string): S[] {
    return [...(this.users.get(user) ?? [])];
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Distinct users with at least one connection (anonymous connections count as one). */
  get userCount(): number {
    return this.users.size;
  }

  allSessions(): IterableIterator<S> {
    return this.sessions.values();
  }

  // ------------------------------------------------------------ subscriptions

  /**
   * Registers a subscription. From this call on it receives the channel's live
   * publications that reach this node; the promise resolves once the broker
   * subscription for the channel is in place (rejects if the broker fails).
   */
  subscribe(sub: HubSubscription): Promise<void> {
    let set = this.channels.get(sub.channel);
    if (!set) {
      set = new Set();
      this.channels.set(sub.channel, set);
      if (isInternal(sub.channel)) this.internalChannels++;
      this.ready.set(sub.channel, this.enqueueOp(sub.channel, () => this.broker.subscribe(sub.channel)));
    }
    set.add(sub);
    return this.ready.get(sub.channel)!;
  }

  /** Removes a subscription; the last one of a channel releases the broker subscription. */
  unsubscribe(sub: HubSubscription): void {
    const set = this.channels.get(sub.channel);
    if (!set || !set.delete(sub)) return;
    if (set.size > 0) return;
    this.channels.delete(sub.channel);
    if (isInternal(sub.channel)) this.internalChannels--;
    this.ready.delete(sub.channel);
    this.enqueueOp(sub.channel, () => this.broker.unsubscribe(sub.channel)).catch(() => {
      // A failed unsubscribe only costs unused deliveries, which the hub drops.
    });
  }

  subscriberCount(channel: string): number {
    return this.channels.get(channel)?.size ?? 0;
  }

  /** Channels with local subscribers, not counting internal ones (`$status:` follows). */
  get channelCount(): number {
    return this.channels.size - this.internalChannels;
  }

  /** Names of channels with local subscribers; internal channels are not listed (they would reveal who follows whom). */
  *channelNames(): IterableIterator<string> {
    for (const name of this.channels.keys()) if (!isInternal(name)) yield name;
  }

  // ------------------------------------------------------------ fan-out

  /**
   * Delivers a publication to every local subscriber of `channel`, encoding it once:
   * data the node already encoded when it was published (`ENCODED_DATA`) is not encoded again.
   */
  deliverPublication(channel: string, pub: EncodedPublication): void {
    const set = this.channels.get(channel);
    if (!set || set.size === 0) return;
    const frame = OutFrame.fromText(encodePublication(channel, pub, pub[ENCODED_DATA]));
    for (const sub of set) sub.deliver(pub, frame);
    this.deliveredTotal += set.size;
    this.onDelivered(set.size);
  }

  /** Delivers a control event to every local subscriber of `channel` (but the excluded user), encoding it once. */
  deliverControl(channel: string, event: ControlEvent): void {
    const set = this.channels.get(channel);
    if (!set || set.size === 0) return;
    const frame = OutFrame.fromText(encodeFrame(controlPush(channel, event)));
    const except = event.type === 'typing' ? event.exceptUser : undefined;
    for (const sub of set) if (sub.user !== except) sub.deliverControl(frame);
  }

  private enqueueOp(channel: string, op: () => Promise<void>): Promise<void> {
    const prev = this.ops.get(channel) ?? RESOLVED;
    const next = prev.then(op, op);
    this.ops.set(channel, next);
    const cleanup = () => {
      if (this.ops.get(channel) === next) this.ops.delete(channel);
    };
    next.then(cleanup, cleanup);
    return next;
  }
}

/** Internal channels carry node traffic such as status changes; client channel names cannot start with `$`. */
function isInternal(channel: string): boolean {
  return channel.charCodeAt(0) === 36; // '$'
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
      return { type: 'notification', notification: event.notification, unread: event.unread };
    case 'notification_update': {
      const push: Push = { type: 'notification_update', change: event.change, unread: event.unread };
      if (event.ids) push.ids = event.ids;
      if (event.all) push.all = true;
      return push;
    }
    case 'progress':
      return { type: 'progress', job: event.job };
  }
}
