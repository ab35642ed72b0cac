/**
 * Durations ("25s", "5m", 1500) and sizes ("64KiB", "4MiB", 65536) as config accepts them.
 */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1000, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };

/** What a config error says a duration should look like (the value given is appended). */
export const DURATION_EXPECTED = 'expected a duration like "25s", "250ms", "5m", "1h", "30d" or a number of milliseconds';
/** What a config error says a size should look like. */
export const SIZE_EXPECTED = 'expected a size like "64KiB", "4MiB", "1MB" or a number of bytes';

/** Milliseconds from a number (ms) or a string like "250ms", "25s", "5m", "1h", "30d". Null when unreadable. */
export function parseDuration(value: number | string): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(value);
  if (!m) return null;
  return Math.round(Number(m[1]) * DURATION_UNITS[(m[2] ?? 'ms').toLowerCase()]!);
}

/** Bytes from a number or a string like "512", "64KiB", "4MiB", "1MB". Null when unreadable. */
export function parseSize(value: number | string): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$/i.exec(value);
  if (!m) return null;
  return Math.floor(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]!);
}
