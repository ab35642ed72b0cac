#!/usr/bin/env node
/**
 * The fuzzing soak (issue 20): runs every `*.fuzz.test.ts` property many more times than
 * `npm test` does, with the same fixed seeds, and prints the executions and crashes.
 *
 *   npm run soak:fuzz                 # scale 20: about 1.3 million executions
 *   npm run soak:fuzz -- --scale 50   # more
 *
 * Each property's run count is multiplied by the scale (live-server properties by less, see
 * packages/*\/…/fuzz.ts); each appends its executions and failures to a report file, summed
 * here. A crash is a failed property (its counterexample is printed by vitest above the
 * summary) or a test file that failed without reporting. Exit code 1 on any crash.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TARGET = 1_000_000;
const at = process.argv.indexOf('--scale');
const scale = at >= 0 ? Number(process.argv[at + 1]) : 20;
if (!Number.isFinite(scale) || scale < 1) {
  console.error('--scale: expected a number >= 1');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'tidings-soak-fuzz-'));
const report = join(dir, 'report.jsonl');
const started = Date.now();
const vitest = spawnSync('npx', ['vitest', 'run', 'fuzz.test', '--testTimeout', '0', '--hookTimeout', '60000'], {
  stdio: 'inherit',
  env: { ...process.env, TIDINGS_FUZZ_SCALE: String(scale), TIDINGS_FUZZ_REPORT: report },
});

const rows = existsSync(report)
  ? readFileSync(report, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
  : [];
rmSync(dir, { recursive: true, force: true });

let executions = 0;
let crashes = 0;
console.log(`\nfuzzing soak, scale ${scale}`);
for (const r of rows.sort((a, b) => a.name.localeCompare(b.name))) {
  executions += r.executions;
  crashes += r.failures;
  console.log(`  ${r.name.padEnd(48)} ${String(r.executions).padStart(10)}${r.failures ? `  FAILED` : ''}`);
}
// vitest failed but no property reported a failure: a test file crashed outside a property.
if (vitest.status !== 0 && crashes === 0) crashes = 1;
const seconds = ((Date.now() - started) / 1000).toFixed(0);
console.log(`executions: ${executions}`);
console.log(`crashes: ${crashes}`);
console.log(`time: ${seconds} s`);
if (executions < TARGET) console.log(`note: fewer than ${TARGET.toLocaleString('en')} executions; raise --scale`);
process.exit(crashes > 0 ? 1 : 0);
