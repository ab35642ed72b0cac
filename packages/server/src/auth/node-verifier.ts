/**
 * The one token verifier every part of a node holds (transports, channel policy, the
 * library's `verifyToken`). It tells the dashboard's own tokens (signed by this node) from an
 * application's, keeps the dashboard role out of application tokens, and lets a configuration
 * reload swap the application verifier underneath without anyone holding a stale one.
 */
import type { TidingsConfig } from '../config/schema.js';
import { DASHBOARD_ROLE, DashboardTokens } from './dashboard-sessions.js';
import { peekToken, type PeekedToken } from './token-peek.js';
import type { ConnectionClaims, SubscriptionClaims, TokenVerifier } from './token-verifier.js';
import { buildVerifier } from './verifier-config.js';

export class NodeVerifier implements TokenVerifier {
  private current: TokenVerifier;

  /**
   * `custom`: the application's own verifier (kept across reloads); otherwise JWT with the
   * `auth` settings. `dashboardTokens`: the dashboard's signer, asked for its own tokens.
   */
  constructor(
    private readonly custom: TokenVerifier | undefined,
    config: TidingsConfig,
    private readonly dashboardTokens: () => DashboardTokens,
  ) {
    this.current = custom ?? buildVerifier(config);
  }

  verifyConnection(token: string): Promise<ConnectionClaims> {
    // The dashboard's own connections carry tokens this node signed itself. Decoded once, here, for the verifier too.
    const peeked = peekToken(token);
    return peeked && DashboardTokens.issued(peeked) ? this.dashboardTokens().verify(token) : this.verifyAppToken(token, peeked);
  }

  verifySubscription(token: string): Promise<SubscriptionClaims> {
    return this.current.verifySubscription(token);
  }

  close(): void {
    this.current.close?.();
  }

  /** The application verifier `config` asks for (a custom one stays); throws ConfigError, changing nothing, when `auth` is invalid. */
  prepare(config: TidingsConfig): TokenVerifier {
    return this.custom ?? buildVerifier(config);
  }

  /** Puts a verifier from `prepare` in place and closes the one it replaces. */
  use(next: TokenVerifier): void {
    const previous = this.current;
    this.current = next;
    if (previous !== next) previous.close?.();
  }

  /** An application's token: the role of the dashboard's own connections cannot be claimed by one. */
  private async verifyAppToken(token: string, peeked: PeekedToken | undefined): Promise<ConnectionClaims> {
    const claims = await this.current.verifyConnection(token, peeked);
    if (claims.roles.includes(DASHBOARD_ROLE)) claims.roles = claims.roles.filter((r) => r !== DASHBOARD_ROLE);
    return claims;
  }
}
