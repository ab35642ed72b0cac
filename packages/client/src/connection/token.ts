/**
 * Asking `getToken` for a connection token, the same way for the first connect and for the
 * refresh before the token expires; the refresh itself.
 */
import type { RefreshResult } from '@tidings/protocol';
import type { ClientConfig } from '../config.js';
import type { Emitter } from '../emitter.js';
import { ClientErrorCode, TidingsError } from '../errors.js';
import type { Outbox } from '../outbox.js';
import { withTimeout } from '../timeout.js';
import { backoffDelay, startTimer } from '../timers.js';
import type { ClientEvents, TidingsOptions } from '../types.js';

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

/** @internal What the token refresh needs from the connection. */
export interface RefreshHost {
  /** Bumped for every transport: a refresh begun for an older one is given up. */
  readonly _generation: number;
  readonly _connected: boolean;
  /** The token the next connect sends; set by the refresh. */
  _token: string | undefined;
  /** getToken returned no token: the client stops with `signedOut()`. */
  _signOut(): void;
}

/** @internal The refresh of the connection's token: scheduled once connected, cancelled when the connection is gone. */
export interface TokenRefresh {
  /** The token expires in `ttlSeconds`: asks getToken for a new one and sends it (`refresh`) a while before. */
  schedule(ttlSeconds: number): void;
  cancel(): void;
}

/**
 * @internal Refreshes the connection's token before it expires, when there is a `getToken`:
 * at 80% of its lifetime (at most a minute before). A failed getToken or a temporary refusal
 * of `refresh` is reported as an `error` event and retried with backoff (the token is still
 * valid for a while); a signed-out user stops the client.
 */
export function tokenRefresh(host: RefreshHost, options: TidingsOptions, config: ClientConfig, outbox: Outbox, events: Emitter<ClientEvents>): TokenRefresh {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let attempt = 0;
  const at = (delay: number): void => {
    clearTimeout(timer);
    timer = startTimer(() => void refresh(), delay);
  };
  /** Tries the refresh again, with backoff. */
  const retry = (): void => at(backoffDelay(attempt++, config.minReconnectDelay, config.maxReconnectDelay));
  const refresh = async (): Promise<void> => {
    const generation = host._generation;
    let token: string | null;
    try {
      token = await askToken(options, config.timeout);
    } catch (err) {
      if (generation !== host._generation) return;
      events.emit('error', err as TidingsError);
      retry();
      return;
    }
    if (generation !== host._generation || !host._connected) return;
    if (!token) return host._signOut();
    host._token = token;
    outbox.sendNow({ type: 'refresh', token }, (err, result) => {
      if (generation !== host._generation) return;
      if (err) {
        events.emit('error', err);
        if (err.temporary) retry();
        return;
      }
      attempt = 0;
      const ttl = (result as RefreshResult).ttl;
      if (ttl !== undefined) schedule(ttl);
    });
  };
  const schedule = (ttlSeconds: number): void => {
    clearTimeout(timer);
    if (!options.getToken) return;
    const ttl = ttlSeconds * 1000;
    at(ttl - Math.min(60_000, ttl * 0.2));
  };
  return { schedule, cancel: () => clearTimeout(timer) };
}
