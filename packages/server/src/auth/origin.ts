/**
 * Browser origin allow-list, checked before a WebSocket upgrade is accepted
 * (and, later, on HTTP transports). Requests without an `Origin` header come
 * from non-browser clients, which can set any header anyway: they pass.
 *
 * Entries: "*" (any origin), an exact origin ("https://app.example.com"), or a
 * pattern with one leading wildcard label ("https://*.example.com"). With no
 * entries, only same-origin requests pass (Origin host equals the Host header).
 */
export type OriginCheck = (origin: string | undefined, host: string | undefined) => boolean;

function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern.toLowerCase().replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[a-z0-9-]+(?:\\.[a-z0-9-]+)*');
  return new RegExp(`^${escaped}$`);
}

export function createOriginCheck(allowed: readonly string[]): OriginCheck {
  if (allowed.includes('*')) return () => true;
  const exact = new Set(allowed.filter((a) => !a.includes('*')).map((a) => a.toLowerCase().replace(/\/+$/, '')));
  const patterns = allowed.filter((a) => a.includes('*')).map(patternToRegExp);
  return (origin, host) => {
    if (origin === undefined) return true;
    const o = origin.toLowerCase();
    if (allowed.length === 0) {
      try {
        return host !== undefined && new URL(o).host === host.toLowerCase();
      } catch {
        return false;
      }
    }
    return exact.has(o) || patterns.some((p) => p.test(o));
  };
}
