/**
 * Node-local registry of sessions and channel subscribers, and local fan-out.
 *
 * The hub knows nothing of the engine. `cluster/channels.ts` adds and removes
 * subscribers here (hub first, then the engine) and hands it what the engine
 * delivers to this node. A publication is encoded once here and the same bytes go
 * to every local subscriber.
 */
import { encodeFrame, encodePublication, type Publication, type Push } from '@tidings/protocol';
import { OutFrame } from '../wire/out-frame.js';

/** One connection's subscription to one channel, as the hub sees it. */
export interface HubSubscription {
  readonly channel: string;
  /** The subscriber's user id (control events can skip the sender's own connections). */
  readonly user: string;
  /** The subscriber's connection id (a publication published `exceptClient` skips it); absent for node-internal subscribers. */
  readonly client?: string | undefined;
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

export class Hub<S extends HubSession = HubSession> {
  private readonly channels = new Map<string, Set<HubSubscription>>();
  private readonly sessions = new Map<string, S>();
  private readonly users = new Map<string, Set<S>>();
  /** Publications written to sockets (one per subscriber), for stats. */
  deliveredTotal = 0;
  private internalChannels = 0;

  constructor(
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
   * Registers a subscriber: from this call on it receives what reaches this node for its
   * channel. True when it is the channel's first (the caller then subscribes the engine).
   */
  add(sub: HubSubscription): boolean {
    const set = this.channels.get(sub.channel);
    if (set) {
      set.add(sub);
      return false;
    }
    this.channels.set(sub.channel, new Set([sub]));
    if (isInternal(sub.channel)) this.internalChannels++;
    return true;
  }

  /** Removes a subscriber. True when it was the channel's last (the caller then releases the engine subscription). */
  remove(sub: HubSubscription): boolean {
    const set = this.channels.get(sub.channel);
    if (!set || !set.delete(sub)) return false;
    if (set.size > 0) return false;
    this.channels.delete(sub.channel);
    if (isInternal(sub.channel)) this.internalChannels--;
    return true;
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
   * `json` is its data already encoded (when it was published), not encoded again.
   * `except`: the connection that does not get it (`exceptClient`); when the publication has an
   * offset, that connection gets `{type: 'publication', channel, offset, skip: true}` instead,
   * without data, so its offsets stay contiguous (the client SDK advances and emits nothing).
   */
  deliverPublication(channel: string, pub: Publication, json: string | undefined, except?: string): void {
    const set = this.channels.get(channel);
    if (!set || set.size === 0) return;
    const frame = OutFrame.fromText(encodePublication(channel, pub, json));
    let reached = set.size;
    if (except === undefined) {
      for (const sub of set) sub.deliver(pub, frame);
    } else {
      for (const sub of set) {
        if (sub.client !== except) {
          sub.deliver(pub, frame);
          continue;
        }
        reached--;
        if (pub.offset !== undefined) sub.deliver(pub, OutFrame.fromText(encodeFrame({ type: 'publication', channel, offset: pub.offset, skip: true } as Push)));
      }
    }
    this.deliveredTotal += reached;
    this.onDelivered(reached);
  }

  /** Delivers a control push to every local subscriber of `channel` (but `exceptUser`'s connections), encoding it once. */
  deliverControl(channel: string, push: Push, exceptUser: string | undefined): void {
    const set = this.channels.get(channel);
    if (!set || set.size === 0) return;
    const frame = OutFrame.fromText(encodeFrame(push));
    for (const sub of set) if (sub.user !== exceptUser) sub.deliverControl(frame);
  }
}

/** Internal channels carry node traffic such as status changes; client channel names cannot start with `$`. */
function isInternal(channel: string): boolean {
  return channel.charCodeAt(0) === 36; // '$'
}
