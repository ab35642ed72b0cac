/**
 * Figures a reliability test reports for docs/reliability.md (scripts/reliability-report.mjs):
 * when TIDINGS_RELIABILITY_OUT names a file, each call appends one JSON line
 * `{"suite", "case", "figures": {...}}` to it; without the variable it does nothing, so the
 * tests run the same under `npm test`. The script sets the variable, runs the suites and puts
 * the figures in the report's table. Numbers are counts or milliseconds, as the names say.
 */
import { appendFileSync } from 'node:fs';

export type Figures = Record<string, number | string | boolean>;

/** Appends `{suite, case, figures}` to $TIDINGS_RELIABILITY_OUT (one JSON line), if set. */
export function recordFigures(suite: string, name: string, figures: Figures): void {
  const file = process.env.TIDINGS_RELIABILITY_OUT;
  if (!file) return;
  appendFileSync(file, `${JSON.stringify({ suite, case: name, figures })}\n`);
}
