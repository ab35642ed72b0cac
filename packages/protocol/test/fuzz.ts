/**
 * Runs fast-check properties with fixed seeds, scaled and counted for the fuzzing soak.
 *
 * `npm test` runs each property `base` times. `npm run soak:fuzz` (scripts/soak-fuzz.mjs) sets
 * `TIDINGS_FUZZ_SCALE` to run them many more times and `TIDINGS_FUZZ_REPORT` to a file where
 * each property appends one JSON line: its name, executions and failures (crashes), which the
 * script sums and prints. The server's copy is packages/server/src/test-support/fuzz.ts.
 */
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';

const scale = Number(process.env.TIDINGS_FUZZ_SCALE ?? '1');

/** How many runs a property of `base` runs gets at this scale. */
export function runs(base: number): number {
  return Math.max(1, Math.round(base * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
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
