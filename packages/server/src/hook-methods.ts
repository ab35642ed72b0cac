/**
 * The hook methods of the library's `Tidings` class (`onConnect`, `onSubscribe`, …), which it
 * inherits: each adds a hook to the node's `HookRegistry` and returns the node, for chaining.
 */
import { HookRegistry, type ConnectHook, type ConnectHookOptions, type DisconnectHook, type FollowHook, type PublishHook, type RefreshHook, type RpcHandler, type SubRefreshHook, type SubscribeHook } from './hooks.js';

export class HookMethods {
  /** The hooks this node runs; the node reads `hooks` and registers the proxy hooks here. */
  protected readonly hookRegistry = new HookRegistry();

  /** Runs when a client connects, after its token is verified; throw a TidingsError to refuse it. With `authenticates`, also decides the user of connections without a token. */
  onConnect(hook: ConnectHook, options?: ConnectHookOptions): this {
    this.hookRegistry.onConnect(hook, options);
    return this;
  }

  /** Extends (or ends) a connection whose expiry a connect hook set, when it gets there (docs/proxy.md). */
  onRefresh(hook: RefreshHook): this {
    this.hookRegistry.onRefresh(hook);
    return this;
  }

  /** Extends (or ends) a subscription whose expiry a subscribe hook set, when it gets there. */
  onSubRefresh(hook: SubRefreshHook): this {
    this.hookRegistry.onSubRefresh(hook);
    return this;
  }

  /** Runs before a client subscribe is accepted (after the channel rules passed). */
  onSubscribe(hook: SubscribeHook): this {
    this.hookRegistry.onSubscribe(hook);
    return this;
  }

  /** Runs before a client publication is published; may replace its data. */
  onPublish(hook: PublishHook): this {
    this.hookRegistry.onPublish(hook);
    return this;
  }

  /** Answers `rpc` commands: for one method, or for every method without its own handler. */
  onRpc(method: string, handler: RpcHandler): this;
  onRpc(handler: RpcHandler): this;
  onRpc(a: string | RpcHandler, b?: RpcHandler): this {
    if (typeof a === 'string') this.hookRegistry.onRpc(a, b!);
    else this.hookRegistry.onRpc('', a);
    return this;
  }

  /**
   * Decides which users a connection may follow the status of: return the allowed
   * subset of `ctx.users`, or throw a TidingsError to refuse the whole request.
   */
  onFollow(hook: FollowHook): this {
    this.hookRegistry.onFollow(hook);
    return this;
  }

  /** Runs after a connected client is gone. */
  onDisconnect(hook: DisconnectHook): this {
    this.hookRegistry.onDisconnect(hook);
    return this;
  }
}
