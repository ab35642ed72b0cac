/**
 * The rules of presence, user status, typing and status following.
 *
 * - Channel presence is per user, aggregated over connections; join/leave are
 *   announced at the edges only, and a leave (or going offline) waits out
 *   `presence.leaveGrace` so a page reload does not flap.
 * - Global status: online if any connection is online, away if all are away,
 *   offline after the grace period with none. Changes are published on the
 *   internal channel `$status:<user>`, which followers subscribe to.
 * - Typing reaches other users' connections, is throttled per connection and
 *   expires after `typing.timeout` unless refreshed.
 */
import { ErrorCode, isValidUserId, type ClientInfo, type PresenceResult, type PresenceStatus, type UserStatus } from '@tidings/protocol';
import type { ResolvedChannel } from '../auth/channel-policy.js';
import type { NamespaceConfig, TidingsConfig } from '../config/schema.js';
import type { ControlEvent } from '../engine/broker.js';
import type { TypingEntry } from '../engine/typing.js';
import type { UserStatusEntry } from '../engine/user-status.js';
import { TidingsError } from '../errors.js';
import type { ConnectionContext, Hooks } from '../hooks.js';
import type { HubSubscription } from '../hub/hub.js';
import type { OutFrame } from '../wire/out-frame.js';
import type { Logger } from '../log.js';
import type { WebhookEmitter } from '../webhook-events.js';
import { announceExpiries } from './presence-expiry.js';
import type { PresenceRefresh, PresenceState } from './presence-state.js';
import { presenceJoined, presenceLeft, userOffline, userOnline } from './presence-webhooks.js';
import { endTyping, startTyping, type TypingDeps, type TypingSlot } from './typing-throttle.js';

/** The internal channel carrying a user's status changes. Not a valid client channel name. */
export const statusChannel = (user: string): string => `$status:${user}`;

/** A subscription as presence sees it: its channel and the namespace settings. */
export interface PresenceChannel {
  readonly channel: string;
  readonly target: ResolvedChannel;
}

/**
 * What presence needs of a connection (the session is one): who it is, how it
 * appears to others, its subscriptions, and a way to push frames to it. What
 * presence remembers about it (status counted, follows, presence, typing) the
 * feature keeps itself, by client id.
 */
export interface PresenceMember {
  readonly id: string;
  /** Empty string for anonymous connections. */
  readonly user: string;
  readonly info: Record<string, unknown> | undefined;
  /** How this connection appears to others (publisher info, presence). */
  readonly clientInfo: ClientInfo;
  /** What hooks are told about the connection (`onFollow`). */
  readonly context: ConnectionContext;
  readonly request: { readonly remoteAddress: string };
  /** This connection's own status (`status` command); the user's status aggregates it. */
  status: PresenceStatus;
  /** True once the connection ended: nothing more is kept for it. */
  readonly closed: boolean;
  readonly subs: ReadonlyMap<string, PresenceChannel>;
  push(frame: OutFrame): void;
}

/** What the feature keeps of one connection in one subscription: presence, and typing (`typing-throttle.ts`). */
interface ChannelState extends TypingSlot {
  /** In the channel's presence (namespaces with presence). */
  inPresence: boolean;
}

/** What the feature keeps of one connection. */
interface MemberState {
  /** Counted in the user's global status (set once connect registered it). */
  statusTracked: boolean;
  /** Users whose status this connection follows (made at the first follow: most connections follow no one). */
  follows?: Map<string, StatusFollow>;
  /** Per subscription, by identity: a subscription that replaces another starts afresh. */
  channels?: Map<PresenceChannel, ChannelState>;
}

export interface PresenceFeatureDeps {
  config: TidingsConfig;
  log: Logger;
  /** Follows subscribe here (`cluster/channels.ts`: the hub first, then the engine). */
  channels: { subscribe(sub: HubSubscription): Promise<void>; unsubscribe(sub: HubSubscription): void };
  /** Control publications go through `cluster/channels.ts`. */
  control: { publishControl(channel: string, event: ControlEvent): Promise<void> };
  /** Presence, status and typing in the engine, through `cluster/presence-writes.ts`. */
  state: PresenceState;
  hooks: Hooks;
  limitHit(limit: string, details: { user?: string; client?: string; ip?: string }): void;
  /** A channel's namespace, for the leaves of users whose connections expired (none without it). */
  namespaceOf?(channel: string): NamespaceConfig | undefined;
  /** Presence and user status webhooks (`presence-webhooks.ts`); absent: none. */
  webhooks?: WebhookEmitter | undefined;
}

/** A connection following one user's status: an internal hub subscription, buffered until the follow reply is sent. */
export class StatusFollow implements HubSubscription {
  private held: OutFrame[] | null = [];

  constructor(
    private readonly session: PresenceMember,
    readonly followed: string,
  ) {}

  get channel(): string {
    return statusChannel(this.followed);
  }

  get user(): string {
    return this.session.user;
  }

  deliver(): void {
    // Status channels carry no publications.
  }

  deliverControl(frame: OutFrame): void {
    if (this.held) this.held.push(frame);
    else this.session.push(frame);
  }

  goLive(): void {
    const held = this.held;
    this.held = null;
    for (const e of held ?? []) this.session.push(e);
  }
}

export class PresenceFeature {
  private readonly timers = new Set<NodeJS.Timeout>();
  /** By client id; dropped when the connection closes. */
  private readonly members = new Map<string, MemberState>();

  constructor(private readonly deps: PresenceFeatureDeps) {}

  // ------------------------------------------------------------ connections and global status

  /** Registers a connected session in the user's status; throws `limit_exceeded` past `limits.connectionsPerUser`. */
  async connectionOpened(session: PresenceMember): Promise<void> {
    if (session.user === '') return;
    const limit = this.deps.config.limits.connectionsPerUser;
    const r = await this.deps.state.connect(session.user, session.id, session.status, session.info, limit);
    if (!r.accepted) this.deps.limitHit('connections_per_user', { user: session.user, client: session.id, ip: session.request.remoteAddress });
    if (!r.accepted) throw new TidingsError(ErrorCode.LimitExceeded, `user already has ${limit} connections (limits.connectionsPerUser)`);
    this.stateOf(session).statusTracked = true;
    if (r.changed) this.announceStatus(r.changed);
    if (r.cameOnline) userOnline(this.deps.webhooks, session.user, session.id, r.changed?.status ?? session.status);
  }

  /** Releases everything a closed session held: follows, typing, presence, status. */
  connectionClosed(session: PresenceMember): void {
    const state = this.members.get(session.id);
    if (!state) return;
    this.members.delete(session.id);
    for (const follow of state.follows?.values() ?? []) this.deps.channels.unsubscribe(follow);
    state.follows?.clear();
    if (!state.statusTracked) return;
    state.statusTracked = false;
    const user = session.user;
    this.background(async () => {
      const { lastConnection } = await this.deps.state.disconnect(user, session.id);
      if (!lastConnection) return;
      this.afterGrace(async () => {
        const offline = await this.deps.state.settleOffline(user);
        if (offline) this.announceStatus(offline);
        if (offline?.wentOffline) userOffline(this.deps.webhooks, offline, 'disconnected');
      });
    });
  }

  /** Sets one connection's status everywhere: global status and every presence channel it is in. */
  async setStatus(session: PresenceMember, status: PresenceStatus): Promise<void> {
    session.status = status;
    if (this.members.get(session.id)?.statusTracked) {
      const changed = await this.deps.state.setStatus(session.user, session.id, status);
      if (changed) this.announceStatus(changed);
    }
    await Promise.all(
      [...session.subs.values()].filter((sub) => this.peek(session, sub)?.inPresence).map(async (sub) => {
        const r = await this.deps.state.update(sub.channel, session.id, { status });
        if (r.changed && r.user) await this.control(sub.channel, { type: 'presence', user: r.user });
      }),
    );
  }

  // ------------------------------------------------------------ channel presence

  /**
   * Adds the connection to the channel's presence while its subscription still
   * buffers, announces a join at the user's edge, and returns for the subscribe
   * reply the snapshot the add itself produced: it includes the subscriber, and a
   * connection added after it is not in it but arrives as a join.
   */
  async enterChannel(session: PresenceMember, sub: PresenceChannel): Promise<PresenceResult | undefined> {
    const ns = sub.target.ns;
    if (!ns.presence) return undefined;
    const client = { ...session.clientInfo, status: session.status };
    const added = await this.deps.state.enter(sub.channel, client);
    this.channelState(session, sub).inPresence = true;
    if (added.userJoined) presenceJoined(this.deps.webhooks, sub.channel, session.clientInfo);
    if (added.userJoined && ns.joinLeave) await this.control(sub.channel, { type: 'join', info: session.clientInfo });
    // Another device of a user already here (an online tab beside an away one) can change the user's status.
    if (added.changed) await this.control(sub.channel, { type: 'presence', user: added.user });
    return added.snapshot;
  }

  /** Takes the connection out of the channel's presence; the user's leave follows after the grace period. */
  leaveChannel(session: PresenceMember, sub: PresenceChannel): void {
    const ch = this.peek(session, sub);
    if (!ch) return;
    this.members.get(session.id)?.channels?.delete(sub);
    this.background(() => this.endTyping(session, sub.channel, ch));
    if (!ch.inPresence) return;
    ch.inPresence = false;
    const { channel } = sub;
    const { joinLeave } = sub.target.ns;
    const info = session.clientInfo;
    this.background(async () => {
      const removed = await this.deps.state.leave(channel, session.id);
      if (removed.changed && removed.user) await this.control(channel, { type: 'presence', user: removed.user });
      if (!removed.lastClient) return;
      this.afterGrace(async () => {
        const left = await this.deps.state.settleLeave(channel, info.user);
        if (left) presenceLeft(this.deps.webhooks, channel, info, 'left');
        if (left && joinLeave) await this.control(channel, { type: 'leave', info });
      });
    });
  }

  /** Sets the connection's app-defined state in a channel (`null` clears). */
  async setState(session: PresenceMember, sub: PresenceChannel, state: unknown): Promise<void> {
    if (!this.peek(session, sub)?.inPresence) throw new TidingsError(ErrorCode.NotAvailable, 'presence is off in this namespace');
    const max = this.deps.config.presence.maxStateSize;
    const size = state === null ? 0 : Buffer.byteLength(JSON.stringify(state) ?? '');
    if (size > max) this.deps.limitHit('presence_state_size', { user: session.user, client: session.id });
    if (size > max) throw new TidingsError(ErrorCode.PayloadTooLarge, `presence state is ${size} bytes, more than presence.maxStateSize (${max})`);
    const r = await this.deps.state.update(sub.channel, session.id, { state });
    if (r.changed && r.user) await this.control(sub.channel, { type: 'presence', user: r.user });
  }

  // ------------------------------------------------------------ typing

  /** Applies a `typing` command: forwards starts at most once per `typing.throttle`, stops at once. */
  async typing(session: PresenceMember, sub: PresenceChannel, typing: boolean): Promise<void> {
    if (!typing) return this.stopTyping(session, sub);
    await startTyping(this.typingDeps, session, sub.channel, this.channelState(session, sub), () => this.background(() => this.stopTyping(session, sub)));
  }

  /** Ends the connection's typing in a channel (command, expiry, unsubscribe or disconnect). */
  async stopTyping(session: PresenceMember, sub: PresenceChannel): Promise<void> {
    const ch = this.peek(session, sub);
    if (ch) await this.endTyping(session, sub.channel, ch);
  }

  private endTyping(session: PresenceMember, channel: string, ch: ChannelState): Promise<void> {
    return endTyping(this.typingDeps, session, channel, ch);
  }

  private get typingDeps(): TypingDeps {
    return { config: this.deps.config, state: this.deps.state, control: (c, e) => this.control(c, e) };
  }

  // ------------------------------------------------------------ following statuses

  /**
   * Follows users' global statuses. Allowed for authenticated connections when
   * `status.follow` is `authenticated`; `onFollow` hooks may narrow the list or refuse.
   * Returns the current status of each user now followed.
   */
  async follow(session: PresenceMember, users: string[]): Promise<{ follows: StatusFollow[]; statuses: Record<string, UserStatus> }> {
    const { config, hooks, channels, state: engine } = this.deps;
    if (config.status.follow === 'none') throw new TidingsError(ErrorCode.PermissionDenied, 'following statuses is disabled (status.follow)');
    if (session.user === '') throw new TidingsError(ErrorCode.PermissionDenied, 'anonymous connections cannot follow statuses');
    const bad = users.find((u) => !isValidUserId(u));
    if (bad !== undefined) throw new TidingsError(ErrorCode.BadRequest, `follow.users: "${String(bad).slice(0, 64)}" is not a valid user id`);
    let allowed = [...new Set(users)];
    for (const hook of hooks.follow) {
      const narrowed = await hook({ ...session.context, users: allowed });
      if (Array.isArray(narrowed)) allowed = allowed.filter((u) => narrowed.includes(u));
    }
    const held = (this.stateOf(session).follows ??= new Map());
    const fresh = allowed.filter((u) => !held.has(u));
    if (held.size + fresh.length > config.status.maxFollows) {
      this.deps.limitHit('max_follows', { user: session.user, client: session.id });
      throw new TidingsError(ErrorCode.LimitExceeded, `a connection may follow at most ${config.status.maxFollows} users (status.maxFollows)`);
    }
    const follows = fresh.map((u) => new StatusFollow(session, u));
    for (const f of follows) held.set(f.followed, f);
    await Promise.all(follows.map((f) => channels.subscribe(f)));
    const entries = await Promise.all(allowed.map((u) => engine.status(u)));
    // No prototype: a user named `__proto__` is an entry like any other, not the object's prototype.
    const statuses: Record<string, UserStatus> = Object.create(null);
    for (const e of entries) statuses[e.user] = publicStatus(e);
    return { follows, statuses };
  }

  unfollow(session: PresenceMember, users: string[]): void {
    const state = this.members.get(session.id);
    if (!state) return;
    for (const u of users) {
      const f = state.follows?.get(u);
      if (!f) continue;
      state.follows?.delete(u);
      this.deps.channels.unsubscribe(f);
    }
  }

  // ------------------------------------------------------------ upkeep and reads

  /** Keeps this node's entries alive in the engine (their TTL exists for nodes that die), all in one batch. */
  refresh(sessions: Iterable<PresenceMember>): void {
    const batch: PresenceRefresh = { presence: [], status: [], typing: [] };
    const { timeout, throttle } = this.deps.config.typing;
    for (const session of sessions) {
      const state = this.members.get(session.id);
      if (!state) continue;
      if (state.statusTracked) batch.status.push({ user: session.user, client: session.id });
      for (const sub of session.subs.values()) {
        const ch = state.channels?.get(sub);
        if (ch?.inPresence) batch.presence.push({ channel: sub.channel, client: { ...session.clientInfo, status: session.status } });
        if (ch?.typingSince !== undefined) batch.typing.push({ channel: sub.channel, user: session.user, info: session.info, ttlMs: timeout + throttle });
      }
    }
    this.background(() => this.deps.state.refresh(batch));
  }

  /** Announces what expiry did in the engine (connections of nodes that died): `presence-expiry.ts`. */
  sweepExpired(): void {
    this.background(() => announceExpiries({ ...this.deps, control: (c, e) => this.control(c, e), announceStatus: (e) => this.announceStatus(e) }));
  }

  async typingUsers(channel: string): Promise<TypingEntry[]> {
    return this.deps.state.typingUsers(channel);
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** What is kept for a connection, made on first use; a closed connection's is not kept. */
  private stateOf(member: PresenceMember): MemberState {
    let state = this.members.get(member.id);
    if (!state) {
      state = { statusTracked: false };
      if (!member.closed) this.members.set(member.id, state);
    }
    return state;
  }

  private channelState(member: PresenceMember, sub: PresenceChannel): ChannelState {
    const channels = (this.stateOf(member).channels ??= new Map());
    let ch = channels.get(sub);
    if (!ch) {
      ch = { inPresence: false, typingSince: undefined, typingForwardedAt: 0, typingTimer: undefined };
      channels.set(sub, ch);
    }
    return ch;
  }

  private peek(member: PresenceMember, sub: PresenceChannel): ChannelState | undefined {
    return this.members.get(member.id)?.channels?.get(sub);
  }

  private announceStatus(entry: UserStatusEntry): void {
    this.background(() => this.control(statusChannel(entry.user), { type: 'status', user: entry.user, ...publicStatus(entry) }));
  }

  private control(channel: string, event: ControlEvent): Promise<void> {
    return this.deps.control.publishControl(channel, event);
  }

  private afterGrace(work: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.background(work);
    }, this.deps.config.presence.leaveGrace);
    timer.unref();
    this.timers.add(timer);
  }

  /** Runs engine work nobody waits for; failures are logged, never thrown into a socket handler. */
  private background(work: () => Promise<unknown>): void {
    work().catch((err) => this.deps.log.error({ err }, 'presence work failed'));
  }
}

/** The status a client may see: no connection count, no info. */
export function publicStatus(entry: UserStatusEntry): UserStatus {
  return entry.lastSeen !== undefined ? { status: entry.status, lastSeen: entry.lastSeen } : { status: entry.status };
}
