/**
 * The live stats the server publishes once a second on `tidings-admin:stats`, kept as a
 * rolling window for the charts and cards. One store for the whole session, so the
 * charts keep their history when the operator moves between pages.
 */
import type { AdminStatsSnapshot } from '@tidings/server';

export const STATS_CHANNEL = 'tidings-admin:stats';

/** One publication on the stats channel (rates per second over the last interval). */
export type { AdminStatsSnapshot };

/** Samples kept: five minutes at one a second. */
export const WINDOW = 300;

export interface StatsSnapshot {
  samples: readonly AdminStatsSnapshot[];
  latest: AdminStatsSnapshot | undefined;
  /** When the latest sample arrived (local clock), ms. */
  receivedAt: number | undefined;
}

function isSample(v: unknown): v is AdminStatsSnapshot {
  const s = v as Partial<AdminStatsSnapshot> | null;
  return typeof s === 'object' && s !== null && typeof s.time === 'number' && typeof s.connections === 'number';
}

export class StatsStore {
  #snapshot: StatsSnapshot = { samples: [], latest: undefined, receivedAt: undefined };
  readonly #listeners = new Set<() => void>();

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  readonly getSnapshot = (): StatsSnapshot => this.#snapshot;

  /** Adds a publication's data; anything that is not a stats sample is ignored. */
  push(data: unknown, receivedAt = Date.now()): void {
    if (!isSample(data)) return;
    let base = this.#snapshot.samples;
    const last = base[base.length - 1];
    // A restarted node (new id) starts a new series; a repeated or late sample replaces what it overlaps.
    if (last && last.node !== data.node) base = [];
    else if (last && data.time <= last.time) base = base.filter((s) => s.time < data.time);
    const samples = base.length >= WINDOW ? [...base.slice(base.length - WINDOW + 1), data] : [...base, data];
    this.#snapshot = { samples, latest: data, receivedAt };
    for (const l of this.#listeners) l();
  }

  clear(): void {
    this.#snapshot = { samples: [], latest: undefined, receivedAt: undefined };
    for (const l of this.#listeners) l();
  }
}

/** Codes seen anywhere in the window for a by-code series, sorted. */
export function codesOf(samples: readonly AdminStatsSnapshot[], pick: (s: AdminStatsSnapshot) => Record<string, number> | undefined): string[] {
  const codes = new Set<string>();
  for (const s of samples) for (const [code, n] of Object.entries(pick(s) ?? {})) if (n > 0) codes.add(code);
  return [...codes].sort();
}

/** Direction of a value over the last `span` samples: for the cards' trend arrows. */
export function trendOf(samples: readonly AdminStatsSnapshot[], pick: (s: AdminStatsSnapshot) => number, span = 10): 'up' | 'down' | 'flat' {
  if (samples.length < 2) return 'flat';
  const now = pick(samples[samples.length - 1]!);
  const then = pick(samples[Math.max(0, samples.length - 1 - span)]!);
  if (now > then) return 'up';
  if (now < then) return 'down';
  return 'flat';
}
