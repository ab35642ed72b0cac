/**
 * In-process hooks of the library API. Each may be async; throwing a
 * `TidingsError` rejects the action with that error code (any other error
 * becomes `internal`).
 */
import type { TransportKind } from './transport/transport.js';

export interface ConnectionContext {
  /** Connection id. */
  client: string;
  /** User id; empty for anonymous connections. */
  user: string;
  info?: Record<string, unknown>;
  roles: readonly string[];
  transport: TransportKind;
  remoteAddress: string;
  /** Client name and version from the connect command. */
  name?: string;
  version?: string;
}

export interface ConnectResultOverride {
  /** Extra server-side subscriptions for this connection. */
  channels?: string[];
}

/** Context of `onSubscribe`, which runs for client subscribes only: server-side subscriptions are decided by the backend already. */
export interface SubscribeContext extends ConnectionContext {
  channel: string;
}

export interface PublishContext extends ConnectionContext {
  channel: string;
  data: unknown;
}

export interface PublishOverride {
  /** Replaces the published data. */
  data: unknown;
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
export type SubscribeHook = (ctx: SubscribeContext) => void | Promise<void>;
export type PublishHook = (ctx: PublishContext) => void | PublishOverride | Promise<void | PublishOverride>;
export type RpcHandler = (ctx: RpcContext) => unknown | Promise<unknown>;
export interface FollowContext extends ConnectionContext {
  /** User ids the connection asks to follow. */
  users: string[];
}

/** May return the subset of `users` this connection is allowed to follow, or throw to refuse. */
export type FollowHook = (ctx: FollowContext) => void | string[] | Promise<void | string[]>;
export type DisconnectHook = (ctx: DisconnectContext) => void | Promise<void>;

export interface Hooks {
  connect: ConnectHook[];
  subscribe: SubscribeHook[];
  publish: PublishHook[];
  /** Handlers by method; the '' entry handles every method without its own. */
  rpc: Map<string, RpcHandler>;
  follow: FollowHook[];
  disconnect: DisconnectHook[];
}

export function emptyHooks(): Hooks {
  return { connect: [], subscribe: [], publish: [], rpc: new Map(), follow: [], disconnect: [] };
}

/**
 * The hooks a node runs, registered through `Tidings.onConnect` and its siblings. The
 * registry owns the lists; sessions and features read `hooks`.
 */
export class HookRegistry {
  readonly hooks: Hooks = emptyHooks();

  onConnect(hook: ConnectHook): void {
    this.hooks.connect.push(hook);
  }

  onSubscribe(hook: SubscribeHook): void {
    this.hooks.subscribe.push(hook);
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
