/**
 * Runs fast-check properties with fixed seeds, scaled and counted for the fuzzing soak (the
 * protocol package's copy is packages/protocol/test/fuzz.ts; the two packages share no test code).
 *
 * `npm test` runs each property `base` times. `npm run soak:fuzz` (scripts/soak-fuzz.mjs) sets
 * `TIDINGS_FUZZ_SCALE` to run them many more times and `TIDINGS_FUZZ_REPORT` to a file where
 * each property appends one JSON line: its name, executions and failures (crashes).
 */
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';

const scale = Number(process.env.TIDINGS_FUZZ_SCALE ?? '1');

/** How many runs a property of `base` runs gets at this scale (live-server properties pass a smaller `weight`). */
export function runs(base: number, weight = 1): number {
  const s = Number.isFinite(scale) && scale > 0 ? scale : 1;
  return Math.max(1, Math.round(base * (1 + (s - 1) * weight)));
}

export function record(name: string, executions: number, failures: number): void {
  const file = process.env.TIDINGS_FUZZ_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify({ name, executions, failures })}\n`);
}

/** Checks `property` `runs(base)` times from `seed`; records the count; throws fast-check's report on a failure. */
export function fuzz<Ts>(name: string, property: fc.IProperty<Ts>, seed: number, base: number): void {
  const details = fc.check(property, { seed, numRuns: runs(base) });
  record(name, details.numRuns, details.failed ? 1 : 0);
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? `${name} failed`);
}

/** The same for an async property; `weight` < 1 grows it less than the pure ones in the soak. */
export async function fuzzAsync<Ts>(name: string, property: fc.IAsyncProperty<Ts>, seed: number, base: number, weight = 1): Promise<number> {
  const details = await fc.check(property, { seed, numRuns: runs(base, weight) });
  record(name, details.numRuns, details.failed ? 1 : 0);
  if (details.failed) throw new Error((await fc.asyncDefaultReportMessage(details)) ?? `${name} failed`);
  return details.numRuns;
}
