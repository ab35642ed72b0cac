/**
 * The demo backend's API (apps/demo/server/routes.js) as the browser sees it: types of
 * its data, the signed-in session, and `api()` which sends the session's token.
 */

export type TaskStatus = 'todo' | 'doing' | 'done';
export const STATUSES: readonly TaskStatus[] = ['todo', 'doing', 'done'];
export const STATUS_LABELS: Record<TaskStatus, string> = { todo: 'To do', doing: 'In progress', done: 'Done' };
export const REACTIONS = ['👍', '❤️', '⭐', '👀'] as const;

export interface Person {
  id: string;
  name: string;
}

export interface Task {
  id: string;
  title: string;
  description: string;
  status: TaskStatus;
  createdBy: Person;
  createdAt: number;
  updatedAt: number;
  /** Grows with each change: of two copies, the higher version is the newer. */
  version: number;
  summary?: string;
}

/** What the backend publishes on `feed:board`. */
export type BoardEvent = { kind: 'task'; task: Task } | { kind: 'deleted'; taskId: string };

export const BOARD_CHANNEL = 'feed:board';
export const ACTIVITY_SCOPE = 'board';
/** A task's channel: who is viewing it (presence) and who is typing a comment. */
export const taskChannel = (id: string) => `task:${id}`;
/** A task's comments: messages with replies, edits, deletes, reactions and read receipts (comments-data.ts). */
export const commentsChannel = (id: string) => `comments:${id}`;
export const summaryJobId = (taskId: string) => `summary-${taskId}`;

export interface Session {
  user: string;
  name: string;
  token: string;
}

/** Pages live under the base Vite was built with (`/demo/`). */
export const BASE = import.meta.env.BASE_URL.replace(/\/$/, '');
const SESSION_KEY = 'tidings-demo:session';

/** An error answer of the backend. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The session of this browser profile (shared by its tabs), if signed in. */
export function storedSession(): Session | null {
  try {
    const value = JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null') as Partial<Session> | null;
    return value && typeof value.user === 'string' && typeof value.name === 'string' && typeof value.token === 'string' ? (value as Session) : null;
  } catch {
    return null;
  }
}

export function forgetSession(): void {
  localStorage.removeItem(SESSION_KEY);
}

async function request<T>(method: string, path: string, body: unknown, token: string | undefined): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${BASE}/api${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  let value: unknown;
  try {
    value = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(res.status, 'bad_response', `the demo backend answered ${res.status} without JSON${res.status === 404 ? ' (is this `tidings dev`?)' : ''}`);
  }
  if (!res.ok) {
    const error = (value as { error?: { code?: string; message?: string } }).error;
    throw new ApiError(res.status, error?.code ?? 'error', error?.message ?? `request failed with ${res.status}`);
  }
  return value as T;
}

/** Signs in as `name` (dev mode only: the endpoint does not exist under `tidings serve`) and keeps the session. */
export async function signIn(name: string): Promise<Session> {
  const session = await request<Session>('POST', '/sign-in', { name }, undefined);
  const kept: Session = { user: session.user, name: session.name, token: session.token };
  localStorage.setItem(SESSION_KEY, JSON.stringify(kept));
  return kept;
}

/** Sign-in again with the same name, for a token that expired (the dev backend keeps no passwords). */
export async function renewSession(): Promise<Session | null> {
  const current = storedSession();
  return current ? signIn(current.name) : null;
}

/** Where the browser connects to Tidings. */
export function connectionConfig(): Promise<{ websocketPath: string; httpPath: string }> {
  return request('GET', '/config', undefined, undefined);
}

/** Calls the backend as the signed-in user; an expired token is renewed once. */
export async function api<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const session = storedSession();
  if (!session) throw new ApiError(401, 'unauthorized', 'not signed in');
  try {
    return await request<T>(method, path, body, session.token);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
    const renewed = await renewSession();
    if (!renewed) throw err;
    return request<T>(method, path, body, renewed.token);
  }
}

/** Seconds until a JWT expires (Infinity without `exp`, 0 when unreadable). */
export function tokenLifetime(token: string): number {
  try {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: number };
    return payload.exp === undefined ? Infinity : payload.exp - Date.now() / 1000;
  } catch {
    return 0;
  }
}
