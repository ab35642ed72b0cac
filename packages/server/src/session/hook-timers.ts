/**
 * Expiries that hooks set (docs/proxy.md): a connection whose connect hook gave `expiresAt`
 * is refreshed by the server itself through the refresh hooks when it gets there (no
 * client round trip); a subscription whose subscribe hook gave `expiresAt` through the
 * sub-refresh hooks. An expired answer closes the connection with 4003 (token expired) or
 * ends the subscription; a failing refresh (backend down) is retried every
 * `proxy.refreshRetryInterval` until `proxy.refreshGrace` past the expiry.
 */
import { CloseCode, UnsubscribeCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { HookDisconnect, runRefreshHooks, type ConnectionContext, type Hooks, type RefreshOverride } from '../hooks.js';
import type { Logger } from '../log.js';

/** Node fires longer timeouts at once. */
const MAX_TIMEOUT = 2 ** 31 - 1;

/** The part of a session the timers work on. */
export interface HookTimerOwner {
  readonly closed: boolean;
  expiresAt: number | undefined;
  info: Record<string, unknown> | undefined;
  readonly context: ConnectionContext;
  readonly services: { readonly hooks: Hooks; readonly log: Logger; readonly config: { proxy: { refreshGrace: number; refreshRetryInterval: number } } };
  disconnect(code: number, options?: { reason?: string }): void;
  /** Ends one subscription (if it is still the channel's current one) with an `unsubscribe` push. */
  endSubscription(sub: object, channel: string, code: number, reason: string): void;
}

type Outcome = { kind: 'extend'; expiresAt: number; info?: Record<string, unknown> } | { kind: 'expired' } | { kind: 'retry' } | { kind: 'disconnect'; err: HookDisconnect };

export class HookTimers {
  /** Set once a connect hook gave the connection its expiry. */
  expiryByHook = false;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** Made at the first subscription with a hook-set expiry: most connections never have one. */
  private subTimers: Map<object, NodeJS.Timeout> | undefined;

  constructor(private readonly owner: HookTimerOwner) {}

  /** True when the server refreshes this connection itself (a hook set its expiry and refresh hooks exist). */
  get refreshesConnection(): boolean {
    return this.expiryByHook && this.owner.services.hooks.refresh.length > 0;
  }

  /** (Re)arms the connection's refresh at its expiry. */
  scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    const due = this.owner.expiresAt;
    if (due === undefined || this.owner.closed) return;
    this.refreshTimer = this.at(due, () => void this.refreshConnection(due + this.owner.services.config.proxy.refreshGrace));
  }

  /** Watches a subscription's expiry (from its subscribe hook). */
  watchSubscription(sub: object, channel: string, expiresAt: number): void {
    this.cancelSubscription(sub);
    const deadline = expiresAt + this.owner.services.config.proxy.refreshGrace;
    (this.subTimers ??= new Map()).set(sub, this.at(expiresAt, () => void this.refreshSubscription(sub, channel, deadline)));
  }

  cancelSubscription(sub: object): void {
    const t = this.subTimers?.get(sub);
    if (t === undefined) return;
    clearTimeout(t);
    this.subTimers?.delete(sub);
  }

  close(): void {
    clearTimeout(this.refreshTimer);
    for (const t of this.subTimers?.values() ?? []) clearTimeout(t);
    this.subTimers?.clear();
  }

  private async refreshConnection(deadline: number): Promise<void> {
    const { hooks } = this.owner.services;
    const outcome = await this.ask(() => runRefreshHooks(hooks.refresh, this.owner.context), deadline, 'refresh');
    if (this.owner.closed) return;
    if (outcome.kind === 'disconnect') return this.owner.disconnect(outcome.err.code, { reason: outcome.err.reason });
    if (outcome.kind === 'expired') return this.owner.disconnect(CloseCode.TokenExpired);
    if (outcome.kind === 'retry') {
      this.refreshTimer = this.at(Date.now() + this.owner.services.config.proxy.refreshRetryInterval, () => void this.refreshConnection(deadline));
      return;
    }
    this.owner.expiresAt = outcome.expiresAt;
    if (outcome.info) this.owner.info = outcome.info;
    this.scheduleRefresh();
  }

  private async refreshSubscription(sub: object, channel: string, deadline: number): Promise<void> {
    this.subTimers?.delete(sub);
    const { hooks } = this.owner.services;
    const outcome = hooks.subRefresh.length === 0 ? ({ kind: 'expired' } as const) : await this.ask(() => runRefreshHooks(hooks.subRefresh, { ...this.owner.context, channel }), deadline, 'sub_refresh');
    if (this.owner.closed) return;
    if (outcome.kind === 'disconnect') return this.owner.disconnect(outcome.err.code, { reason: outcome.err.reason });
    if (outcome.kind === 'expired') return this.owner.endSubscription(sub, channel, UnsubscribeCode.Expired, 'subscription expired');
    if (outcome.kind === 'retry') {
      (this.subTimers ??= new Map()).set(sub, this.at(Date.now() + this.owner.services.config.proxy.refreshRetryInterval, () => void this.refreshSubscription(sub, channel, deadline)));
      return;
    }
    this.watchSubscription(sub, channel, outcome.expiresAt);
  }

  /** Runs the hooks; never rejects. A temporary failure is retried while the next try still falls before `deadline`. */
  private async ask(run: () => Promise<RefreshOverride>, deadline: number, what: string): Promise<Outcome> {
    try {
      const r = await run();
      if (r.expired || r.expiresAt === undefined || r.expiresAt <= Date.now()) return { kind: 'expired' };
      return r.info ? { kind: 'extend', expiresAt: r.expiresAt, info: r.info } : { kind: 'extend', expiresAt: r.expiresAt };
    } catch (err) {
      if (err instanceof HookDisconnect) return { kind: 'disconnect', err };
      const temporary = !(err instanceof TidingsError) || err.temporary;
      const retry = temporary && Date.now() + this.owner.services.config.proxy.refreshRetryInterval < deadline;
      this.owner.services.log.warn({ client: this.owner.context.client, hook: what, problem: (err as Error).message, retry }, 'refresh hook failed');
      return retry ? { kind: 'retry' } : { kind: 'expired' };
    }
  }

  private at(when: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(fn, Math.min(Math.max(0, when - Date.now()), MAX_TIMEOUT));
    t.unref();
    return t;
  }
}
