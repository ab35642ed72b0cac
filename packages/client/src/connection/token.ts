/**
 * Asking `getToken` for a connection token, the same way for the first connect and for the
 * refresh before the token expires.
 */
import { ClientErrorCode, TidingsError } from '../errors.js';
import { withTimeout } from '../timeout.js';
import type { TidingsOptions } from '../types.js';

/**
 * @internal Asks `options.getToken` for a connection token within `timeout` ms: resolves with it, or
 * with `null` when the user is signed out; rejects with `token_unavailable`.
 */
export async function askToken(options: TidingsOptions, timeout: number): Promise<string | null> {
  try {
    return await withTimeout(options.getToken!(), timeout, 'getToken');
  } catch (err) {
    throw new TidingsError(ClientErrorCode.TokenUnavailable, `getToken failed: ${String(err)}`, { temporary: true });
  }
}

/** @internal getToken returned no token: the client stops with this. */
export function signedOut(): TidingsError {
  return new TidingsError('unauthorized', 'getToken returned no token', { temporary: false });
}
