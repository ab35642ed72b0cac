/**
 * In-process hooks of the library API. Each may be async; throwing a
 * `TidingsError` rejects the action with that error code (any other error
 * becomes `internal`), throwing a `HookDisconnect` closes the connection.
 * Proxy hooks (proxy/, docs/proxy.md) are hooks of the same kinds built from the
 * configuration, so both run through one path with the same semantics.
 */
import type { TransportKind } from './transport/transport.js';

export interface ConnectionContext {
  /** Connection id. */
  client: string;
  /** User id; empty for anonymous connections (and, in a connect hook, for connections without a token). */
  user: string;
  info?: Record<string, unknown>;
  roles: readonly string[];
  transport: TransportKind;
  remoteAddress: string;
  /** Client name and version from the connect command. */
  name?: string;
  version?: string;
  /** Headers of the client's HTTP request (WebSocket upgrade, or the HTTP transport's open), lower-cased. */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
}

export interface ConnectResultOverride {
  /** Sets the connection's user (a connect without a token: the hook authenticates it, from a cookie say). */
  user?: string;
  /** Replaces the connection's info (shown to others in presence and as publisher info). */
  info?: Record<string, unknown>;
  /** Extra server-side subscriptions for this connection. */
  channels?: string[];
  /** Expiry of the connection, ms since the epoch: the `onRefresh` hooks then extend it (or it closes with 4003). */
  expiresAt?: number;
  /** Sent to the client in the connect reply, as `data`. */
  data?: unknown;
}

export interface ConnectHookOptions {
  /** The hook may decide the user of a connection without a token (returning `user`), even with `auth.allowAnonymous` off. Default false. */
  authenticates?: boolean;
  /** The hook also runs for connections with a verified token. Default true. */
  withToken?: boolean;
}

/** Context of `onSubscribe`, which runs for client subscribes only: server-side subscriptions are decided by the backend already. */
export interface SubscribeContext extends ConnectionContext {
  channel: string;
}

export interface SubscribeOverride {
  /** The subscription's info, returned in the subscribe reply as `info`. */
  info?: Record<string, unknown>;
  /** Expiry of the subscription, ms since the epoch: the `onSubRefresh` hooks then extend it (or the subscription ends). */
  expiresAt?: number;
}

export interface PublishContext extends ConnectionContext {
  channel: string;
  data: unknown;
}

export interface PublishOverride {
  /** Replaces the published data. */
  data: unknown;
}

/** What a refresh hook answers: a new expiry (ms since the epoch), or that the connection or subscription expired. */
export interface RefreshOverride {
  expiresAt?: number;
  expired?: boolean;
  /** Replaces the connection's info (connection refresh only). */
  info?: Record<string, unknown>;
}

export interface RpcContext extends ConnectionContext {
  method: string;
  data: unknown;
}

export interface DisconnectContext extends ConnectionContext {
  code: number;
  reason: string;
}

export type ConnectHook = (ctx: ConnectionContext) => void | ConnectResultOverride | Promise<void | ConnectResultOverride>;
export type SubscribeHook = (ctx: SubscribeContext) => void | SubscribeOverride | Promise<void | SubscribeOverride>;
export type PublishHook = (ctx: PublishContext) => void | PublishOverride | Promise<void | PublishOverride>;
/** Runs when a connection whose expiry a connect hook set reaches it. */
export type RefreshHook = (ctx: ConnectionContext) => void | RefreshOverride | Promise<void | RefreshOverride>;
/** Runs when a subscription whose expiry a subscribe hook set reaches it. */
export type SubRefreshHook = (ctx: SubscribeContext) => void | RefreshOverride | Promise<void | RefreshOverride>;
export type RpcHandler = (ctx: RpcContext) => unknown | Promise<unknown>;
export interface FollowContext extends ConnectionContext {
  /** User ids the connection asks to follow. */
  users: string[];
}

/** May return the subset of `users` this connection is allowed to follow, or throw to refuse. */
export type FollowHook = (ctx: FollowContext) => void | string[] | Promise<void | string[]>;
export type DisconnectHook = (ctx: DisconnectContext) => void | Promise<void>;

export interface ConnectHookEntry {
  hook: ConnectHook;
  authenticates: boolean;
  withToken: boolean;
}

export interface Hooks {
  connect: ConnectHookEntry[];
  refresh: RefreshHook[];
  subscribe: SubscribeHook[];
  subRefresh: SubRefreshHook[];
  publish: PublishHook[];
  /** Handlers by method; the '' entry handles every method without its own. */
  rpc: Map<string, RpcHandler>;
  follow: FollowHook[];
  disconnect: DisconnectHook[];
}

export function emptyHooks(): Hooks {
  return { connect: [], refresh: [], subscribe: [], subRefresh: [], publish: [], rpc: new Map(), follow: [], disconnect: [] };
}

/**
 * Thrown by a hook to close the connection with a close code of 4000–4499 (the client
 * reconnects) or 4500–4999 (it does not); another code closes with 4503.
 */
export class HookDisconnect extends Error {
  readonly code: number;
  constructor(
    code: number,
    readonly reason: string = 'disconnected by the backend',
  ) {
    super(reason);
    this.name = 'HookDisconnect';
    this.code = Number.isInteger(code) && code >= 4000 && code <= 4999 ? code : 4503;
  }
}

/** Runs the refresh hooks in order: the last expiry given wins; any `expired` ends it. */
export async function runRefreshHooks<C>(hooks: readonly ((ctx: C) => void | RefreshOverride | Promise<void | RefreshOverride>)[], ctx: C): Promise<RefreshOverride> {
  const out: RefreshOverride = {};
  for (const hook of hooks) {
    const r = await hook(ctx);
    if (!r) continue;
    if (r.expired) return { expired: true };
    if (r.expiresAt !== undefined) out.expiresAt = r.expiresAt;
    if (r.info !== undefined) out.info = r.info;
  }
  return out;
}

/**
 * The hooks a node runs, registered through `Tidings.onConnect` and its siblings. The
 * registry owns the lists; sessions and features read `hooks`.
 */
export class HookRegistry {
  readonly hooks: Hooks = emptyHooks();

  onConnect(hook: ConnectHook, options: ConnectHookOptions = {}): void {
    this.hooks.connect.push({ hook, authenticates: options.authenticates ?? false, withToken: options.withToken ?? true });
  }

  onRefresh(hook: RefreshHook): void {
    this.hooks.refresh.push(hook);
  }

  onSubscribe(hook: SubscribeHook): void {
    this.hooks.subscribe.push(hook);
  }

  onSubRefresh(hook: SubRefreshHook): void {
    this.hooks.subRefresh.push(hook);
  }

  onPublish(hook: PublishHook): void {
    this.hooks.publish.push(hook);
  }

  /** A handler for one method, or (method `''`) for every method without its own. */
  onRpc(method: string, handler: RpcHandler): void {
    this.hooks.rpc.set(method, handler);
  }

  onFollow(hook: FollowHook): void {
    this.hooks.follow.push(hook);
  }

  onDisconnect(hook: DisconnectHook): void {
    this.hooks.disconnect.push(hook);
  }
}
