/**
 * Who may subscribe to and publish on which channel. Namespace rules come from
 * config; personal (`user:#id`) and user-limited (`ns:...#a,b`) channels have
 * fixed rules. Every denial is a TidingsError with a code from the protocol.
 *
 * The namespace `tidings-admin` is reserved for the dashboard: its channels resolve
 * only for a plain subscribe by a connection holding the dashboard's role (which only
 * tokens this node signs for its dashboard carry). Every other path (a token's
 * `channels` claim, connect hooks, subscription tokens, client and server publishes,
 * history, presence) is refused with `permission_denied`.
 */
import { ErrorCode, PERSONAL_NAMESPACE, channelError, parseChannel, type ParsedChannel } from '@tidings/protocol';
import type { NamespaceConfig, TidingsConfig } from '../config/schema.js';
import { TidingsError } from '../errors.js';
import { DASHBOARD_ROLE } from './dashboard-sessions.js';
import type { TokenVerifier } from './token-verifier.js';

/** The namespace of the dashboard's own channels (`tidings-admin:stats`). */
export const DASHBOARD_NAMESPACE = 'tidings-admin';

/** The connection asking. */
export interface Principal {
  /** Empty for anonymous connections. */
  user: string;
  roles: readonly string[];
}

export interface ResolvedChannel {
  channel: string;
  ns: NamespaceConfig;
  parsed: ParsedChannel;
  /** `user:#<id>` */
  personal: boolean;
  /** In the dashboard's namespace: only dashboard connections may subscribe, nothing else reaches it. */
  reserved?: boolean;
}

const denied = (message: string) => new TidingsError(ErrorCode.PermissionDenied, message);
const reservedDenied = () => denied(`namespace "${DASHBOARD_NAMESPACE}" is reserved for the dashboard's own connections`);

/**
 * A bad subscription token refuses the subscription (`permission_denied`); it never looks
 * like a connection-level `unauthorized`, which clients treat as terminal. A temporary
 * error (`token_expired`, key set unavailable) is kept, so the client fetches a new token or retries.
 */
function subscriptionTokenRefused(e: unknown): never {
  throw e instanceof TidingsError && e.code === ErrorCode.Unauthorized && !e.temporary ? denied(`subscription token: ${e.message}`) : e;
}

/** Resolved names kept, so hot channels skip validation; cleared when full or on reload. */
const RESOLVE_CACHE_SIZE = 10_000;

export class ChannelPolicy {
  private readonly personalNs: NamespaceConfig;
  private readonly resolved = new Map<string, ResolvedChannel>();

  constructor(
    private readonly config: TidingsConfig,
    private readonly verifier: TokenVerifier,
  ) {
    const p = config.personal;
    this.personalNs = {
      presence: false,
      joinLeave: false,
      typing: false,
      recover: p.recover,
      clientPublish: 'none',
      allowedRoles: [],
      anonymous: false,
      private: true,
      maxSubscribers: 0,
      ...(p.history ? { history: p.history } : {}),
    };
  }

  /**
   * Validates a channel name and finds its namespace; throws `invalid_channel` or
   * `unknown_namespace`. A channel of the dashboard's reserved namespace resolves only
   * for `who` holding the dashboard's role (a client subscribe); for every other caller,
   * server-side ones included, it throws `permission_denied`.
   */
  resolve(channel: unknown, who?: Principal): ResolvedChannel {
    let target = typeof channel === 'string' ? this.resolved.get(channel) : undefined;
    if (!target) {
      target = this.resolveUncached(channel);
      if (this.resolved.size >= RESOLVE_CACHE_SIZE) this.resolved.clear();
      this.resolved.set(target.channel, target);
    }
    if (target.reserved && !who?.roles.includes(DASHBOARD_ROLE)) throw reservedDenied();
    return target;
  }

  /** Forgets resolved names: namespaces changed (reload). */
  forgetResolved(): void {
    this.resolved.clear();
  }

  private resolveUncached(channel: unknown): ResolvedChannel {
    const err = channelError(channel);
    if (err) throw new TidingsError(ErrorCode.InvalidChannel, err);
    const name = channel as string;
    const parsed = parseChannel(name);
    if (parsed.namespace === PERSONAL_NAMESPACE) {
      if (!this.config.personal.enabled) throw new TidingsError(ErrorCode.UnknownNamespace, 'personal channels are disabled');
      if (!parsed.rest.startsWith('#') || parsed.users?.length !== 1) {
        throw new TidingsError(ErrorCode.InvalidChannel, 'personal channels are "user:#<userId>"');
      }
      return { channel: name, ns: this.personalNs, parsed, personal: true, reserved: false };
    }
    // An own property only: `constructor`, `__proto__`, `toString` are no namespaces.
    const namespaces = this.config.namespaces;
    const ns = Object.hasOwn(namespaces, parsed.namespace) ? namespaces[parsed.namespace] : undefined;
    if (!ns) throw new TidingsError(ErrorCode.UnknownNamespace, `namespace "${parsed.namespace}" is not configured`);
    return { channel: name, ns, parsed, personal: false, reserved: parsed.namespace === DASHBOARD_NAMESPACE };
  }

  /** The namespace of a channel, or undefined when the name or namespace is unknown. */
  namespaceOf(channel: string): NamespaceConfig | undefined {
    try {
      return this.resolve(channel).ns;
    } catch {
      return undefined;
    }
  }

  /**
   * Checks a client subscribe. Order: personal channel, anonymous access, user list,
   * subscription token, private namespace, allowed roles.
   */
  async authorizeSubscribe(who: Principal, target: ResolvedChannel, token?: string): Promise<void> {
    const { ns, parsed, channel } = target;
    if (target.reserved) {
      // Only the dashboard's own connections, with a plain subscribe: no token, no user list.
      if (token !== undefined || parsed.users || !who.roles.includes(DASHBOARD_ROLE)) throw reservedDenied();
      return;
    }
    if (target.personal) {
      if (who.user === '' || parsed.users![0] !== who.user) throw denied('personal channels belong to their user');
      return;
    }
    if (who.user === '' && !ns.anonymous) throw denied(`namespace "${parsed.namespace}" does not allow anonymous connections`);
    if (parsed.users) {
      if (!parsed.users.includes(who.user)) throw denied('user is not listed in this user-limited channel');
      return;
    }
    if (token !== undefined) {
      const claims = await this.verifier.verifySubscription(token).catch(subscriptionTokenRefused);
      if (claims.user !== who.user) throw denied('subscription token was issued to another user');
      if (claims.channel !== channel) throw denied('subscription token is for another channel');
      return;
    }
    if (ns.private) throw denied(`namespace "${parsed.namespace}" needs a subscription token`);
    if (ns.allowedRoles.length > 0 && !ns.allowedRoles.some((r) => who.roles.includes(r))) {
      throw denied(`namespace "${parsed.namespace}" needs one of the roles: ${ns.allowedRoles.join(', ')}`);
    }
  }

  /** Checks a client publish. */
  authorizePublish(who: Principal, target: ResolvedChannel, subscribed: boolean): void {
    const { ns, parsed } = target;
    if (target.reserved) throw reservedDenied();
    if (target.personal) throw denied('clients cannot publish to personal channels');
    const rule = ns.clientPublish;
    if (rule === 'none') throw denied(`namespace "${parsed.namespace}" does not allow client publishing`);
    if (who.user === '' && !ns.anonymous) throw denied(`namespace "${parsed.namespace}" does not allow anonymous connections`);
    if (parsed.users && !parsed.users.includes(who.user)) throw denied('user is not listed in this user-limited channel');
    if (rule === 'subscribers') {
      if (!subscribed) throw denied('publishing here requires a subscription to the channel');
      return;
    }
    if (!rule.some((r) => who.roles.includes(r))) throw denied(`publishing here needs one of the roles: ${rule.join(', ')}`);
    // A publish role does not bypass the read rules: in a private namespace the
    // publisher must hold a subscription (granted by a token); elsewhere it must pass allowedRoles.
    if (parsed.users) return;
    if (ns.private) {
      if (!subscribed) throw denied(`namespace "${parsed.namespace}" needs a subscription (with a subscription token) to publish`);
      return;
    }
    if (ns.allowedRoles.length > 0 && !ns.allowedRoles.some((r) => who.roles.includes(r))) {
      throw denied(`namespace "${parsed.namespace}" needs one of the roles: ${ns.allowedRoles.join(', ')}`);
    }
  }
}
