#!/usr/bin/env node
/**
 * Fan-out benchmark orchestrator: Tidings vs two bare `ws` baselines, and
 * Tidings over Server-Sent Events vs Tidings over WebSocket (`--sse`).
 *
 *   npm run bench                    # build, then the full run
 *   node bench/run.js --quick        # smoke run (~1 minute)
 *   node bench/run.js --sse          # workload A, Tidings over WebSocket and over SSE (~4 minutes)
 *   node bench/run.js --help         # every flag
 *
 * For each workload and each server (one server at a time), it forks the server
 * process and N sink processes, connects every subscriber, then measures:
 *   - "turn": one publication per event-loop turn (setImmediate loop in the server);
 *   - "sweep": fixed publication rates stepping up until delivered msg/s stops rising.
 * See bench/README.md for what every number means.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cpuMs,
  fmtInt,
  fmtK,
  fmtMs,
  fmtPct,
  fmtRatio,
  fmtUs,
  isInterrupted,
  killAll,
  layout,
  loadBuiltServer,
  log,
  median,
  medianStep,
  parseOrExit,
  percentile,
  pin,
  runMeta,
  sleep,
  spawnChild,
} from './lib/orchestrate.js';
import { formatSummary, summarizeProfile } from './lib/profile-summary.js';
import { flags, optionKey, positiveNumber } from './lib/args.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');

/** `transport`: how the sinks connect to it (`ws`: WebSocket; `sse`: Tidings' Server-Sent Events transport). */
const SERVERS = {
  tidings: { file: 'servers/tidings-server.js', label: 'Tidings', transport: 'ws' },
  'ws-per-sub': { file: 'servers/ws-per-sub-server.js', label: 'bare ws, per-subscriber send', transport: 'ws' },
  'ws-coalesced': { file: 'servers/ws-coalesced-server.js', label: 'bare ws, coalesced', transport: 'ws' },
  // The same Tidings server (its own process, same settings), its subscribers on SSE.
  'tidings-sse': { file: 'servers/tidings-server.js', label: 'Tidings over SSE', transport: 'sse' },
  // `--history`: the workload's channels keep history (size 100, 5 min), in memory or also in the
  // server's SQLite file (history.store: sqlite); each server has a fresh SQLite file of its own.
  'tidings-history': { file: 'servers/tidings-server.js', label: 'Tidings, history in memory', transport: 'ws', history: 'memory' },
  'tidings-history-sqlite': { file: 'servers/tidings-server.js', label: 'Tidings, history in SQLite', transport: 'ws', history: 'sqlite' },
};

/** The configuration a `history` server adds: history on the bench namespace, kept where `store` says, a fresh SQLite file. */
function historyConfig(store, key) {
  const file = path.join(os.tmpdir(), `tidings-bench-${key}-${process.pid}-${Date.now()}.db`);
  return { namespaces: { bench: { history: { size: 100, ttl: '5m' } } }, history: { store }, store: { path: file } };
}
const DEFAULT_SERVERS = ['tidings', 'ws-per-sub', 'ws-coalesced'];

const WORKLOADS = {
  A: { id: 'A', label: '1 channel × 2,000 subscribers', channels: 1, subsPerChannel: 2000 },
  B: { id: 'B', label: '500 channels × 10 subscribers', channels: 500, subsPerChannel: 10 },
};

const BARS = { turn: 0.8, saturation: 0.5 };

// ---------------------------------------------------------------- options

const HELP = `usage: node bench/run.js [flags]

  --quick               smoke run: --window 2 --warmup 0.5 --rounds 1 --factor 2 --max-steps 4
  --sse                 SSE vs WebSocket: --workloads A --servers tidings,tidings-sse --rounds 3
  --history             history in memory vs in SQLite (history.store): --workloads A
                        --servers tidings-history,tidings-history-sqlite --rounds 3
                        (each still overridable); prints SSE / WebSocket ratios
  --workloads A,B       workloads to run (A: 1 ch x 2000 subs, B: 500 ch x 10 subs)
  --servers LIST        subset of: ${Object.keys(SERVERS).join(',')}
                        (default ${DEFAULT_SERVERS.join(',')}; tidings-sse is Tidings with
                        its subscribers on Server-Sent Events)
  --modes turn,sweep    which publish modes to run
  --window SEC          measurement window per step (default 4)
  --warmup SEC          publishing before each window starts (default 1)
  --rounds N            "turn" measurements per server, interleaved; the median is
                        reported (default 5)
  --rates LIST          sweep targets in delivered msg/s, e.g. 50000,100000,200000
                        (default: --start-rate, x --factor per step, up to --max-steps)
  --start-rate N        first sweep target, delivered msg/s (default 20000)
  --factor X            sweep step factor (default 1.5)
  --max-steps N         sweep steps at most (default 14)
  --sinks N             sink processes (default 2)
  --probes N            latency probe connections per workload (default 20)
  --concurrency N       connections being opened at once, over all sinks (default 200)
  --drain-timeout SEC   longest wait for sinks to receive everything after a step (default 30)
  --pin                 pin the server to CPU 0 and the sinks to the other CPUs (taskset)
  --profile LIST        CPU-profile these servers' measurement windows (in-process
                        inspector); writes bench/out/prof/*.cpuprofile and prints top functions
  --http-replay-bytes N set Tidings' http.replayBytes (SSE replay window; default: the
                        server's own default, 1 MiB); for experiments
  --out DIR             where results go (default bench/out)
  --help
`;

function parseArgs(argv) {
  const o = {
    quick: false,
    sse: false,
    history: false,
    workloads: ['A', 'B'],
    servers: DEFAULT_SERVERS,
    modes: ['turn', 'sweep'],
    window: 4,
    warmup: 1,
    rates: null,
    rounds: 5,
    startRate: 20_000,
    factor: 1.5,
    maxSteps: 14,
    sinks: 2,
    probes: 20,
    concurrency: 200,
    drainTimeout: 30,
    pin: false,
    profile: [],
    httpReplayBytes: undefined,
    out: path.join(HERE, 'out'),
  };
  const explicit = new Set();
  const list = (v) => v.split(',').map((s) => s.trim()).filter(Boolean);
  const num = positiveNumber;
  for (const [arg, value] of flags(argv, ['quick', 'sse', 'history', 'pin', 'help'])) {
    explicit.add(arg);
    switch (arg) {
      case 'help':
        process.stdout.write(HELP);
        process.exit(0);
      case 'quick':
        o.quick = true;
        break;
      case 'history':
        o.history = true;
        break;
      case 'sse':
        o.sse = true;
        break;
      case 'pin':
        o.pin = true;
        break;
      case 'workloads':
        o.workloads = list(value).map((w) => w.toUpperCase());
        for (const w of o.workloads) if (!WORKLOADS[w]) throw new Error(`unknown workload ${w}`);
        break;
      case 'servers':
        o.servers = list(value);
        for (const s of o.servers) if (!SERVERS[s]) throw new Error(`unknown server ${s}`);
        break;
      case 'modes':
        o.modes = list(value);
        for (const m of o.modes) if (m !== 'turn' && m !== 'sweep') throw new Error(`unknown mode ${m}`);
        break;
      case 'profile':
        o.profile = list(value);
        for (const s of o.profile) if (!SERVERS[s]) throw new Error(`unknown server ${s}`);
        break;
      case 'rates':
        o.rates = list(value).map((v) => num(arg, v));
        break;
      case 'window':
      case 'warmup':
      case 'rounds':
      case 'factor':
      case 'drain-timeout':
      case 'start-rate':
      case 'max-steps':
      case 'sinks':
      case 'probes':
      case 'concurrency': {
        const key = optionKey(arg);
        o[key] = num(arg, value);
        break;
      }
      case 'http-replay-bytes': {
        const n = Number(value);
        if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${arg}: expected a byte count, got ${JSON.stringify(value)}`);
        o.httpReplayBytes = n;
        break;
      }
      case 'out':
        o.out = path.resolve(value);
        break;
      default:
        throw new Error(`unknown flag --${arg} (see --help)`);
    }
  }
  if (o.sse) {
    if (!explicit.has('workloads')) o.workloads = ['A'];
    if (!explicit.has('servers')) o.servers = ['tidings', 'tidings-sse'];
    if (!explicit.has('rounds') && !o.quick) o.rounds = 3;
  }
  if (o.history) {
    if (!explicit.has('workloads')) o.workloads = ['A'];
    if (!explicit.has('servers')) o.servers = ['tidings-history', 'tidings-history-sqlite'];
    if (!explicit.has('rounds') && !o.quick) o.rounds = 3;
  }
  if (o.quick) {
    if (!explicit.has('window')) o.window = 2;
    if (!explicit.has('warmup')) o.warmup = 0.5;
    if (!explicit.has('factor')) o.factor = 2;
    if (!explicit.has('rounds')) o.rounds = 1;
    if (!explicit.has('max-steps')) o.maxSteps = 4;
  }
  if (o.factor <= 1) throw new Error('--factor must be > 1');
  o.sinks = Math.floor(o.sinks);
  o.maxSteps = Math.floor(o.maxSteps);
  o.rounds = Math.floor(o.rounds);
  return o;
}

// ---------------------------------------------------------------- one workload, every server

/**
 * Starts every server of the workload (each in its own process) and the sinks,
 * which hold the subscribers of all of them. Then runs the steps one server at a
 * time, interleaved (step 1 of each server, step 2 of each server, ...): only
 * the server under test publishes, the others sit idle, so background noise on
 * a shared machine hits every server alike.
 */
async function runWorkload(opts, workload, serverKeys, secret, mintToken) {
  const { channels, total, perSink, probes } = layout(workload, opts.sinks, opts.probes);
  // One user per connection, as in a real deployment (and per-user connection limits stay out of the way).
  for (const conns of perSink) for (const c of conns) c.token = await mintToken(secret, { sub: `b${c.k}`, ttlSeconds: 24 * 3600 });
  const results = serverKeys.map((key) => ({
    server: key,
    label: SERVERS[key].label,
    transport: SERVERS[key].transport,
    workload: workload.id,
    connections: total,
    probes,
    profiled: opts.profile.includes(key),
    lostConnections: 0,
    steps: [],
  }));
  const servers = [];
  const sinks = [];
  try {
    for (let i = 0; i < serverKeys.length; i++) {
      const child = spawnChild(SERVERS[serverKeys[i]].file, `${serverKeys[i]} server`);
      servers.push(child);
      const options = opts.httpReplayBytes !== undefined ? { httpReplayBytes: opts.httpReplayBytes } : {};
      if (SERVERS[serverKeys[i]].history) options.config = historyConfig(SERVERS[serverKeys[i]].history, serverKeys[i]);
      const ready = await child.request({ type: 'init', channels, secret, options }, 30_000, 'init');
      if (opts.pin) pin(child.pid, '0');
      child.transport = SERVERS[serverKeys[i]].transport;
      results[i].serverMeta = { ...(ready.meta ?? {}), frameBytes: ready.frameBytes };
      child.url = child.transport === 'sse' ? `http://127.0.0.1:${ready.port}${ready.httpPath}` : `ws://127.0.0.1:${ready.port}${ready.path}`;
      log(`  ${SERVERS[serverKeys[i]].label}: pid ${child.pid}, ${child.url}`);
    }
    const urls = servers.map((s) => s.url);
    const transports = servers.map((s) => s.transport);
    for (let i = 0; i < perSink.length; i++) {
      const child = spawnChild('sink.js', `sink ${i}`, {
        onUnsolicited: (msg) => {
          if (msg.type === 'lost') results[msg.srv].lostConnections += msg.count;
        },
      });
      sinks.push(child);
      if (opts.pin && os.cpus().length > 1) pin(child.pid, `1-${os.cpus().length - 1}`);
    }
    const perSinkConcurrency = Math.max(1, Math.ceil(opts.concurrency / sinks.length));
    const t0 = Date.now();
    const subscribed = await Promise.all(
      sinks.map((s, i) => {
        // Every server's subscribers, server by server.
        const conns = [];
        for (let srv = 0; srv < servers.length; srv++) for (const c of perSink[i]) conns.push({ srv, ...c });
        return s.request({ type: 'init', urls, transports, conns, concurrency: perSinkConcurrency }, 60_000 + 40 * conns.length, 'connect and subscribe');
      }),
    );
    for (let srv = 0; srv < servers.length; srv++) {
      const n = subscribed.reduce((sum, r) => sum + r.perServer[srv], 0);
      if (n !== total) throw new Error(`${serverKeys[srv]}: only ${n} of ${total} connections subscribed`);
    }
    const connectSeconds = (Date.now() - t0) / 1000;
    const rateLimited = subscribed.reduce((n, r) => n + r.rateLimited, 0);
    log(
      `  ${servers.length} x ${total} connections subscribed in ${connectSeconds.toFixed(1)} s (${sinks.length} sinks, ${probes} probes per server)` +
        (rateLimited ? `; ${rateLimited} handshakes answered 429 and retried` : ''),
    );
    await sleep(500);

    const markSinks = (srv, latency) => Promise.all(sinks.map((s) => s.request({ type: 'mark', srv, latency }, 15_000, 'mark')));
    const frameTotal = (marks) => marks.reduce((n, m) => n + m.frames, 0);
    const sinksAlive = () => sinks.every((s) => !s.isDead());

    // Publications made by each server so far: an SSE session's replay window
    // (http.replayBytes) fills with them, and a full window changes its costs.
    const publishedSoFar = serverKeys.map(() => 0);
    const measure = async (srv, mode, rate, label) => {
      const server = servers[srv];
      const key = serverKeys[srv];
      const result = results[srv];
      const profiling = result.profiled;
      const lostBefore = result.lostConnections;
      await sleep(250); // let the previous step's sockets and GC settle
      const base = frameTotal(await markSinks(srv));
      server.send({ type: 'run', mode, rate });
      await sleep(opts.warmup * 1000);
      if (profiling) await server.request({ type: 'profile-start' }, 10_000);
      const [s0, k0] = await Promise.all([server.request({ type: 'mark' }, 10_000), markSinks(srv, 'reset')]);
      await sleep(opts.window * 1000);
      const [s1, k1] = await Promise.all([server.request({ type: 'mark' }, 10_000), markSinks(srv, 'collect')]);
      const stopped = await server.request({ type: 'stop' }, 10_000);
      const framesPerSessionBefore = publishedSoFar[srv] / workload.channels;
      publishedSoFar[srv] += stopped.published;
      let profile;
      if (profiling) {
        const dir = path.join(opts.out, 'prof');
        mkdirSync(dir, { recursive: true });
        const file = path.join(dir, `${workload.id}-${key}-${label.replace(/[^A-Za-z0-9.]+/g, '_')}.cpuprofile`);
        await server.request({ type: 'profile-stop', file }, 30_000);
        profile = { file: path.relative(ROOT, file), summary: summarizeProfile(JSON.parse(readFileSync(file, 'utf8')), 20) };
      }

      // Wait until the sinks received every frame of this step (or stopped receiving).
      const expected = stopped.published * workload.subsPerChannel;
      const drainStart = Date.now();
      let received = frameTotal(await markSinks(srv)) - base;
      let last = received;
      let lastChange = Date.now();
      while (received < expected && Date.now() - drainStart < opts.drainTimeout * 1000 && Date.now() - lastChange < 3000) {
        await sleep(200);
        received = frameTotal(await markSinks(srv)) - base;
        if (received !== last) {
          last = received;
          lastChange = Date.now();
        }
      }

      const frames = k1.reduce((n, m, i) => n + m.frames - k0[i].frames, 0);
      const delivered = k1.reduce((n, m, i) => n + (m.frames - k0[i].frames) / ((m.now - k0[i].now) / 1000), 0);
      const serverSeconds = (s1.now - s0.now) / 1000;
      const serverCpuMs = cpuMs(s1.cpu) - cpuMs(s0.cpu);
      const lat = [];
      for (const m of k1) for (const v of m.lat) lat.push(v);
      lat.sort((a, b) => a - b);
      const step = {
        mode,
        label,
        ...(rate !== undefined ? { targetPubPerSec: rate, targetMsgPerSec: rate * workload.subsPerChannel } : {}),
        seconds: serverSeconds,
        deliveredMsgPerSec: delivered,
        publishedPerSec: (s1.published - s0.published) / serverSeconds,
        skippedPublications: s1.dropped - s0.dropped,
        latencyMs: { samples: lat.length, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat.length ? lat[lat.length - 1] : null },
        serverCpuPct: (serverCpuMs / (s1.now - s0.now)) * 100,
        serverCpuUsPerMsg: frames > 0 ? (serverCpuMs * 1000) / frames : null,
        sinksCpuPct: k1.reduce((n, m, i) => n + ((cpuMs(m.cpu) - cpuMs(k0[i].cpu)) / (m.now - k0[i].now)) * 100, 0),
        publishedInStep: stopped.published,
        framesPerSessionBefore,
        expectedFrames: expected,
        receivedFrames: received,
        drainSeconds: (Date.now() - drainStart) / 1000,
        lostConnections: result.lostConnections - lostBefore,
        ...(profile ? { profile } : {}),
      };
      if (rate !== undefined) step.saturated = delivered < 0.95 * step.targetMsgPerSec || step.skippedPublications > 0.02 * rate * serverSeconds;
      result.steps.push(step);
      log(
        `    ${SERVERS[key].label.padEnd(28)} ${label.padEnd(12)} delivered ${fmtInt(delivered).padStart(9)} msg/s  pub ${fmtInt(step.publishedPerSec).padStart(7)}/s  ` +
          `p50 ${fmtMs(step.latencyMs.p50)} p99 ${fmtMs(step.latencyMs.p99)} ms  server CPU ${step.serverCpuPct.toFixed(0)}% (${fmtUs(step.serverCpuUsPerMsg)} µs/msg)  sinks CPU ${step.sinksCpuPct.toFixed(0)}%` +
          (step.saturated ? '  [saturated]' : '') +
          (received !== expected ? `  [received ${received} of ${expected} frames]` : '') +
          (step.lostConnections ? `  [${step.lostConnections} connections lost]` : ''),
      );
      if (profile) log(formatSummary(profile.summary, `profile ${profile.file}`).replace(/^/gm, '      '));
      return step;
    };

    /** Runs one step of one server; a failing server is dropped, failing sinks end the workload. */
    const attempt = async (srv, ...args) => {
      if (results[srv].error) return null;
      try {
        return await measure(srv, ...args);
      } catch (err) {
        if (!sinksAlive()) throw err;
        results[srv].error = err.message;
        log(`  ERROR (${serverKeys[srv]}): ${err.message}`);
        return null;
      }
    };

    if (opts.modes.includes('turn')) {
      const rounds = serverKeys.map(() => []);
      for (let r = 0; r < opts.rounds; r++) {
        // Rotate who goes first, so no server always follows the same one.
        for (let j = 0; j < servers.length; j++) {
          const srv = (r + j) % servers.length;
          const step = await attempt(srv, 'turn', undefined, opts.rounds > 1 ? `turn #${r + 1}` : 'turn');
          if (step) rounds[srv].push(step);
        }
      }
      for (let srv = 0; srv < servers.length; srv++) {
        if (rounds[srv].length === 0) continue;
        results[srv].turnRounds = rounds[srv].map((s) => s.deliveredMsgPerSec);
        results[srv].turn = medianStep(rounds[srv]);
        // Median CPU cost per message over the rounds (less exposed to how much CPU a round got).
        results[srv].turnCpuUsPerMsg = median(rounds[srv].map((s) => s.serverCpuUsPerMsg).filter(Number.isFinite));
      }
    }

    if (opts.modes.includes('sweep')) {
      const state = serverKeys.map(() => ({ best: null, saturatedSteps: 0, done: false }));
      for (const r of results) r.sweep = [];
      for (let i = 0; i < opts.maxSteps; i++) {
        const target = opts.rates ? opts.rates[i] : Math.round(opts.startRate * opts.factor ** i);
        if (target === undefined) break;
        if (state.every((st, srv) => st.done || results[srv].error)) break;
        for (let srv = 0; srv < servers.length; srv++) {
          const st = state[srv];
          // Every server is measured at the same targets until the last one stops rising:
          // the same workload for all, and a server whose curve plateaus before a later
          // rise (bigger batches at higher rates) is not cut off early.
          const step = await attempt(srv, 'rate', target / workload.subsPerChannel, `${fmtK(target)} msg/s`);
          if (!step) continue;
          results[srv].sweep.push(step);
          const rising = st.best === null || step.deliveredMsgPerSec > st.best.deliveredMsgPerSec * 1.03;
          if (st.best === null || step.deliveredMsgPerSec > st.best.deliveredMsgPerSec) st.best = step;
          // A server that coalesces can fall behind its target and still deliver more at the
          // next rate, so the sweep goes on while delivered msg/s rises; a server is done after
          // two steps in a row that are saturated and deliver no more than 3% over its best so
          // far (two, so that one step disturbed by other load on the machine does not end it),
          // and the sweep ends when every server is done.
          if (step.saturated) st.saturatedSteps++;
          st.flat = step.saturated && !rising ? (st.flat ?? 0) + 1 : 0;
          if (st.flat >= 2) st.done = true;
        }
      }
      for (let srv = 0; srv < servers.length; srv++) {
        const r = results[srv];
        r.best = state[srv].best;
        const unsaturated = r.sweep.filter((s) => !s.saturated);
        r.highestUnsaturated = unsaturated.length ? unsaturated[unsaturated.length - 1] : null;
        r.sweepReachedSaturation = r.sweep.some((s) => s.saturated);
      }
    }
    for (let srv = 0; srv < servers.length; srv++) {
      if (results[srv].error) continue;
      try {
        results[srv].serverInfo = (await servers[srv].request({ type: 'info' }, 10_000)).info;
      } catch (err) {
        results[srv].error = err.message;
      }
    }
    results.forEach((r) => (r.connectSeconds = connectSeconds));
  } catch (err) {
    log(`  ERROR: ${err.message}`);
    for (const r of results) r.error ??= err.message;
  } finally {
    // Sinks first (their sockets go away), then the servers; each killed by pid if it lingers.
    await Promise.all(sinks.map((c) => c.close(5000)));
    await Promise.all(servers.map((c) => c.close(5000)));
  }
  return results;
}

// ---------------------------------------------------------------- formatting

function markdown(results, opts) {
  const out = [];
  const byKey = (wl, s) => results.runs.find((r) => r.workload === wl && r.server === s);
  for (const wl of opts.workloads) {
    const w = WORKLOADS[wl];
    out.push(`### Workload ${wl}: ${w.label} (${fmtInt(w.channels * w.subsPerChannel)} connections)`, '');
    if (opts.modes.includes('turn')) {
      const rounds = opts.rounds > 1 ? ` (median of ${opts.rounds} interleaved rounds)` : '';
      out.push(`One publication per event-loop turn${rounds}:`, '');
      out.push(
        '| Server | delivered msg/s | publications/s | p50 ms | p99 ms | server CPU | server CPU µs/msg' + (opts.rounds > 1 ? ' (median of rounds)' : '') + ' | sinks CPU |' +
          (opts.rounds > 1 ? ' all rounds, msg/s |' : ''),
        '|---|---:|---:|---:|---:|---:|---:|---:|' + (opts.rounds > 1 ? '---|' : ''),
      );
      for (const s of opts.servers) {
        const r = byKey(wl, s);
        const t = r?.turn;
        if (!t) {
          out.push(`| ${SERVERS[s].label} | ${r?.error ? 'error' : '—'} | | | | | | |`);
          continue;
        }
        out.push(
          `| ${SERVERS[s].label} | ${fmtInt(t.deliveredMsgPerSec)} | ${fmtInt(t.publishedPerSec)} | ${fmtMs(t.latencyMs.p50)} | ${fmtMs(t.latencyMs.p99)} | ` +
            `${fmtPct(t.serverCpuPct)} | ${fmtUs(r.turnCpuUsPerMsg)} | ${fmtPct(t.sinksCpuPct)} |` +
            (opts.rounds > 1 ? ` ${r.turnRounds.map(fmtK).join(', ')} |` : ''),
        );
      }
      out.push('');
    }
    if (opts.modes.includes('sweep')) {
      out.push('Rate sweep, best delivered (saturation), and latency at the highest rate below saturation:', '');
      out.push(
        '| Server | best delivered msg/s | at target msg/s | server CPU at best | server CPU µs/msg at best | highest unsaturated target | p50 ms | p99 ms | server CPU |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      );
      for (const s of opts.servers) {
        const r = byKey(wl, s);
        const b = r?.best;
        if (!b) {
          out.push(`| ${SERVERS[s].label} | ${r?.error ? 'error' : '—'} | | | | | | | |`);
          continue;
        }
        const u = r.highestUnsaturated;
        out.push(
          `| ${SERVERS[s].label} | ${fmtInt(b.deliveredMsgPerSec)}${r.sweepReachedSaturation ? '' : ' (not saturated)'} | ${fmtK(b.targetMsgPerSec)} | ${fmtPct(b.serverCpuPct)} | ${fmtUs(b.serverCpuUsPerMsg)} | ` +
            (u ? `${fmtK(u.targetMsgPerSec)} | ${fmtMs(u.latencyMs.p50)} | ${fmtMs(u.latencyMs.p99)} | ${fmtPct(u.serverCpuPct)} |` : 'none | | | |'),
        );
      }
      out.push('');
      const targets = [...new Set(opts.servers.flatMap((s) => (byKey(wl, s)?.sweep ?? []).map((st) => st.targetMsgPerSec)))].sort((a, b) => a - b);
      if (targets.length) {
        out.push('Sweep detail (delivered msg/s · p50/p99 ms · server CPU; * = saturated):', '');
        out.push(`| target msg/s | ${opts.servers.map((s) => SERVERS[s].label).join(' | ')} |`, `|---:|${opts.servers.map(() => '---:').join('|')}|`);
        for (const t of targets) {
          const cells = opts.servers.map((s) => {
            const st = byKey(wl, s)?.sweep?.find((x) => x.targetMsgPerSec === t);
            if (!st) return '';
            return `${fmtK(st.deliveredMsgPerSec)}${st.saturated ? '*' : ''} · ${fmtMs(st.latencyMs.p50)}/${fmtMs(st.latencyMs.p99)} · ${fmtPct(st.serverCpuPct)}`;
          });
          out.push(`| ${fmtK(t)} | ${cells.join(' | ')} |`);
        }
        out.push('');
      }
    }
  }
  if (results.ratios.length) {
    out.push(
      'Ratios (Tidings / baseline, delivered msg/s; paired = median over rounds of round-by-round ratios; ' +
        'CPU-normalized = baseline server CPU µs/msg ÷ Tidings server CPU µs/msg):',
      '',
    );
    out.push('| Ratio | Workload | Value | Bar | Verdict | paired | CPU-normalized |', '|---|---|---:|---:|---|---:|---:|');
    for (const r of results.ratios) {
      out.push(
        `| ${r.label} | ${r.workload} | ${fmtRatio(r.value)} | ≥ ${r.bar.toFixed(2)} | ${r.value === null ? '—' : r.value >= r.bar ? 'meets' : 'BELOW'}${r.note ? ` (${r.note})` : ''} | ${fmtRatio(r.paired)} | ${fmtRatio(r.cpuNormalized)} |`,
      );
    }
    out.push('');
  }
  if (results.sseVsWs?.length) out.push(sseMarkdown(results.sseVsWs));
  const problems = results.runs.filter((r) => r.error || r.lostConnections || (r.steps ?? []).some((s) => s.receivedFrames !== s.expectedFrames));
  for (const r of problems) {
    const short = (r.steps ?? []).filter((s) => s.receivedFrames !== s.expectedFrames).length;
    out.push(
      `Note: ${r.workload}/${r.server}: ${r.error ? `error: ${r.error}; ` : ''}${r.lostConnections ? `${r.lostConnections} connections lost; ` : ''}${short ? `${short} steps did not deliver every frame` : ''}`,
    );
  }
  return out.join('\n');
}

function ratios(results, opts) {
  const list = [];
  const get = (wl, s) => results.runs.find((r) => r.workload === wl && r.server === s && !r.error);
  for (const wl of opts.workloads) {
    const t = get(wl, 'tidings');
    const p = get(wl, 'ws-per-sub');
    const c = get(wl, 'ws-coalesced');
    if (opts.modes.includes('turn') && t?.turn && p?.turn) {
      list.push({
        label: 'Tidings / bare per-subscriber, one publication per turn',
        workload: wl,
        value: t.turn.deliveredMsgPerSec / p.turn.deliveredMsgPerSec,
        bar: BARS.turn,
        cpuNormalized: p.turnCpuUsPerMsg / t.turnCpuUsPerMsg,
        // Round r of Tidings against round r of the baseline (run back to back): less exposed to slow drifts in background load.
        paired: median(t.turnRounds.map((v, i) => (p.turnRounds[i] ? v / p.turnRounds[i] : NaN)).filter(Number.isFinite)),
      });
    }
    if (opts.modes.includes('sweep') && t?.best && c?.best) {
      list.push({
        label: 'Tidings / bare coalesced, at saturation (best of sweep)',
        workload: wl,
        value: t.best.deliveredMsgPerSec / c.best.deliveredMsgPerSec,
        bar: BARS.saturation,
        cpuNormalized: c.best.serverCpuUsPerMsg / t.best.serverCpuUsPerMsg,
        ...(t.sweepReachedSaturation && c.sweepReachedSaturation ? {} : { note: 'sweep ended before saturation: raise --max-steps or --start-rate' }),
      });
    }
  }
  return list;
}

/**
 * Tidings over SSE against Tidings over WebSocket, same workload, same run: delivered
 * msg/s (SSE / WS: < 1 means SSE delivers less), server CPU µs/msg (SSE / WS: > 1 means
 * SSE costs more per message) and latency, one entry per workload where both ran.
 */
function sseComparison(results, opts) {
  const list = [];
  const get = (wl, s) => results.runs.find((r) => r.workload === wl && r.server === s && !r.error);
  for (const wl of opts.workloads) {
    const ws = get(wl, 'tidings');
    const sse = get(wl, 'tidings-sse');
    if (!ws || !sse) continue;
    const c = { workload: wl };
    if (ws.turn && sse.turn) {
      c.turn = {
        ws: ws.turn,
        sse: sse.turn,
        wsCpuUsPerMsg: ws.turnCpuUsPerMsg,
        sseCpuUsPerMsg: sse.turnCpuUsPerMsg,
        ratio: sse.turn.deliveredMsgPerSec / ws.turn.deliveredMsgPerSec,
        paired: median(sse.turnRounds.map((v, i) => (ws.turnRounds[i] ? v / ws.turnRounds[i] : NaN)).filter(Number.isFinite)),
        cpuRatio: sse.turnCpuUsPerMsg / ws.turnCpuUsPerMsg,
      };
    }
    if (ws.best && sse.best) {
      c.saturation = {
        ws: ws.best,
        sse: sse.best,
        ratio: sse.best.deliveredMsgPerSec / ws.best.deliveredMsgPerSec,
        cpuRatio: sse.best.serverCpuUsPerMsg / ws.best.serverCpuUsPerMsg,
        reached: ws.sweepReachedSaturation && sse.sweepReachedSaturation,
      };
      // Latency where both kept up: the highest target at which neither was saturated.
      const common = sse.sweep.filter((st) => !st.saturated && ws.sweep.some((w) => w.targetMsgPerSec === st.targetMsgPerSec && !w.saturated));
      const top = common[common.length - 1];
      if (top) c.latency = { targetMsgPerSec: top.targetMsgPerSec, ws: ws.sweep.find((w) => w.targetMsgPerSec === top.targetMsgPerSec), sse: top };
      // How full the SSE sessions' replay windows were before each step.
      c.framesBefore = sse.sweep.map((st) => ({ targetMsgPerSec: st.targetMsgPerSec, frames: st.framesPerSessionBefore }));
      // Per target, delivered SSE / WS.
      c.perTarget = sse.sweep
        .map((st) => {
          const w = ws.sweep.find((x) => x.targetMsgPerSec === st.targetMsgPerSec);
          return w ? { targetMsgPerSec: st.targetMsgPerSec, ratio: st.deliveredMsgPerSec / w.deliveredMsgPerSec } : null;
        })
        .filter(Boolean);
    }
    const m = sse.serverMeta ?? {};
    if (m.httpReplayBytes !== undefined && m.frameBytes) c.replay = { bytes: m.httpReplayBytes, frameBytes: m.frameBytes, frames: Math.floor(m.httpReplayBytes / m.frameBytes) };
    list.push(c);
  }
  return list;
}

function sseMarkdown(list) {
  const out = [];
  for (const c of list) {
    out.push(
      `SSE vs WebSocket, workload ${c.workload} (Tidings over SSE ÷ Tidings over WebSocket, same run; msg/s: < 1 means SSE delivers less; ` +
        'CPU µs/msg: > 1 means SSE costs the server more per message):',
      '',
      '| Measure | Tidings over WebSocket | Tidings over SSE | SSE / WS |',
      '|---|---:|---:|---:|',
    );
    const lat = (st) => `${fmtMs(st.latencyMs.p50)} / ${fmtMs(st.latencyMs.p99)}`;
    if (c.turn) {
      const t = c.turn;
      out.push(
        `| one publication per turn: delivered msg/s | ${fmtInt(t.ws.deliveredMsgPerSec)} | ${fmtInt(t.sse.deliveredMsgPerSec)} | **${fmtRatio(t.ratio)}** (paired ${fmtRatio(t.paired)}) |`,
        `| one publication per turn: server CPU µs/msg | ${fmtUs(t.wsCpuUsPerMsg)} | ${fmtUs(t.sseCpuUsPerMsg)} | ${fmtRatio(t.cpuRatio)} |`,
        `| one publication per turn: p50 / p99 ms | ${lat(t.ws)} | ${lat(t.sse)} | ${fmtRatio(t.sse.latencyMs.p50 / t.ws.latencyMs.p50)} / ${fmtRatio(t.sse.latencyMs.p99 / t.ws.latencyMs.p99)} |`,
      );
    }
    if (c.saturation) {
      const b = c.saturation;
      out.push(
        `| best delivered msg/s of the sweep (saturation) | ${fmtInt(b.ws.deliveredMsgPerSec)} at ${fmtK(b.ws.targetMsgPerSec)} | ${fmtInt(b.sse.deliveredMsgPerSec)} at ${fmtK(b.sse.targetMsgPerSec)} | **${fmtRatio(b.ratio)}**${b.reached ? '' : ' (sweep ended before saturation)'} |`,
        `| server CPU µs/msg at best (server CPU) | ${fmtUs(b.ws.serverCpuUsPerMsg)} (${fmtPct(b.ws.serverCpuPct)}) | ${fmtUs(b.sse.serverCpuUsPerMsg)} (${fmtPct(b.sse.serverCpuPct)}) | ${fmtRatio(b.cpuRatio)} |`,
      );
    }
    if (c.latency) {
      const l = c.latency;
      out.push(
        `| p50 / p99 ms at ${fmtK(l.targetMsgPerSec)} msg/s (highest target neither saturated) | ${lat(l.ws)} | ${lat(l.sse)} | ${fmtRatio(l.sse.latencyMs.p50 / l.ws.latencyMs.p50)} / ${fmtRatio(l.sse.latencyMs.p99 / l.ws.latencyMs.p99)} |`,
      );
    } else if (c.saturation) {
      out.push('| latency where both kept up | no target below saturation for both | | |');
    }
    if (c.perTarget?.length) out.push('', `Delivered SSE / WS per sweep target: ${c.perTarget.map((p) => `${fmtK(p.targetMsgPerSec)} ${fmtRatio(p.ratio)}`).join(' · ')}`);
    if (c.replay) {
      const full = c.framesBefore?.find((f) => f.frames >= c.replay.frames);
      out.push(
        '',
        `SSE replay window: http.replayBytes ${fmtInt(c.replay.bytes)} B ÷ ~${c.replay.frameBytes}-byte frames ≈ ${fmtInt(c.replay.frames)} frames per session; ` +
          `it fills as the run goes (${full ? `full from the ${fmtK(full.targetMsgPerSec)} step on` : 'not full by the end of the sweep'}). ` +
          `Frames per session before each sweep step: ${(c.framesBefore ?? []).map((f) => `${fmtK(f.targetMsgPerSec)} ${fmtK(f.frames)}`).join(' · ')}`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}

// ---------------------------------------------------------------- main

async function main() {
  const opts = parseOrExit(parseArgs);
  const { mintToken } = await loadBuiltServer();
  const secret = randomBytes(32).toString('hex');

  const meta = runMeta(opts);

  log(`fan-out bench: ${meta.date}, node ${meta.node}, ${meta.cpus} CPUs (${meta.cpuModel})`);
  log(`window ${opts.window} s, warmup ${opts.warmup} s, turn rounds ${opts.rounds}, ${opts.sinks} sinks, ${opts.probes} probes${opts.pin ? ', pinned' : ''}`);
  const started = Date.now();
  const results = { meta, runs: [], ratios: [], sseVsWs: [] };
  for (const wl of opts.workloads) {
    const w = WORKLOADS[wl];
    log(`\nworkload ${wl}: ${w.label}`);
    if (isInterrupted()) break;
    results.runs.push(...(await runWorkload(opts, w, opts.servers, secret, mintToken)));
  }
  results.ratios = ratios(results, opts);
  results.sseVsWs = sseComparison(results, opts);
  meta.elapsedSeconds = (Date.now() - started) / 1000;
  const md = markdown(results, opts);
  mkdirSync(opts.out, { recursive: true });
  const stamp = meta.date.replace(/[:.]/g, '-');
  const jsonFile = path.join(opts.out, `results-${stamp}.json`);
  writeFileSync(jsonFile, JSON.stringify(results, null, 2));
  writeFileSync(path.join(opts.out, 'latest.json'), JSON.stringify(results, null, 2));
  const header =
    `Command: \`${meta.command}\`  \nDate: ${meta.date}  \nMachine: ${meta.cpus} CPUs (nproc), ${meta.cpuModel}, ${meta.platform}, node ${meta.node}  \n` +
    `Code: commit ${meta.gitCommit ?? '?'}${meta.gitDirtyPackages ? ' + uncommitted changes under packages/' : ''}  \n` +
    `Window ${opts.window} s per step after ${opts.warmup} s warm-up; ${opts.sinks} sink processes; ${opts.probes} latency probes per server; ` +
    `turn rounds ${opts.rounds}; elapsed ${Math.round(meta.elapsedSeconds)} s\n`;
  writeFileSync(path.join(opts.out, 'latest.md'), header + '\n' + md + '\n');
  process.stdout.write('\n' + header + '\n' + md + '\n');
  log(`\nresults: ${path.relative(ROOT, jsonFile)} (also latest.json, latest.md) in ${Math.round(meta.elapsedSeconds)} s`);
  const failed = results.runs.some((r) => r.error);
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  killAll();
  process.exit(1);
});
