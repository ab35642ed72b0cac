/**
 * What bench/workers.js and bench/redis.js share: the workloads, the flags, the drain after a
 * step, the latency figures, the interleaved rounds, the run of every workload and the results
 * files. Each script keeps what it compares (servers, setups) and how it measures a step.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { flags, optionKey, positiveNumber } from './args.js';
import { HERE, ROOT, isInterrupted, loadBuiltServer, log, parseOrExit, percentile, runMeta, sleep } from './orchestrate.js';
import { loadAverage } from './proc-cpu.js';

/** `batch`: publications per request in the closed-loop step; `rate`: the paced step's target, delivered msg/s. */
export const WORKLOADS = {
  A: { id: 'A', label: '1 channel × 2,000 subscribers', channels: 1, subsPerChannel: 2000, batch: 10, rate: 100_000 },
  B: { id: 'B', label: '500 channels × 10 subscribers', channels: 500, subsPerChannel: 10, batch: 250, rate: 30_000 },
};

/**
 * The --help text. `script`: bench/<script>; `list`: [flag, table, what it is] of the compared items
 * (`--servers`, `--setups`); `text`: the words that differ (rounds, inflight, connections, rate).
 */
export function helpText(script, [flag, table, noun], text) {
  return `usage: node bench/${script} [flags]

  --quick               smoke run: --window 2 --warmup 0.5 --rounds 1
  --workloads A,B       A: 1 channel x 2000 subscribers, B: 500 channels x 10
  ${`--${flag} LIST`.padEnd(22)}subset of ${Object.keys(table).join(',')}
  --modes max,rate      max: closed loop (the ceiling); rate: a fixed rate (latency below the ceiling)
  --rounds N            interleaved rounds, the ${noun} going first rotating (default 3)
  --window SEC          measurement window per step (default 4)
  --warmup SEC          publishing before each window (default 1)
  --inflight N          max mode: requests in flight${text.inflight} (default 4)
  --connections N       ${text.connections}
  --batch-a N, --batch-b N   max mode: publications per request (default ${WORKLOADS.A.batch}, ${WORKLOADS.B.batch})
  --rate-a N, --rate-b N     rate mode: target delivered msg/s${text.rate} (default ${WORKLOADS.A.rate}, ${WORKLOADS.B.rate})
  --sinks N (2)   --probes N (20)   --concurrency N (200)   --drain-timeout SEC (30)
  --out DIR             where results go (default bench/out)
  --help
`;
}

/**
 * The flags' parser of bench/<script>: `list` and `words` as for helpText, the option `o[flag]`
 * holding the chosen keys; `connections`: the default of --connections.
 */
export function fanoutArgs(script, list, { words, connections }) {
  const help = helpText(script, list, words);
  return (argv) => parseFanoutArgs(argv, { help, list, connections });
}

function parseFanoutArgs(argv, { help, list: [flag, table, noun], connections }) {
  const o = { quick: false, workloads: ['A', 'B'], [flag]: Object.keys(table), modes: ['max', 'rate'], rounds: 3, window: 4, warmup: 1 };
  Object.assign(o, { inflight: 4, connections, sinks: 2, probes: 20, concurrency: 200, drainTimeout: 30, out: path.join(HERE, 'out') });
  o.batch = { A: WORKLOADS.A.batch, B: WORKLOADS.B.batch };
  o.rate = { A: WORKLOADS.A.rate, B: WORKLOADS.B.rate };
  const explicit = new Set();
  const list = (v) => v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const [arg, value] of flags(argv, ['quick', 'help'])) {
    explicit.add(arg);
    if (arg === 'help') {
      process.stdout.write(help);
      process.exit(0);
    } else if (arg === 'quick') o.quick = true;
    else if (arg === 'workloads') {
      o.workloads = list(value).map((w) => w.toUpperCase());
      for (const w of o.workloads) if (!WORKLOADS[w]) throw new Error(`unknown workload ${w}`);
    } else if (arg === flag) {
      o[flag] = list(value);
      for (const s of o[flag]) if (!table[s]) throw new Error(`unknown ${noun} ${s}`);
    } else if (arg === 'modes') {
      o.modes = list(value);
      for (const m of o.modes) if (m !== 'max' && m !== 'rate') throw new Error(`unknown mode ${m}`);
    } else if (/^(batch|rate)-[ab]$/.test(arg)) o[arg.slice(0, -2)][arg.slice(-1).toUpperCase()] = positiveNumber(arg, value);
    else if (['rounds', 'window', 'warmup', 'inflight', 'connections', 'sinks', 'probes', 'concurrency', 'drain-timeout'].includes(arg)) o[optionKey(arg)] = positiveNumber(arg, value);
    else if (arg === 'out') o.out = path.resolve(value);
    else throw new Error(`unknown flag --${arg} (see --help)`);
  }
  if (o.quick) {
    if (!explicit.has('window')) o.window = 2;
    if (!explicit.has('warmup')) o.warmup = 0.5;
    if (!explicit.has('rounds')) o.rounds = 1;
  }
  for (const k of ['rounds', 'inflight', 'connections', 'sinks', 'probes', 'concurrency']) o[k] = Math.floor(o[k]);
  return o;
}

/**
 * After the publishers stopped: polls `count()` (frames received since the step began) until it
 * reaches `expected`, stays put for 3 s, or `opts.drainTimeout` passes. Resolves {received, drainStart}.
 */
export async function drainFrames(count, expected, opts) {
  const drainStart = Date.now();
  let received = await count();
  let lastChange = Date.now();
  while (received < expected && Date.now() - drainStart < opts.drainTimeout * 1000 && Date.now() - lastChange < 3000) {
    await sleep(200);
    const now = await count();
    if (now !== received) lastChange = Date.now();
    received = now;
  }
  return { received, drainStart };
}

/** The probes' latencies of the sinks' marks: {samples, p50, p99, max} in ms. */
export function latencyOf(marks) {
  const lat = [];
  for (const m of marks) for (const v of m.lat ?? []) lat.push(v);
  lat.sort((a, b) => a - b);
  return { samples: lat.length, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat.length ? lat[lat.length - 1] : null };
}

/** Every mode of every round over `items`, the one going first rotating each round. */
export async function interleave(opts, items, measure) {
  for (let round = 1; round <= opts.rounds && !isInterrupted(); round++) {
    const order = items.map((_, i) => items[(i + round - 1) % items.length]);
    for (const mode of opts.modes) for (const item of order) await measure(item, mode, round);
  }
}

/**
 * The whole run: flags, token minting, every workload (`runWorkload(opts, workload, secret, mintToken, ctx)`
 * with `ctx` from `before(opts, meta)`, `after(ctx)` at the end), the summary and Markdown, and the
 * results files bench/out/<name>-<date>.json, <name>-latest.json and <name>-latest.md.
 */
export async function runBench({ name, parseArgs, before = async () => null, after = async () => {}, runWorkload, summarize, markdown, tables }) {
  const opts = parseOrExit(parseArgs);
  const { mintToken } = await loadBuiltServer();
  const secret = randomBytes(32).toString('hex');
  const meta = runMeta(opts);
  meta.loadBefore = loadAverage();
  log(`${name} bench: ${meta.date}, node ${meta.node}, ${meta.cpus} CPUs (${meta.cpuModel}); load average ${meta.loadBefore.join(' ')}`);
  const ctx = await before(opts, meta);
  const started = Date.now();
  const results = { meta, steps: [], problems: [] };
  try {
    for (const wl of opts.workloads) {
      if (isInterrupted()) break;
      log(`\nworkload ${wl}: ${WORKLOADS[wl].label}`);
      const r = await runWorkload(opts, WORKLOADS[wl], secret, mintToken, ctx);
      results.steps.push(...r.steps);
      results.problems.push(...r.problems);
    }
  } finally {
    await after(ctx);
  }
  meta.loadAfter = loadAverage();
  meta.elapsedSeconds = (Date.now() - started) / 1000;
  results.summary = summarize(results.steps, opts);
  const md = markdown(results, opts, { ...tables, WORKLOADS });
  mkdirSync(opts.out, { recursive: true });
  const stamp = meta.date.replace(/[:.]/g, '-');
  const jsonFile = path.join(opts.out, `${name}-${stamp}.json`);
  writeFileSync(jsonFile, JSON.stringify(results, null, 2));
  writeFileSync(path.join(opts.out, `${name}-latest.json`), JSON.stringify(results, null, 2));
  writeFileSync(path.join(opts.out, `${name}-latest.md`), md + '\n');
  process.stdout.write('\n' + md + '\n');
  log(`\nresults: ${path.relative(ROOT, jsonFile)} (also ${name}-latest.json, ${name}-latest.md) in ${Math.round(meta.elapsedSeconds)} s`);
  process.exitCode = results.problems.some((p) => p.includes('error')) ? 1 : 0;
}
