#!/usr/bin/env node
/**
 * The reliability report (issue 20): runs the reliability suites with vitest's JSON reporter,
 * collects what they count, and rewrites the block of docs/reliability.md between
 * `<!-- report:start -->` and `<!-- report:end -->` (the rest of the file is written by hand).
 *
 *   npm run reliability:report                      # every class, at npm test's size
 *   npm run reliability:report -- --only crashes,fuzzing
 *   npm run reliability:report -- --fuzz-scale 20   # the fuzzing soak's size (slow)
 *   npm run reliability:report -- --dry-run         # print the block, write nothing
 *   node scripts/reliability-report.mjs --list      # which test files each class takes, nothing run
 *
 * Which tests belong to the report (the convention docs/reliability.md states): a test file is in
 * a class when its path matches the class's `files` pattern below, or it holds tests whose name
 * starts with the class's `tag` (e.g. `it('attack: ...')`); then the tests counted are every test
 * of a matching file and the tagged tests of the others.
 *
 * Figures: a test reports counts through packages/server/src/test-support/reliability-figures.ts
 * (one JSON line per call to $TIDINGS_RELIABILITY_OUT, which this script sets); the fuzzing
 * properties report executions and failures to $TIDINGS_FUZZ_REPORT (test-support/fuzz.ts).
 *
 * The files run one after another (--no-file-parallelism): the crash and storm suites time
 * their own bounds and count memory, which a neighbour's load would blur.
 *
 * Tests that need redis-server or PostgreSQL skip outside CI when those are missing: run with
 * CI=true to make them run (they fail loudly instead); the report says whether CI was set and
 * how many tests were skipped. Exit code 1 when a test failed (the block is written anyway, with
 * the failures in it), 2 on a usage error.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const DOC = join(ROOT, 'docs/reliability.md');
const START = '<!-- report:start -->';
const END = '<!-- report:end -->';

/** The classes, in the order of issue 20; `files` is matched against the repository-relative path. */
const CLASSES = [
  { id: 'conformance', name: 'RFC 6455 conformance (mini-Autobahn)', files: /(^|\/)autobahn-[^/]*\.test\.ts$/, tag: 'conformance:' },
  { id: 'fuzzing', name: 'Fuzzing (fast-check, fixed seeds)', files: /\.(fuzz|property)\.test\.ts$/, tag: 'fuzz:' },
  { id: 'storms', name: 'Storms with accounting', files: /(^|\/)(storm\/.*|[^/]*(storm|recovery-soak)[^/]*)\.test\.ts$/, tag: 'storm:' },
  { id: 'faults', name: 'Faults (fault proxy)', files: /(^|\/)[^/]*fault[^/]*\.test\.ts$/, tag: 'fault:' },
  { id: 'crashes', name: 'Crashes (kill -9, Redis and PostgreSQL failures)', files: /(^|\/)([^/]*(crash|failover)[^/]*|redis-cluster)\.test\.ts$/, tag: 'crash:' },
  { id: 'attacks', name: 'Attack classes', files: /(^|\/)[^/]*attack[^/]*\.test\.ts$/, tag: 'attack:' },
];

function usage(message) {
  console.error(`${message}\nusage: node scripts/reliability-report.mjs [--only id,id] [--fuzz-scale N] [--dry-run] [--list]\nclasses: ${CLASSES.map((c) => c.id).join(', ')}`);
  process.exit(2);
}

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const dryRun = args.includes('--dry-run');
const only = option('--only')?.split(',').filter(Boolean);
for (const id of only ?? []) if (!CLASSES.some((c) => c.id === id)) usage(`--only: unknown class ${id}`);
const fuzzScale = Number(option('--fuzz-scale') ?? '1');
if (!Number.isFinite(fuzzScale) || fuzzScale < 1) usage('--fuzz-scale: expected a number >= 1');
const classes = CLASSES.filter((c) => !only || only.includes(c.id));

/** Every test file of the workspace (the folders vitest.config.ts includes), repository-relative. */
function testFiles() {
  const out = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.test\.tsx?$/.test(entry.name)) out.push(relative(ROOT, path));
    }
  };
  for (const pkg of readdirSync(join(ROOT, 'packages'))) for (const sub of ['src', 'test']) if (existsSync(join(ROOT, 'packages', pkg, sub))) walk(join(ROOT, 'packages', pkg, sub));
  walk(join(ROOT, 'test'));
  return out.sort();
}

/** A test's name as a tag sees it: the innermost describe's and the test's titles. */
const tagged = (tag, title) => title.trimStart().toLowerCase().startsWith(tag);
const mentionsTag = (text, tag) => new RegExp(`['"\`]${tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'i').test(text);

// Which files each class takes: by name, or for its tagged tests.
const membership = new Map(); // file -> [{ cls, whole }]
for (const file of testFiles()) {
  const text = readFileSync(join(ROOT, file), 'utf8');
  for (const cls of classes) {
    const whole = cls.files.test(file);
    if (whole || mentionsTag(text, cls.tag)) membership.set(file, [...(membership.get(file) ?? []), { cls, whole }]);
  }
}
const files = [...membership.keys()];
if (files.length === 0) usage('no test file matches the selected classes');
if (args.includes('--list')) {
  for (const cls of classes) {
    console.log(`${cls.id}:`);
    for (const [file, member] of membership) for (const m of member) if (m.cls === cls) console.log(`  ${file}${m.whole ? '' : ` (tests tagged ${cls.tag})`}`);
  }
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'tidings-reliability-'));
const jsonOut = join(dir, 'vitest.json');
const figuresOut = join(dir, 'figures.jsonl');
const fuzzOut = join(dir, 'fuzz.jsonl');
const command = `npm run reliability:report${args.length ? ` -- ${args.join(' ')}` : ''}`;
console.log(`reliability report: ${files.length} test files\n${files.map((f) => `  ${f}`).join('\n')}`);
const started = Date.now();
const vitest = spawnSync(
  'npx',
  ['vitest', 'run', '--no-file-parallelism', '--reporter=default', '--reporter=json', `--outputFile.json=${jsonOut}`, ...(fuzzScale > 1 ? ['--testTimeout', '0', '--hookTimeout', '60000'] : []), ...files],
  { cwd: ROOT, stdio: 'inherit', env: { ...process.env, TIDINGS_RELIABILITY_OUT: figuresOut, TIDINGS_FUZZ_REPORT: fuzzOut, TIDINGS_FUZZ_SCALE: String(fuzzScale) } },
);
const seconds = Math.round((Date.now() - started) / 1000);
const lines = (file) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
const result = existsSync(jsonOut) ? JSON.parse(readFileSync(jsonOut, 'utf8')) : { testResults: [] };
const figures = lines(figuresOut);
const fuzzRows = lines(fuzzOut);
rmSync(dir, { recursive: true, force: true });

// Tests per class.
const rows = new Map(classes.map((c) => [c.id, { cls: c, files: new Set(), passed: 0, failed: 0, skipped: 0, ms: 0, failures: [] }]));
let fileErrors = 0;
for (const fileResult of result.testResults ?? []) {
  const file = relative(ROOT, fileResult.name);
  const member = membership.get(file) ?? [];
  if (fileResult.status === 'failed' && (fileResult.assertionResults ?? []).every((a) => a.status !== 'failed')) {
    fileErrors++;
    for (const { cls } of member) rows.get(cls.id).failures.push(`${file}: ${String(fileResult.message ?? 'failed outside a test').split('\n')[0]}`);
  }
  for (const test of fileResult.assertionResults ?? []) {
    for (const { cls, whole } of member) {
      if (!whole && ![test.title, ...(test.ancestorTitles ?? [])].some((t) => tagged(cls.tag, t))) continue;
      const row = rows.get(cls.id);
      row.files.add(file);
      row.ms += test.duration ?? 0;
      if (test.status === 'passed') row.passed++;
      else if (test.status === 'failed') {
        row.failed++;
        row.failures.push(`${file}: ${test.fullName}`);
      } else row.skipped++;
    }
  }
}

const fuzzExecutions = fuzzRows.reduce((n, r) => n + r.executions, 0);
const fuzzCrashes = fuzzRows.reduce((n, r) => n + r.failures, 0);

// The block.
const git = (...a) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
const commit = git('rev-parse', '--short', 'HEAD');
const dirty = git('status', '--porcelain', '--untracked-files=no').split('\n').filter(Boolean).length;
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const out = [];
out.push(START);
out.push('');
out.push(`Generated by \`${command}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at commit \`${commit}\`${dirty ? ` (working tree with ${dirty} uncommitted changed file${dirty > 1 ? 's' : ''})` : ''}; Node ${process.version}, ${process.env.CI ? 'CI=true (Redis and PostgreSQL tests cannot skip)' : 'CI not set (Redis and PostgreSQL tests skip when those are missing)'}; vitest run of ${files.length} files in ${seconds} s. Do not edit by hand: run the command again.`);
out.push('');
out.push('| Class | Test files | Tests passed | Failed | Skipped | Test time |');
out.push('|---|---:|---:|---:|---:|---:|');
for (const row of rows.values()) out.push(`| ${row.cls.name} | ${row.files.size} | ${row.passed} | ${row.failed} | ${row.skipped} | ${(row.ms / 1000).toFixed(1)} s |`);
out.push('');
if (fuzzRows.length) {
  out.push(`Fuzzing at scale ${fuzzScale}: ${fuzzExecutions.toLocaleString('en')} executions of ${fuzzRows.length} properties, ${fuzzCrashes} crashes (failed properties).`);
  out.push('');
}
if (figures.length) {
  out.push('Figures the tests counted (one row per run of a test, in the order of the classes; counts, unless named `…Ms`: milliseconds, or shown in MiB):');
  out.push('');
  out.push('| Class | Case | Figures |');
  out.push('|---|---|---|');
  const order = (f) => { const i = CLASSES.findIndex((c) => c.id === f.suite); return i < 0 ? CLASSES.length : i; };
  const shown = ([k, v]) => (/Bytes$/.test(k) && typeof v === 'number' ? `${k.slice(0, -5)} ${(v / 1048576).toFixed(0)} MiB` : `${k} ${v}`);
  for (const f of [...figures].sort((a, b) => order(a) - order(b))) out.push(`| ${cell(f.suite)} | ${cell(f.case)} | ${cell(Object.entries(f.figures).map(shown).join(', '))} |`);
  out.push('');
}
const failures = [...rows.values()].flatMap((r) => r.failures);
if (failures.length) {
  out.push(`**Failures (${failures.length}):**`);
  out.push('');
  for (const f of failures) out.push(`- ${cell(f)}`);
  out.push('');
}
out.push(END);
const block = out.join('\n');

console.log(`\n${block}\n`);
const ok = vitest.status === 0 && failures.length === 0 && fileErrors === 0 && fuzzCrashes === 0;
if (!dryRun) {
  const doc = readFileSync(DOC, 'utf8');
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) {
    console.error(`${relative(ROOT, DOC)}: no ${START} ... ${END} block to rewrite`);
    process.exit(2);
  }
  writeFileSync(DOC, doc.slice(0, a) + block + doc.slice(b + END.length));
  console.log(`wrote ${relative(ROOT, DOC)}`);
}
process.exit(ok ? 0 : 1);
