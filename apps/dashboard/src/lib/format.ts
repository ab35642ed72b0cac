/** Display helpers. */

export function formatBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${r}s`;
  return `${r}s`;
}

export function formatNumber(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

const asDate = (t: number | string | Date) => (t instanceof Date ? t : new Date(t));

export function formatTime(t: number | string | null | undefined): string {
  if (t === null || t === undefined || t === '') return '—';
  const d = asDate(t);
  if (Number.isNaN(d.getTime())) return '—';
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** "12 s ago", "3 min ago", else the date. */
export function formatAgo(t: number | string | null | undefined, now = Date.now()): string {
  if (t === null || t === undefined || t === '') return '—';
  const ms = asDate(t).getTime();
  if (Number.isNaN(ms)) return '—';
  const s = Math.round((now - ms) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return formatTime(ms);
}

/** A user's display name from token info, else the id. */
export function displayName(user: string, info?: Record<string, unknown>): string {
  const name = info?.['name'];
  return typeof name === 'string' && name.trim() !== '' ? name : user === '' ? '(anonymous)' : user;
}

/** Compact JSON for tables; long values are cut. */
export function preview(value: unknown, max = 160): string {
  if (value === undefined) return '';
  let s: string;
  try {
    s = typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    s = String(value);
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** A short browser/OS summary of a User-Agent header, with the full header kept for a tooltip. */
export function shortUserAgent(ua: string | undefined): string {
  if (!ua) return '—';
  const browser = /(Edg|OPR|Firefox|Chrome|Chromium|Safari|node|Node\.js|curl)[/ ]?([\d.]*)/i.exec(ua);
  const os = /(Windows|Mac OS X|Android|iPhone|iPad|Linux|CrOS)/i.exec(ua);
  if (!browser) return ua.length > 40 ? `${ua.slice(0, 39)}…` : ua;
  const name = browser[1] === 'Edg' ? 'Edge' : browser[1] === 'OPR' ? 'Opera' : browser[1]!;
  const version = browser[2] ? ` ${browser[2].split('.')[0]}` : '';
  return `${name}${version}${os ? ` · ${os[1] === 'Mac OS X' ? 'macOS' : os[1]}` : ''}`;
}
