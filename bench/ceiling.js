#!/usr/bin/env node
/**
 * The machine's ceiling (issue 18), in one command: connection accepts, idle memory per
 * connection and the latency sweep with the p99 rule, Tidings beside bare `ws`
 * (batched per turn, pre-framed + cork, batched + JWT verification) and Socket.IO 4.
 *
 *   npm run bench:ceiling           # builds, installs bench/deps (Socket.IO), runs everything (~10 min)
 *   node bench/ceiling.js --quick   # smoke run (~3 min)
 *   node bench/ceiling.js --help
 *
 * Prints Markdown with the ratios; writes bench/out/ceiling-<date>.json and
 * ceiling-latest.{json,md}; with --results (the npm script's default) appends the
 * Markdown as a new section at the end of bench/RESULTS.md.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { flags, optionKey, positiveNumber } from './lib/args.js';
import { benchDepVersion } from './lib/bench-deps.js';
import { runAccepts } from './lib/ceiling-accepts.js';
import { runBackpressure } from './lib/ceiling-backpressure.js';
import { runMemory } from './lib/ceiling-memory.js';
import { markdown, targetRatios } from './lib/ceiling-report.js';
import { SERVERS } from './lib/ceiling-servers.js';
import { runSweep, SWEEP_WORKLOADS } from './lib/ceiling-sweep.js';
import { HERE, isInterrupted, loadBuiltServer, log, parseOrExit, ROOT, runMeta } from './lib/orchestrate.js';
import { loadAverage } from './lib/proc-cpu.js';

const PARTS = ['accepts', 'memory', 'sweep', 'backpressure'];
const titleOf = (meta) => `Ceiling: accepts, idle memory, latency under load (issue 18), ${meta.date.slice(0, 16)}Z`;
const list = (v) => v.split(',').map((s) => s.trim()).filter(Boolean);

const HELP = `usage: node bench/ceiling.js [flags]

  --quick                  smoke run: --accepts 500 --accept-rounds 1 --memory-counts 2000
                           --window 1 --warmup 0.3 --max-steps 6, no RESULTS.md section
  --parts LIST             subset of ${PARTS.join(',')} (default: all)
  --accept-servers LIST    default tidings,ws-batched,ws-jwt,socketio
  --accepts N              connects per burst (default 2000)
  --accept-concurrency N   connects in flight (default 100)
  --accept-rounds N        interleaved rounds, medians reported (default 5)
  --memory-servers LIST    default tidings,ws-batched,socketio
  --memory-counts LIST     idle connections measured, in steps (default 10000,19000)
  --sink-connections N     connections per sink process in the memory part (default 5000)
  --sweep-servers LIST     default tidings,ws-batched,ws-cork,socketio (also: ws-per-sub)
  --workloads LIST         sweep workloads: ${Object.keys(SWEEP_WORKLOADS).join(',')} (default 1x1000,100x10)
  --payload-bytes N        JSON size of a publication's data (default 100; e.g. 2048)
  --start-rate N           first sweep target, delivered msg/s (default 20000)
  --factor X               next target = previous × X (default 1.6)
  --max-steps N            sweep targets at most (default 12)
  --bp-servers LIST        backpressure: default tidings,ws-batched
  --bp-subscribers N (150)  --bp-rate N (1000 publications/s)  --bp-payload-bytes N (8192)  --bp-seconds N (12)
  --window SEC (3)  --warmup SEC (0.5)  --drain-timeout SEC (10)
  --sinks N (2)  --probes N (20)  --concurrency N (200, sink connects in flight)
  --no-pin                 do not pin (default: server on core 0, clients on the others, when taskset exists)
  --results                append the Markdown to bench/RESULTS.md (npm run bench:ceiling passes it)
  --from-json FILE         print the Markdown of an earlier run's results file, run nothing
  --out DIR                default bench/out
  --help
Servers: ${Object.entries(SERVERS).map(([k, v]) => `${k} (${v.label})`).join('; ')}
`;

function parseArgs(argv) {
  const o = {
    parts: PARTS,
    acceptServers: ['tidings', 'ws-batched', 'ws-jwt', 'socketio'],
    accepts: 2000,
    acceptConcurrency: 100,
    acceptRounds: 5,
    memoryServers: ['tidings', 'ws-batched', 'socketio'],
    memoryCounts: [10_000, 19_000],
    sinkConnections: 5000,
    sweepServers: ['tidings', 'ws-batched', 'ws-cork', 'socketio'],
    bpServers: ['tidings', 'ws-batched'],
    bpSubscribers: 150,
    bpRate: 1000,
    bpPayloadBytes: 8192,
    bpSeconds: 12,
    workloads: ['1x1000', '100x10'],
    payloadBytes: 100,
    startRate: 20_000,
    factor: 1.6,
    maxSteps: 12,
    window: 3,
    warmup: 0.5,
    drainTimeout: 10,
    sinks: 2,
    probes: 20,
    concurrency: 200,
    pin: true,
    results: false,
    out: path.join(HERE, 'out'),
  };
  const explicit = new Set();
  const serverList = (v) => {
    const l = list(v);
    for (const s of l) if (!SERVERS[s]) throw new Error(`unknown server ${s}`);
    return l;
  };
  for (const [arg, value] of flags(argv, ['quick', 'help', 'no-pin', 'results'])) {
    explicit.add(arg);
    const key = optionKey(arg);
    if (arg === 'help') {
      process.stdout.write(HELP);
      process.exit(0);
    } else if (arg === 'quick') o.quick = true;
    else if (arg === 'no-pin') o.pin = false;
    else if (arg === 'results') o.results = true;
    else if (arg === 'parts') {
      o.parts = list(value);
      for (const p of o.parts) if (!PARTS.includes(p)) throw new Error(`unknown part ${p}`);
    } else if (/^(accept|memory|sweep|bp)-servers$/.test(arg)) o[key] = serverList(value);
    else if (arg === 'workloads') {
      o.workloads = list(value);
      for (const w of o.workloads) if (!SWEEP_WORKLOADS[w]) throw new Error(`unknown workload ${w}`);
    } else if (arg === 'memory-counts') o.memoryCounts = list(value).map((v) => Math.floor(positiveNumber(arg, v)));
    else if (arg === 'out') o.out = path.resolve(value);
    else if (arg === 'from-json') o.fromJson = path.resolve(value);
    else if (['accepts', 'accept-concurrency', 'accept-rounds', 'sink-connections', 'payload-bytes', 'start-rate', 'factor', 'max-steps', 'window', 'warmup', 'drain-timeout', 'sinks', 'probes', 'concurrency', 'bp-subscribers', 'bp-rate', 'bp-payload-bytes', 'bp-seconds'].includes(arg)) {
      o[key] = positiveNumber(arg, value);
    } else throw new Error(`unknown flag --${arg} (see --help)`);
  }
  if (o.quick) {
    const d = { accepts: 500, acceptRounds: 1, memoryCounts: [2000], window: 1, warmup: 0.3, maxSteps: 6 };
    for (const [k, v] of Object.entries(d)) if (![...explicit].some((f) => optionKey(f) === k)) o[k] = v;
  }
  for (const k of ['bpSubscribers', 'bpPayloadBytes', 'bpSeconds', 'accepts', 'acceptConcurrency', 'acceptRounds', 'sinkConnections', 'payloadBytes', 'maxSteps', 'sinks', 'probes', 'concurrency']) o[k] = Math.floor(o[k]);
  if (o.factor <= 1) throw new Error('--factor must be > 1');
  if (Math.max(...o.memoryCounts) > 19_500) log('warning: more than 19,500 connections will not fit the server\'s 20,000 open files');
  return o;
}

function hasTaskset() {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function versions() {
  const serverRequire = createRequire(path.join(ROOT, 'packages/server/package.json'));
  const v = (req, name) => {
    try {
      return JSON.parse(readFileSync(req.resolve(`${name}/package.json`), 'utf8')).version;
    } catch {
      return null;
    }
  };
  const benchRequire = createRequire(path.join(HERE, 'sink.js'));
  return {
    ws: v(benchRequire, 'ws'),
    jose: v(serverRequire, 'jose'),
    'socket.io': benchDepVersion('socket.io'),
    'socket.io-client': benchDepVersion('socket.io-client'),
    'ws (under socket.io)': benchDepVersion('ws'),
  };
}

async function main() {
  const opts = parseOrExit(parseArgs);
  if (opts.fromJson) {
    const earlier = JSON.parse(readFileSync(opts.fromJson, 'utf8'));
    process.stdout.write(markdown(earlier, titleOf(earlier.meta)) + '\n');
    return;
  }
  if (opts.pin && !hasTaskset()) {
    log('taskset not found: running unpinned');
    opts.pin = false;
  }
  const { mintToken } = await loadBuiltServer();
  const secret = randomBytes(32).toString('hex');
  const meta = runMeta(opts);
  meta.versions = versions();
  meta.loadBefore = loadAverage();
  log(`ceiling bench: ${meta.date}, node ${meta.node}, ${meta.cpus} CPUs; load average ${meta.loadBefore.join(' ')}`);
  const started = Date.now();
  const results = { meta, problems: [] };
  if (opts.parts.includes('accepts') && !isInterrupted()) {
    log('\naccepts');
    results.accepts = await runAccepts(opts, secret, mintToken);
  }
  if (opts.parts.includes('memory') && !isInterrupted()) {
    log('\nidle memory');
    results.memory = await runMemory(opts, secret, mintToken);
  }
  if (opts.parts.includes('sweep')) {
    results.sweeps = {};
    for (const wl of opts.workloads) {
      if (isInterrupted()) break;
      log(`\nsweep ${wl}: ${SWEEP_WORKLOADS[wl].label}`);
      results.sweeps[wl] = await runSweep(opts, SWEEP_WORKLOADS[wl], secret, mintToken);
    }
  }
  if (opts.parts.includes('backpressure') && !isInterrupted()) {
    log('\nbackpressure: a third of the subscribers stop reading');
    results.backpressure = await runBackpressure(opts, secret, mintToken);
  }
  for (const [part, r] of [['memory', results.memory], ...Object.entries(results.sweeps ?? {})]) {
    for (const x of Object.values(r ?? {})) {
      if (x.error) results.problems.push(`${part} ${x.server}: error: ${x.error}`);
      if (x.lost) results.problems.push(`${part} ${x.server}: ${x.lost} connections lost`);
    }
  }
  meta.loadAfter = loadAverage();
  meta.elapsedSeconds = (Date.now() - started) / 1000;
  const md = markdown(results, titleOf(meta));
  mkdirSync(opts.out, { recursive: true });
  const jsonFile = path.join(opts.out, `ceiling-${meta.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(jsonFile, JSON.stringify(results, null, 2));
  writeFileSync(path.join(opts.out, 'ceiling-latest.json'), JSON.stringify(results, null, 2));
  writeFileSync(path.join(opts.out, 'ceiling-latest.md'), md + '\n');
  process.stdout.write('\n' + md + '\n');
  if (opts.results) appendFileSync(path.join(HERE, 'RESULTS.md'), '\n' + md + '\n');
  log(`\nresults: ${path.relative(ROOT, jsonFile)}${opts.results ? ', and a new section at the end of bench/RESULTS.md' : ''} in ${Math.round(meta.elapsedSeconds)} s`);
  log(targetRatios(results).join('\n'));
  process.exitCode = results.problems.some((p) => p.includes('error')) ? 1 : 0;
}

main().catch((err) => {
  log(err.stack ?? String(err));
  process.exit(1);
});
