/**
 * A JWT's header and payload read once, before any verification (issue 18: the dashboard check
 * and the verifier's key choice each decoded every token again). Nothing read here is trusted:
 * it only picks the path (the dashboard's own tokens, the `alg`, the key set of an `iss`), and
 * jose's `jwtVerify` decodes and checks the token itself afterwards.
 */

/** The unverified JSON objects of a compact JWS's first two parts. */
export interface PeekedToken {
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Readonly<Record<string, unknown>>;
}

/** The header and payload of `token`, or undefined when it is not three base64url parts whose first two are JSON objects. */
export function peekToken(token: unknown): PeekedToken | undefined {
  if (typeof token !== 'string') return undefined;
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (first <= 0 || second < 0 || token.indexOf('.', second + 1) >= 0) return undefined;
  const header = jsonObject(token.slice(0, first));
  const payload = header && jsonObject(token.slice(first + 1, second));
  return header && payload ? { header, payload } : undefined;
}

function jsonObject(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
