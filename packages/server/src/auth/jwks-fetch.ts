/**
 * The fetch a remote JWK set is read with (given to jose as its public `customFetch`): the
 * request jose builds (GET, no redirects, its timeout signal), and a response body read up to
 * `MAX_JWKS_BYTES` only. A key set is a few kilobytes; an endpoint that answers with megabytes
 * (misconfigured, or hostile) would otherwise be read whole into memory on the token-checking
 * path, as often as the cooldown allows.
 */
import type { FetchImplementation } from 'jose';

/** Largest JWK set body read, in bytes (1 MiB: thousands of keys). */
export const MAX_JWKS_BYTES = 1024 * 1024;

export class JwksTooLargeError extends Error {
  constructor(limit: number) {
    super(`JWK set response larger than ${limit} bytes`);
    this.name = 'JwksTooLargeError';
  }
}

/** A fetch for jose's `createRemoteJWKSet` that refuses bodies over `limit` bytes without reading them all. */
export function boundedJwksFetch(limit = MAX_JWKS_BYTES): FetchImplementation {
  return async (url, options) => {
    const response = await fetch(url, options);
    // Anything but 200 is refused by jose without reading the body; leave it as it is.
    if (response.status !== 200 || response.body === null) return response;
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > limit) {
      await response.body.cancel();
      throw new JwksTooLargeError(limit);
    }
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel();
        throw new JwksTooLargeError(limit);
      }
      chunks.push(value);
    }
    return new Response(Buffer.concat(chunks), { status: response.status, headers: response.headers });
  };
}
