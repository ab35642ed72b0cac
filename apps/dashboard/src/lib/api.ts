/**
 * HTTP calls of the dashboard: its own session endpoints under /dashboard/api, and the
 * server API under /api/v1, which accepts the session cookie as an admin key when the
 * request also carries `X-Tidings-Dashboard: 1` (a header a cross-site form cannot send).
 *
 * The admin key itself only ever travels in the body of `signIn()`; it is not kept.
 */
import type { Activity, HistoryResult, Notification, NotificationPriority, NotificationType, PresenceResult, PresenceStatus } from '@tidings/protocol';
import type { ApiUserStatus, AuditEvent, AuditRecord, ChannelListing, ConnectionListing } from '@tidings/server';

/** Where the dashboard is served; its API sits beside it. */
export const BASE = import.meta.env.BASE_URL.replace(/\/$/, '');
const DASHBOARD_API = `${BASE}/api`;
const SERVER_API = '/api/v1';
/** The server API's OpenAPI document (no key needed), linked from the header. */
export const OPENAPI_URL = `${SERVER_API}/openapi.json`;

/** An error answer of the server (or a network failure, code `network`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds, from `Retry-After` on 429. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Called when a server API call finds the session gone (401), so the app can go back to sign-in. */
let onUnauthorized: (() => void) | undefined;
export function setUnauthorizedHandler(handler: (() => void) | undefined): void {
  onUnauthorized = handler;
}

async function request<T>(url: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set('x-tidings-dashboard', '1');
  headers.set('accept', 'application/json');
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  let res: Response;
  try {
    res = await fetch(url, { ...init, body, headers, credentials: 'same-origin', cache: 'no-store' });
  } catch (err) {
    throw new ApiError(0, 'network', `Cannot reach the server (${(err as Error).message})`);
  }
  if (res.status === 204) return undefined as T;
  let payload: { data?: T; error?: { code?: string; message?: string } } | undefined;
  try {
    payload = (await res.json()) as typeof payload;
  } catch {
    payload = undefined;
  }
  if (!res.ok || payload?.error) {
    const retry = Number(res.headers.get('retry-after'));
    throw new ApiError(
      res.status,
      payload?.error?.code ?? `http_${res.status}`,
      payload?.error?.message ?? `${res.status} ${res.statusText || 'error'}`,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
    );
  }
  return payload?.data as T;
}

// ---------------------------------------------------------------- dashboard session

export interface Me {
  /** Id of the API key that signed in, or `dev` for a sign-in link. */
  name: string;
  /** When the session ends, ms since the epoch. */
  expiresAt: number;
}

/** The current session, or null when signed out. */
export async function fetchMe(): Promise<Me | null> {
  try {
    return await request<Me>(`${DASHBOARD_API}/me`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export function signIn(key: string): Promise<Me> {
  return request<Me>(`${DASHBOARD_API}/session`, { method: 'POST', json: { key } });
}

export function signOut(): Promise<void> {
  return request<void>(`${DASHBOARD_API}/session`, { method: 'DELETE' });
}

/** A connection token for the dashboard's own Tidings client; null once signed out. */
export async function fetchConnectionToken(): Promise<string | null> {
  try {
    return (await request<{ token: string; expiresIn: number }>(`${DASHBOARD_API}/token`)).token;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      onUnauthorized?.();
      return null;
    }
    throw err;
  }
}

// ---------------------------------------------------------------- server API

/** Percent-encodes a channel name or user id for a path segment (they may hold `#`, `,`, `|`). */
export const seg = (s: string) => encodeURIComponent(s);

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function server<T>(path: string, init?: RequestInit & { json?: unknown }): Promise<T> {
  try {
    return await request<T>(`${SERVER_API}${path}`, init);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) onUnauthorized?.();
    throw err;
  }
}

// Shapes the server exports are imported as types only: nothing of the server's runtime
// reaches the bundle. The rest mirror server-side shapes that @tidings/server does not export.

/** One user of a channel's presence, as `GET /channels/:channel` lists it (built in the server's NodeInspector.channelInfo). */
export interface ViewingUser {
  userId: string;
  info?: Record<string, unknown>;
  status: PresenceStatus;
  /** ISO 8601. */
  lastSeen: string;
  state?: unknown;
  clients: number;
}

/** `GET /channels/:channel` (the server types it as a record: NodeInspector.channelInfo). */
export interface ChannelInfo {
  channel: string;
  subscribers: number;
  presence?: PresenceResult;
  viewingUsers?: ViewingUser[];
  totalViewing?: number;
  typingUsers?: string[];
}

export type { AuditRecord };

/** One live node of `GET /nodes` (a worker of `tidings serve --workers`), as its heartbeats report it. */
export interface NodeListing {
  id: string;
  pid: number;
  host: string;
  /** ISO 8601. */
  startedAt: string;
  connections: number;
  /** ISO 8601. */
  lastHeartbeat: string;
  /** The node's engine (`memory`, `redis`), when it says. */
  engine?: string;
  /** An engine with a server (Redis): round trips' p50 and p99 over the last 10 s, in ms (absent without any). */
  engineP50Ms?: number;
  engineP99Ms?: number;
  /** Its failures and reconnects since the node started, and the pub/sub channels it holds now. */
  engineErrors?: number;
  engineReconnects?: number;
  enginePubsubChannels?: number;
  /** Extras a node reports (`nodeInfo`: worker index, role). */
  [extra: string]: unknown;
}

/** What the `terminal` choice of a disconnect sends: 4503 (stay away) or the default 4005 (come back). */
function disconnectBody(terminal: boolean): { terminal?: true; reason?: string } {
  return terminal ? { terminal: true, reason: 'disconnected by an admin' } : {};
}

/** A webhook given up on, as `GET /webhooks/dead` lists it (the server's OutboxRow). */
export interface DeadLetter {
  seq: number;
  eventId: string;
  endpoint: string;
  type: string;
  orderKey: string;
  payload: string;
  createdAt: number;
  attempts: number;
  lastStatus?: number;
  lastError?: string;
  /** When it went dead. */
  finishedAt?: number;
}

export const AUDIT_TYPES = ['connect', 'disconnect', 'auth_failure', 'limit_hit', 'api_call'] as const satisfies readonly AuditEvent['type'][];

export const api = {
  channels: (p: { prefix?: string; limit?: number; cursor?: string }) =>
    server<ChannelListing>(`/channels${query(p)}`),
  channel: (channel: string) => server<ChannelInfo>(`/channels/${seg(channel)}`),
  history: (channel: string, limit = 20) =>
    server<HistoryResult>(`/channels/${seg(channel)}/history${query({ limit, reverse: true })}`),
  publish: (channel: string, data: unknown) => server<{ offset?: number; epoch?: string }>('/publish', { method: 'POST', json: { channel, data } }),
  onlineUsers: (p: { limit?: number; cursor?: string } = {}) =>
    server<{ count: number; users: ApiUserStatus[]; nextCursor?: string }>(`/users/online${query(p)}`),
  connections: (p: { user?: string; limit?: number; cursor?: string } = {}) => {
    // `user=` (empty) means anonymous connections, so it is kept when given.
    const q = new URLSearchParams();
    if (p.user !== undefined) q.set('user', p.user);
    if (p.limit !== undefined) q.set('limit', String(p.limit));
    if (p.cursor) q.set('cursor', p.cursor);
    const s = q.toString();
    return server<{ connections: ConnectionListing[]; nextCursor?: string }>(`/connections${s ? `?${s}` : ''}`);
  },
  /** Closes every connection of `user`, on every node. */
  disconnectUser: (user: string, terminal: boolean) =>
    server<{ disconnected: number }>(`/users/${seg(user)}/disconnect`, { method: 'POST', json: disconnectBody(terminal) }),
  /** Closes one connection; 404 `not_found` once it is gone. */
  disconnectConnection: (client: string, terminal: boolean) =>
    server<{ disconnected: number }>(`/connections/${seg(client)}/disconnect`, { method: 'POST', json: disconnectBody(terminal) }),
  notify: (body: { user: string; type: NotificationType; title: string; message?: string; priority?: NotificationPriority }) =>
    server<{ notifications: Notification[]; deduplicated: boolean }>('/notify', { method: 'POST', json: body }),
  notifications: (user: string, limit = 20) =>
    server<{ notifications: Notification[]; nextCursor?: string; unread: number; total: number }>(`/users/${seg(user)}/notifications${query({ limit })}`),
  activity: (p: { scope?: string; limit?: number; cursor?: string } = {}) =>
    server<{ activities: Activity[]; nextCursor?: string }>(`/activity${query({ scope: 'global', ...p })}`),
  nodes: () => server<{ nodes: NodeListing[] }>('/nodes'),
  audit: (p: { user?: string; type?: string; since?: number; until?: number; limit?: number; cursor?: string }) =>
    server<{ events: AuditRecord[]; nextCursor?: string }>(`/audit${query(p)}`),
  webhookStats: () => server<{ pending: number; dead: number; oldestPendingAt?: number }>('/webhooks/stats'),
  deadLetters: (p: { endpoint?: string; limit?: number; cursor?: string } = {}) =>
    server<{ deadLetters: DeadLetter[]; nextCursor?: string }>(`/webhooks/dead${query(p)}`),
  /** Sends dead letters again: these seqs, or all of them (of one endpoint). */
  replayWebhooks: (which: { seqs: number[] } | { all: true; endpoint?: string }) =>
    server<{ replayed: number }>('/webhooks/dead/replay', { method: 'POST', json: which }),
};
