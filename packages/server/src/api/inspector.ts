/**
 * Read-only views of a node for the server API, the library and (later) the
 * dashboard: channels, presence, user status, connections, stats and health.
 */
import { ErrorCode, type PresenceResult } from '@tidings/protocol';
import type { ChannelPolicy } from '../auth/channel-policy.js';
import type { ClusterNodes } from '../cluster/nodes.js';
import type { PresenceReads } from '../cluster/presence-reads.js';
import type { UserStatusEntry } from '../engine/user-status.js';
import { TidingsError } from '../errors.js';
import { publicStatus, type PresenceFeature } from '../features/presence.js';
import type { Hub } from '../hub/hub.js';
import type { Counters } from '../session/services.js';
import type { Session } from '../session/session.js';
import { VERSION } from '../version.js';
import { mergeChannelPages, mergeStats, type ChannelListing, type NodeFigures, type NodeStats } from './deployment-stats.js';

export type { ChannelListing, NodeFigures, NodeStats };

/** One connection, as `GET /api/v1/connections` and the dashboard show it. */
export interface ConnectionListing {
  client: string;
  /** The node the connection is on. */
  node: string;
  user: string;
  transport: string;
  /** Client IP (from the socket, or X-Forwarded-For through a trusted proxy). */
  ip: string;
  userAgent?: string;
  connectedAt: string;
  subscriptions: number;
  status: string;
}

/** A user's global status as the API shows it: ISO `lastSeen`, null when never seen. */
export interface ApiUserStatus {
  userId: string;
  info?: Record<string, unknown>;
  isOnline: boolean;
  status: string;
  lastSeen: string | null;
}

/** A live node of the deployment, as `GET /api/v1/nodes` shows it. */
export interface NodeListing {
  id: string;
  pid: number;
  host: string;
  startedAt: string;
  connections: number;
  lastHeartbeat: string;
  [extra: string]: unknown;
}

export interface NodeHealth {
  status: 'healthy' | 'shutting_down';
  timestamp: string;
  stats: { connectedSockets: number; onlineUsers: number; activeRooms: number };
}

export interface InspectorDeps {
  nodeId: string;
  policy: ChannelPolicy;
  hub: Hub<Session>;
  /** Presence and user status, read through `cluster/`. */
  presence: PresenceReads;
  presenceFeature: PresenceFeature;
  counters: Counters;
  closing(): boolean;
  /** The deployment's nodes: listings are asked of each and merged. */
  nodes: ClusterNodes;
}

const LIST_CONNECTIONS = 'inspect.connections';
const LIST_CHANNELS = 'inspect.channels';
const COUNT_SUBSCRIBERS = 'inspect.subscribers';
const STATS = 'inspect.stats';
type ChannelQuery = { prefix?: string; limit?: number; cursor?: string | undefined };
type ConnectionQuery = { user?: string; cursor?: string; limit?: number };

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new TidingsError(ErrorCode.BadRequest, 'limit: expected integer 1..1000');
}

const byId = <T extends { id: string }>(a: T, b: T) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class NodeInspector {
  private readonly startedAt = Date.now();
  private readonly rates = { inPerSecond: 0, outPerSecond: 0, lastIn: 0, lastOut: 0 };
  private readonly rateTimer: NodeJS.Timeout;

  constructor(private readonly deps: InspectorDeps) {
    this.rateTimer = setInterval(() => this.sampleRates(), 1000);
    this.rateTimer.unref();
    deps.nodes.router.handle(LIST_CONNECTIONS, (m) => {
      const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
      const [user, cursor] = [str(m.user), str(m.cursor)];
      return this.localConnections({ limit: Number(m.limit), ...(user !== undefined ? { user } : {}), ...(cursor !== undefined ? { cursor } : {}) });
    });
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    deps.nodes.router.handle(LIST_CHANNELS, (m) => this.localChannels({ prefix: str(m.prefix) ?? '', limit: Number(m.limit), cursor: str(m.cursor) }));
    deps.nodes.router.handle(COUNT_SUBSCRIBERS, (m) => (typeof m.channel === 'string' ? deps.hub.subscriberCount(m.channel) : 0));
    deps.nodes.router.handle(STATS, () => this.localStats());
  }

  /** Channels with subscribers on any node, sorted by name, paginated; `subscribers` counts them on every node. */
  async channels(query: ChannelQuery = {}): Promise<ChannelListing> {
    const limit = query.limit ?? 100;
    checkLimit(limit);
    const message = { type: LIST_CHANNELS, prefix: query.prefix ?? '', limit, ...(query.cursor !== undefined ? { cursor: query.cursor } : {}) };
    return mergeChannelPages((await this.deps.nodes.askAll(message)).map((a) => a.value), limit);
  }

  /** Channels with subscribers on this node, sorted by name, paginated. */
  private localChannels(query: ChannelQuery): ChannelListing {
    const { hub } = this.deps;
    const prefix = query.prefix ?? '';
    const limit = query.limit ?? 100;
    checkLimit(limit);
    const names = [...hub.channelNames()].filter((c) => c.startsWith(prefix) && (query.cursor === undefined || c > query.cursor)).sort();
    const page = names.slice(0, limit);
    const listing: ChannelListing = { channels: page.map((channel) => ({ channel, subscribers: hub.subscriberCount(channel) })) };
    if (names.length > limit) listing.nextCursor = page[page.length - 1]!;
    return listing;
  }

  /** Subscribers (on every node), presence and typing of one channel, with the field names task-viewer UIs already use. */
  async channelInfo(channel: string): Promise<Record<string, unknown>> {
    const target = this.deps.policy.resolve(channel);
    const counts = await this.deps.nodes.askAll({ type: COUNT_SUBSCRIBERS, channel: target.channel });
    const subscribers = counts.reduce((n, a) => n + (typeof a.value === 'number' ? a.value : 0), 0);
    const info: Record<string, unknown> = { channel: target.channel, subscribers };
    if (target.ns.presence) {
      const presence = await this.presenceOf(target.channel);
      // Anonymous viewers count in subscribers and presence, not as users.
      const viewing = presence.users.filter((u) => u.user !== '');
      info.presence = presence;
      info.viewingUsers = viewing.map((u) => ({
        userId: u.user,
        ...(u.info ? { info: u.info } : {}),
        status: u.status,
        lastSeen: new Date(u.lastSeen).toISOString(),
        ...(u.state !== undefined ? { state: u.state } : {}),
        clients: u.clients,
      }));
      info.totalViewing = viewing.length;
    }
    if (target.ns.typing) {
      const typing = await this.deps.presenceFeature.typingUsers(target.channel);
      info.typingUsers = typing.map((t) => t.user).sort();
    }
    return info;
  }

  /** Presence of a channel: connections by id and users aggregated. */
  async presenceOf(channel: string): Promise<PresenceResult> {
    const target = this.deps.policy.resolve(channel);
    if (!target.ns.presence) throw new TidingsError(ErrorCode.NotAvailable, 'presence is off in this namespace');
    return this.deps.presence.of(target.channel);
  }

  async userStatusOf(user: string): Promise<ApiUserStatus> {
    return apiUserStatus(await this.deps.presence.status(user));
  }

  /** Online and away users, sorted by id, paginated. */
  async onlineUsers(query: { cursor?: string; limit?: number } = {}): Promise<{ count: number; users: ApiUserStatus[]; nextCursor?: string }> {
    const limit = query.limit ?? 100;
    checkLimit(limit);
    const { page, count } = await this.deps.presence.online({ limit, ...(query.cursor !== undefined ? { cursor: query.cursor } : {}) });
    const out: { count: number; users: ApiUserStatus[]; nextCursor?: string } = { count, users: page.users.map(apiUserStatus) };
    if (page.nextCursor !== undefined) out.nextCursor = page.nextCursor;
    return out;
  }

  /** Connected sessions on every node (each names its node), sorted by id, paginated; optionally one user's only. */
  async listConnections(query: ConnectionQuery = {}): Promise<{ connections: ConnectionListing[]; nextCursor?: string }> {
    const limit = query.limit ?? 100;
    checkLimit(limit);
    // Each node answers its first `limit` after the cursor; the merged first `limit` are the page.
    const answers = await this.deps.nodes.askAll({ type: LIST_CONNECTIONS, ...query, limit });
    const all = answers.flatMap((a) => (a.value as { connections?: ConnectionListing[] } | undefined)?.connections ?? []);
    all.sort((a, b) => (a.client < b.client ? -1 : a.client > b.client ? 1 : 0));
    const page = all.slice(0, limit);
    const more = all.length > limit || answers.some((a) => (a.value as { nextCursor?: string } | undefined)?.nextCursor !== undefined);
    return more && page.length > 0 ? { connections: page, nextCursor: page[page.length - 1]!.client } : { connections: page };
  }

  /** Live nodes of the deployment, sorted by id. */
  async nodes(): Promise<NodeListing[]> {
    const iso = (ms: number) => new Date(ms).toISOString();
    return (await this.deps.nodes.nodes()).map((n) => ({ ...n, startedAt: iso(n.startedAt), lastHeartbeat: iso(n.lastHeartbeat) }));
  }

  /** This node's connected sessions, sorted by id, paginated; optionally one user's only. */
  private localConnections(query: ConnectionQuery): { connections: ConnectionListing[]; nextCursor?: string } {
    const limit = query.limit ?? 100;
    checkLimit(limit);
    const { hub, nodeId } = this.deps;
    const sessions = (query.user !== undefined ? hub.userSessions(query.user) : [...hub.allSessions()])
      .filter((s) => query.cursor === undefined || s.id > query.cursor)
      .sort(byId);
    const page = sessions.slice(0, limit);
    const out: { connections: ConnectionListing[]; nextCursor?: string } = { connections: page.map((s) => connectionListing(s, nodeId)) };
    if (sessions.length > limit) out.nextCursor = page[page.length - 1]!.id;
    return out;
  }

  health(): NodeHealth {
    const { hub } = this.deps;
    return {
      status: this.deps.closing() ? 'shutting_down' : 'healthy',
      timestamp: new Date().toISOString(),
      stats: { connectedSockets: hub.sessionCount, onlineUsers: this.localUserCount(), activeRooms: hub.channelCount },
    };
  }

  /** The deployment's stats: every node asked, figures summed, each node's own under `nodes`. */
  async stats(): Promise<NodeStats> {
    const own = this.localStats();
    const [answers, users] = await Promise.all([this.deps.nodes.askAll({ type: STATS }), this.deps.presence.users()]);
    return mergeStats(own, answers.map((a) => a.value), { connectedUsers: users.connected, totalUsers: users.known });
  }

  /** This node's own figures. */
  private localStats(): NodeFigures {
    const { hub, counters } = this.deps;
    return {
      nodeId: this.deps.nodeId,
      version: VERSION,
      uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
      connectedSockets: hub.sessionCount,
      onlineUsers: this.localUserCount(),
      activeRooms: hub.channelCount,
      publicationsInPerSecond: this.rates.inPerSecond,
      publicationsOutPerSecond: this.rates.outPerSecond,
      publicationsInTotal: counters.publicationsIn,
      publicationsOutTotal: hub.deliveredTotal,
      connectsTotal: counters.connectsTotal,
      disconnectsTotal: counters.disconnectsTotal,
      badRequestsTotal: counters.badRequests,
      slowDisconnectsTotal: counters.slowDisconnects,
      memoryRssBytes: process.memoryUsage.rss(),
      heapUsedBytes: process.memoryUsage().heapUsed,
    };
  }

  /** Gauges for metrics: connections, users, subscriptions and channels on this node. */
  gauges(): { connections: number; users: number; subscriptions: number; channels: number } {
    const { hub } = this.deps;
    let subscriptions = 0;
    for (const s of hub.allSessions()) subscriptions += s.subs.size;
    return { connections: hub.sessionCount, users: this.localUserCount(), subscriptions, channels: hub.channelCount };
  }

  close(): void {
    clearInterval(this.rateTimer);
  }

  /** Users with a connection on this node, not counting anonymous ones. */
  private localUserCount(): number {
    const { hub } = this.deps;
    return hub.userCount - (hub.userSessions('').length > 0 ? 1 : 0);
  }

  private sampleRates(): void {
    const r = this.rates;
    const { counters, hub } = this.deps;
    r.inPerSecond = counters.publicationsIn - r.lastIn;
    r.outPerSecond = hub.deliveredTotal - r.lastOut;
    r.lastIn = counters.publicationsIn;
    r.lastOut = hub.deliveredTotal;
  }
}

function connectionListing(s: Session, node: string): ConnectionListing {
  const ua = s.request.headers['user-agent'];
  return {
    client: s.id,
    node,
    user: s.user,
    transport: s.transport.kind,
    ip: s.request.remoteAddress,
    ...(typeof ua === 'string' ? { userAgent: ua } : {}),
    connectedAt: new Date(s.connectedAt).toISOString(),
    subscriptions: s.subs.size,
    status: s.status,
  };
}

/** Seed-style status body: userId, isOnline, status, lastSeen as ISO time. */
function apiUserStatus(entry: UserStatusEntry): ApiUserStatus {
  const s = publicStatus(entry);
  return {
    userId: entry.user,
    ...(entry.info ? { info: entry.info } : {}),
    isOnline: s.status !== 'offline',
    status: s.status,
    lastSeen: s.lastSeen !== undefined ? new Date(s.lastSeen).toISOString() : null,
  };
}
