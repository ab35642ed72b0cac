#!/usr/bin/env node
/**
 * Reconnect-storm benchmark (issue 6): does a storm of reconnecting clients, with
 * every connect and disconnect stored in the SQLite audit log, stall delivery to
 * the subscribers that stay connected?
 *
 *   npm run bench:storm              # build, then the full run (~5 minutes on a busy 2-core VM)
 *   node bench/storm.js --quick      # one round (~2 minutes; needs a build)
 *   node bench/storm.js --help       # every flag
 *
 * Three servers, one process each, all on 127.0.0.1:
 *   - Tidings with `audit.store: false` (servers/tidings-server.js),
 *   - Tidings with `audit.store: true`, a SQLite file in a temp dir (WAL, synchronous=FULL),
 *   - bare `ws`, coalesced (servers/ws-coalesced-server.js): the same-run baseline.
 * A sink process (sink.js) holds the steady subscribers of every server (one
 * channel, `--subscribers`), a storm process (storm-client.js) runs the storm.
 * For each server in turn, interleaved over `--rounds`, two steps: publishing at
 * `--rate` publications/s (inside the server, servers/common.js) without a storm
 * ("calm", a fixed window), and the same while the storm process runs
 * `--storm-cycles` cycles against that server (all `--storm-clients` connect and
 * subscribe, then all close at once), the window spanning the storm. See
 * bench/README.md, "Reconnect storm".
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  cpuMs,
  fmtInt,
  fmtK,
  fmtMs,
  fmtPct,
  fmtRatio,
  HERE,
  killAll,
  layout,
  loadBuiltServer,
  log,
  median,
  parseOrExit,
  percentile,
  ROOT,
  runMeta,
  sleep,
  spawnChild,
} from './lib/orchestrate.js';
import { formatSummary, summarizeProfile } from './lib/profile-summary.js';
import { flags, optionKey, positiveNumber } from './lib/args.js';

const SERVERS = {
  tidings: { file: 'servers/tidings-server.js', label: 'Tidings, audit.store off', audit: false },
  'tidings-audit': { file: 'servers/tidings-server.js', label: 'Tidings, audit.store on (SQLite)', audit: true },
  'ws-coalesced': { file: 'servers/ws-coalesced-server.js', label: 'bare ws, coalesced', audit: null },
};
const DEFAULT_SERVERS = ['tidings', 'tidings-audit', 'ws-coalesced'];
const CONDITIONS = ['calm', 'storm'];
const STORM_CHANNEL = 'bench:storm';

const HELP = `usage: node bench/storm.js [flags]

  --quick                 one round: --rounds 1
  --rate N                publications/s to the steady channel (default 250; each is
                          delivered to every steady subscriber)
  --subscribers N         steady subscribers, one channel (default 200)
  --storm-clients N       connections per storm cycle (default 2000)
  --storm-cycles N        storm cycles per storm step; the step's window is those cycles,
                          from the first connect to the last close (default 2)
  --storm-max-window SEC  the storm stops opening connections after SEC (default 25)
  --storm-period SEC      start a cycle SEC after the previous one started (default 0:
                          right after it ends)
  --storm-concurrency N   storm handshakes in flight at once (default 250)
  --storm-addresses N     storm client addresses 127.0.0.2 ... (default 50)
  --window SEC            measurement window of a step without storm (default 8)
  --warmup SEC            publishing before the window (default 1.5)
  --rounds N              interleaved rounds; medians are reported (default 3)
  --probes N              latency probes among the steady subscribers (default 20)
  --sinks N               sink processes (default 1)
  --servers LIST          subset of ${Object.keys(SERVERS).join(',')} (default: all)
  --flush-interval MS     audit.flushInterval of the audit server (default: the server's, 250 ms)
  --db-dir DIR            where the SQLite files go (default: a new dir under ${os.tmpdir()})
  --keep-db               keep the SQLite files (default: deleted after the row count)
  --profile LIST          CPU-profile these servers' storm windows (in-process inspector):
                          bench/out/prof/storm-*.cpuprofile and the top functions (slows them)
  --out DIR               results (default bench/out)
  --help
`;

function parseArgs(argv) {
  const o = {
    rate: 250,
    subscribers: 200,
    stormClients: 2000,
    stormPeriod: 0,
    stormCycles: 2,
    stormMaxWindow: 25,
    stormConcurrency: 250,
    stormAddresses: 50,
    window: 8,
    warmup: 1.5,
    rounds: 3,
    probes: 20,
    sinks: 1,
    servers: DEFAULT_SERVERS,
    flushInterval: undefined,
    dbDir: undefined,
    keepDb: false,
    profile: [],
    out: path.join(HERE, 'out'),
  };
  const explicit = new Set();
  const num = positiveNumber;
  for (const [arg, value] of flags(argv, ['quick', 'keep-db', 'help'])) {
    explicit.add(arg);
    const key = optionKey(arg);
    switch (arg) {
      case 'help':
        process.stdout.write(HELP);
        process.exit(0);
      case 'quick':
        o.quick = true;
        break;
      case 'keep-db':
        o.keepDb = true;
        break;
      case 'servers':
        o.servers = value.split(',').map((s) => s.trim()).filter(Boolean);
        for (const s of o.servers) if (!SERVERS[s]) throw new Error(`unknown server ${s}`);
        break;
      case 'profile':
        o.profile = value.split(',').map((x) => x.trim()).filter(Boolean);
        for (const x of o.profile) if (!SERVERS[x]) throw new Error(`unknown server ${x}`);
        break;
      case 'db-dir':
      case 'out':
        o[key] = path.resolve(value);
        break;
      case 'rate':
      case 'subscribers':
      case 'storm-clients':
      case 'storm-period':
        o[key] = Number(value);
        if (!Number.isFinite(o[key]) || o[key] < 0) throw new Error(`--${arg}: expected a number of seconds >= 0`);
        break;
      case 'storm-cycles':
      case 'storm-max-window':
      case 'storm-concurrency':
      case 'storm-addresses':
      case 'window':
      case 'warmup':
      case 'rounds':
      case 'probes':
      case 'sinks':
      case 'flush-interval':
        o[key] = num(arg, value);
        break;
      default:
        throw new Error(`unknown flag --${arg} (see --help)`);
    }
  }
  if (o.quick && !explicit.has('rounds')) o.rounds = 1;
  for (const k of ['subscribers', 'stormClients', 'stormCycles', 'stormConcurrency', 'stormAddresses', 'rounds', 'probes', 'sinks']) o[k] = Math.floor(o[k]);
  if (o.stormAddresses > 250) throw new Error('--storm-addresses: at most 250 (127.0.0.2 ... 127.0.0.251)');
  if (o.stormClients > 18_000) throw new Error('--storm-clients: at most 18,000 sockets in one storm process');
  return o;
}

// ---------------------------------------------------------------- run

async function main() {
  const opts = parseOrExit(parseArgs);
  const { mintToken } = await loadBuiltServer();
  const Database = (await import('better-sqlite3')).default;

  const dbDir = opts.dbDir ?? mkdtempSync(path.join(os.tmpdir(), 'tidings-storm-'));
  mkdirSync(dbDir, { recursive: true });
  let fsType = null;
  try {
    fsType = execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '-T', dbDir], { encoding: 'utf8' }).trim();
  } catch {
    // not Linux, or no findmnt
  }
  const meta = {
    ...runMeta(opts),
    loadavgStart: os.loadavg(),
    dbDir,
    dbFsType: fsType,
  };

  log(`reconnect-storm bench: ${meta.date}, node ${meta.node}, ${meta.cpus} CPUs, load average ${meta.loadavgStart.map((l) => l.toFixed(2)).join(' ')}`);
  log(
    `rate ${opts.rate} pub/s x ${opts.subscribers} subscribers = ${fmtK(opts.rate * opts.subscribers)} msg/s; storm ${opts.stormCycles} cycles of ${opts.stormClients} clients ` +
      `(${opts.stormConcurrency} in flight, ${opts.stormAddresses} addresses, at most ${opts.stormMaxWindow} s); calm window ${opts.window} s; warm-up ${opts.warmup} s; ${opts.rounds} rounds; SQLite in ${dbDir} (${fsType ?? '?'})`,
  );

  const secret = randomBytes(32).toString('hex');
  const workload = { channels: 1, subsPerChannel: opts.subscribers };
  const { channels, total, perSink, probes } = layout(workload, opts.sinks, opts.probes);
  for (const conns of perSink) for (const c of conns) c.token = await mintToken(secret, { sub: `b${c.k}`, ttlSeconds: 24 * 3600 });
  const stormTokens = [];
  for (let k = 0; k < opts.stormClients; k++) stormTokens.push(await mintToken(secret, { sub: `storm${k}`, ttlSeconds: 24 * 3600 }));
  const localAddresses = Array.from({ length: opts.stormAddresses }, (_, i) => `127.0.0.${i + 2}`);

  const keys = opts.servers;
  const dbFiles = {};
  const servers = [];
  const sinks = [];
  let storm;
  const lost = keys.map(() => 0);
  const steps = [];
  const started = Date.now();
  let failure = null;
  const finalInfo = {};
  try {
    for (const key of keys) {
      const def = SERVERS[key];
      const options = { loopDelay: true };
      if (def.audit !== null) {
        dbFiles[key] = path.join(dbDir, `${key}.db`);
        options.config = {
          store: { path: dbFiles[key] },
          audit: { store: def.audit, ...(def.audit && opts.flushInterval !== undefined ? { flushInterval: opts.flushInterval } : {}) },
        };
      }
      const child = spawnChild(def.file, `${key} server`);
      servers.push(child);
      const ready = await child.request({ type: 'init', channels, secret, options }, 30_000, 'init');
      child.url = `ws://127.0.0.1:${ready.port}${ready.path}`;
      child.meta = ready.meta ?? {};
      log(`  ${def.label}: pid ${child.pid}, ${child.url}`);
    }
    const urls = servers.map((s) => s.url);
    for (let i = 0; i < perSink.length; i++) {
      const child = spawnChild('sink.js', `sink ${i}`, {
        onUnsolicited: (msg) => {
          if (msg.type === 'lost') lost[msg.srv] += msg.count;
        },
      });
      sinks.push(child);
    }
    const t0 = Date.now();
    const subscribed = await Promise.all(
      sinks.map((s, i) => {
        const conns = [];
        for (let srv = 0; srv < servers.length; srv++) for (const c of perSink[i]) conns.push({ srv, ...c });
        return s.request({ type: 'init', urls, transports: urls.map(() => 'ws'), conns, concurrency: 100 }, 60_000 + 40 * conns.length, 'connect and subscribe');
      }),
    );
    for (let srv = 0; srv < servers.length; srv++) {
      const n = subscribed.reduce((sum, r) => sum + r.perServer[srv], 0);
      if (n !== total) throw new Error(`${keys[srv]}: only ${n} of ${total} steady connections subscribed`);
    }
    log(`  ${servers.length} x ${total} steady subscribers in ${((Date.now() - t0) / 1000).toFixed(1)} s (${probes} probes per server)`);
    storm = spawnChild('storm-client.js', 'storm');
    await storm.request({ type: 'init', tokens: stormTokens, channel: STORM_CHANNEL, concurrency: opts.stormConcurrency, localAddresses }, 10_000);
    await sleep(500);

    const markSinks = (srv, latency) => Promise.all(sinks.map((s) => s.request({ type: 'mark', srv, latency }, 15_000, 'mark')));
    const frameTotal = (marks) => marks.reduce((n, m) => n + m.frames, 0);
    const info = async (srv) => (await servers[srv].request({ type: 'info' }, 15_000)).info;

    const measure = async (srv, cond, round) => {
      const key = keys[srv];
      const server = servers[srv];
      const stormOn = cond === 'storm';
      const lostBefore = lost[srv];
      await sleep(1000); // the previous step's closes and audit batch settle
      const info0 = await info(srv);
      const base = frameTotal(await markSinks(srv));
      server.send({ type: 'run', mode: 'rate', rate: opts.rate });
      await sleep(opts.warmup * 1000);
      const profiling = stormOn && opts.profile.includes(key);
      if (profiling) await server.request({ type: 'profile-start' }, 10_000);
      const [s0, k0, st0] = await Promise.all([server.request({ type: 'mark', loopDelay: 'reset' }, 10_000), markSinks(srv, 'reset'), storm.request({ type: 'mark' }, 10_000)]);
      let stormDone = null;
      if (stormOn) {
        // The window is the storm: from its first connect to its last close, then the
        // audit batch of those closes (at most one flush interval later) and its commit.
        await storm.request({ type: 'start', url: server.url, periodMs: opts.stormPeriod * 1000, maxCycles: opts.stormCycles, maxSeconds: opts.stormMaxWindow }, 10_000);
        stormDone = await storm.request({ type: 'wait' }, (opts.stormMaxWindow + 40) * 1000);
        await sleep(Math.max(500, (opts.flushInterval ?? 250) * 2));
      } else {
        await sleep(opts.window * 1000);
      }
      const [s1, k1] = await Promise.all([server.request({ type: 'mark', loopDelay: 'collect' }, 10_000), markSinks(srv, 'collect')]);
      let profile;
      if (profiling) {
        const dir = path.join(opts.out, 'prof');
        mkdirSync(dir, { recursive: true });
        const file = path.join(dir, `storm-${key}-r${round + 1}.cpuprofile`);
        await server.request({ type: 'profile-stop', file }, 30_000);
        profile = { file: path.relative(ROOT, file), summary: summarizeProfile(JSON.parse(readFileSync(file, 'utf8')), 25) };
      }
      const stopped = await server.request({ type: 'stop' }, 10_000);

      // Wait until the sinks received every frame of this step (or stopped receiving).
      const expected = stopped.published * opts.subscribers;
      const drainStart = Date.now();
      let received = frameTotal(await markSinks(srv)) - base;
      let last = received;
      let lastChange = Date.now();
      while (received < expected && Date.now() - drainStart < 30_000 && Date.now() - lastChange < 3000) {
        await sleep(200);
        received = frameTotal(await markSinks(srv)) - base;
        if (received !== last) {
          last = received;
          lastChange = Date.now();
        }
      }
      await sleep(Math.max(300, (opts.flushInterval ?? 250) * 2)); // the last audit batch of the step
      const info1 = await info(srv);

      const frames = k1.reduce((n, m, i) => n + m.frames - k0[i].frames, 0);
      const delivered = k1.reduce((n, m, i) => n + (m.frames - k0[i].frames) / ((m.now - k0[i].now) / 1000), 0);
      const seconds = (s1.now - s0.now) / 1000;
      const serverCpuMs = cpuMs(s1.cpu) - cpuMs(s0.cpu);
      const lat = [];
      for (const m of k1) for (const v of m.lat) lat.push(v);
      lat.sort((a, b) => a - b);
      const stormSeconds = stormDone ? (stormDone.now - st0.now) / 1000 : 0;
      const step = {
        server: key,
        condition: cond,
        round,
        loadavg1: os.loadavg()[0],
        seconds,
        targetMsgPerSec: opts.rate * opts.subscribers,
        deliveredMsgPerSec: delivered,
        publishedPerSec: (s1.published - s0.published) / seconds,
        skippedPublications: s1.dropped - s0.dropped,
        latencyMs: { samples: lat.length, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat.length ? lat[lat.length - 1] : null },
        serverCpuPct: (serverCpuMs / (s1.now - s0.now)) * 100,
        serverCpuUsPerMsg: frames > 0 ? (serverCpuMs * 1000) / frames : null,
        loopDelayMs: s1.loopDelay ?? null,
        sinksCpuPct: k1.reduce((n, m, i) => n + ((cpuMs(m.cpu) - cpuMs(k0[i].cpu)) / (m.now - k0[i].now)) * 100, 0),
        expectedFrames: expected,
        receivedFrames: received,
        lostConnections: lost[srv] - lostBefore,
        ...(profile ? { profile } : {}),
      };
      if (stormDone) {
        const d = stormDone;
        step.storm = {
          seconds: stormSeconds,
          cpuPct: ((cpuMs(d.cpu) - cpuMs(st0.cpu)) / (d.now - st0.now)) * 100,
          connectsPerSec: d.connects / stormSeconds,
          closesPerSec: d.closes / stormSeconds,
          connects: d.connects,
          closes: d.closes,
          cycles: d.cycles,
          failures: d.failures,
          rateLimited: d.rateLimited,
          closeTimeouts: d.closeTimeouts,
          errors: d.errors,
          cycleMs: d.cycleMs,
          // Per storm connection: from `new WebSocket` to the end of the handshake, and to the `subscribe` reply.
          openMs: pct(d.openMs),
          readyMs: pct(d.readyMs),
        };
      }
      if (info0.store && info1.store) {
        const a = info0.store;
        const b = info1.store;
        step.store = {
          auditWritten: b.auditWritten - a.auditWritten,
          auditDropped: b.auditDropped - a.auditDropped,
          commits: b.commits - a.commits,
          commitMsMean: b.commits > a.commits ? ((b.commitSeconds - a.commitSeconds) * 1000) / (b.commits - a.commits) : null,
          // Bound of the histogram bucket (cumulative counts) that holds this step's slowest commit.
          slowestCommitLeMs: (() => {
            const d = b.buckets.map((x, i) => ({ le: x.le, n: x.count - (a.buckets[i]?.count ?? 0) }));
            const n = d.length ? d[d.length - 1].n : 0;
            return n > 0 ? d.find((x) => x.n >= n).le * 1000 : null;
          })(),
        };
      }
      steps.push(step);
      const st = step.storm;
      log(
        `    r${round + 1} ${SERVERS[key].label.padEnd(33)} ${cond.padEnd(5)} ${seconds.toFixed(1).padStart(4)} s  delivered ${fmtInt(delivered).padStart(8)} msg/s  p50 ${fmtMs(step.latencyMs.p50)} p99 ${fmtMs(step.latencyMs.p99)} ` +
          `max ${fmtMs(step.latencyMs.max)} ms  server CPU ${fmtPct(step.serverCpuPct)}  sinks CPU ${fmtPct(step.sinksCpuPct)}  loop lag p99/max ${fmtMs(step.loopDelayMs?.p99)}/${fmtMs(step.loopDelayMs?.max)} ms` +
          (st
            ? `  storm ${fmtInt(st.connectsPerSec)} conn/s (${st.cycles} cycles, ${st.failures} failed, subscribed after p50 ${fmtInt(st.readyMs.p50)} / p99 ${fmtInt(st.readyMs.p99)} ms, ` +
              `open p50 ${fmtInt(st.openMs.p50)} ms, CPU ${fmtPct(st.cpuPct)})`
            : '') +
          (step.store && step.store.auditWritten
            ? `  audit +${fmtInt(step.store.auditWritten)} rows in ${step.store.commits} commits (mean ${fmtMs(step.store.commitMsMean)} ms, slowest ≤ ${fmtMs(step.store.slowestCommitLeMs)} ms)`
            : '') +
          (step.skippedPublications ? `  [${step.skippedPublications} publications skipped]` : '') +
          (received !== expected ? `  [received ${received} of ${expected} frames]` : '') +
          (step.lostConnections ? `  [${step.lostConnections} steady connections lost]` : '') +
          `  load ${step.loadavg1.toFixed(1)}`,
      );
      if (profile) log(formatSummary(profile.summary, `profile ${profile.file}`).replace(/^/gm, '      '));
      return step;
    };

    for (let r = 0; r < opts.rounds; r++) {
      // Rotate which server goes first, and alternate calm/storm order, round by round.
      for (let j = 0; j < servers.length; j++) {
        const srv = (r + j) % servers.length;
        const conds = r % 2 === 0 ? CONDITIONS : [...CONDITIONS].reverse();
        for (const cond of conds) await measure(srv, cond, r);
      }
    }
    for (let srv = 0; srv < servers.length; srv++) finalInfo[keys[srv]] = await info(srv);
  } catch (err) {
    failure = err;
    log(`  ERROR: ${err.message}`);
  } finally {
    // Sinks and storm first (their sockets go away, audited as disconnects), then the servers
    // (closing flushes the audit log and the database); each killed by pid if it lingers.
    await Promise.all([...sinks.map((c) => c.close(5000)), storm?.close(5000)]);
    await Promise.all(servers.map((c) => c.close(10_000)));
  }

  // Audit rows on disk, read back from the closed database files.
  const db = {};
  for (const [key, file] of Object.entries(dbFiles)) {
    try {
      const h = new Database(file, { readonly: true, fileMustExist: true });
      const rows = h.prepare('SELECT count(*) AS n FROM audit').get().n;
      const byType = Object.fromEntries(h.prepare('SELECT type, count(*) AS n FROM audit GROUP BY type ORDER BY type').all().map((x) => [x.type, x.n]));
      h.close();
      db[key] = { file, rows, byType };
    } catch (err) {
      db[key] = { file, error: err.message };
    }
  }
  if (!opts.keepDb && !opts.dbDir) rmSync(dbDir, { recursive: true, force: true });

  meta.loadavgEnd = os.loadavg();
  meta.elapsedSeconds = (Date.now() - started) / 1000;
  const results = { meta, steps, db, finalInfo, error: failure?.message };
  results.summary = summarize(steps, opts);
  results.ratios = ratios(results.summary, steps);
  const md = markdown(results, opts);
  mkdirSync(opts.out, { recursive: true });
  const stamp = meta.date.replace(/[:.]/g, '-');
  const jsonFile = path.join(opts.out, `storm-${stamp}.json`);
  writeFileSync(jsonFile, JSON.stringify(results, null, 2));
  writeFileSync(path.join(opts.out, 'storm-latest.json'), JSON.stringify(results, null, 2));
  writeFileSync(path.join(opts.out, 'storm-latest.md'), md + '\n');
  process.stdout.write('\n' + md + '\n');
  log(`\nresults: ${path.relative(ROOT, jsonFile)} (also storm-latest.json, storm-latest.md) in ${Math.round(meta.elapsedSeconds)} s`);
  const problems = steps.some((s) => s.receivedFrames !== s.expectedFrames || s.lostConnections);
  process.exitCode = failure || problems ? 1 : 0;
}

// ---------------------------------------------------------------- numbers

/** {n, p50, p99, max} of unsorted samples. */
function pct(values) {
  const v = Float64Array.from(values).sort();
  return { n: v.length, p50: percentile(v, 50), p99: percentile(v, 99), max: v.length ? v[v.length - 1] : null };
}

/** Per server and condition: medians over the rounds (and every round's value). */
function summarize(steps, opts) {
  const cells = [];
  for (const key of opts.servers) {
    for (const cond of CONDITIONS) {
      const s = steps.filter((x) => x.server === key && x.condition === cond);
      if (s.length === 0) continue;
      const m = (f) => median(s.map(f).filter((v) => v !== null && v !== undefined && Number.isFinite(v)));
      cells.push({
        server: key,
        condition: cond,
        rounds: s.length,
        deliveredMsgPerSec: m((x) => x.deliveredMsgPerSec),
        targetMsgPerSec: s[0].targetMsgPerSec,
        p50: m((x) => x.latencyMs.p50),
        p99: m((x) => x.latencyMs.p99),
        max: Math.max(...s.map((x) => x.latencyMs.max ?? 0)),
        serverCpuPct: m((x) => x.serverCpuPct),
        loopP99: m((x) => x.loopDelayMs?.p99),
        loopMax: Math.max(...s.map((x) => x.loopDelayMs?.max ?? 0)),
        sinksCpuPct: m((x) => x.sinksCpuPct),
        skipped: s.reduce((n, x) => n + x.skippedPublications, 0),
        connectsPerSec: cond === 'storm' ? m((x) => x.storm.connectsPerSec) : null,
        stormConnects: cond === 'storm' ? s.reduce((n, x) => n + x.storm.connects, 0) : null,
        stormFailures: cond === 'storm' ? s.reduce((n, x) => n + x.storm.failures, 0) : null,
        stormCycles: cond === 'storm' ? s.reduce((n, x) => n + x.storm.cycles, 0) : null,
        stormCpuPct: cond === 'storm' ? m((x) => x.storm.cpuPct) : null,
        cycleConnectMs: cond === 'storm' ? median(s.flatMap((x) => x.storm.cycleMs.map((c) => c.connectMs))) : null,
        stormReadyP50: cond === 'storm' ? m((x) => x.storm.readyMs.p50) : null,
        windowSeconds: m((x) => x.seconds),
        stormReadyP99: cond === 'storm' ? m((x) => x.storm.readyMs.p99) : null,
        auditRows: s.some((x) => x.store) ? s.reduce((n, x) => n + (x.store?.auditWritten ?? 0), 0) : null,
        auditDropped: s.some((x) => x.store) ? s.reduce((n, x) => n + (x.store?.auditDropped ?? 0), 0) : null,
        commits: s.some((x) => x.store) ? s.reduce((n, x) => n + (x.store?.commits ?? 0), 0) : null,
        commitMsMean: m((x) => x.store?.commitMsMean),
        slowestCommitLeMs: s.some((x) => x.store?.slowestCommitLeMs) ? Math.max(...s.map((x) => x.store?.slowestCommitLeMs ?? 0)) : null,
        perRound: s.map((x) => ({ msgs: x.deliveredMsgPerSec, p99: x.latencyMs.p99 })),
        short: s.filter((x) => x.receivedFrames !== x.expectedFrames).length,
        lost: s.reduce((n, x) => n + x.lostConnections, 0),
      });
    }
  }
  return cells;
}

/**
 * a / b of a measure, from the medians, and paired: the median over rounds of
 * round r's a ÷ round r's b (steps of one round run minutes apart at most).
 */
function ratio(label, a, b, steps, stepA, stepB) {
  if (!a || !b) return null;
  const pairs = (f) => {
    const va = steps.filter(stepA);
    const out = [];
    for (const x of va) {
      const y = steps.find((s) => stepB(s) && s.round === x.round);
      if (y && f(y)) out.push(f(x) / f(y));
    }
    return median(out);
  };
  return {
    label,
    msgs: a.deliveredMsgPerSec / b.deliveredMsgPerSec,
    p50: a.p50 / b.p50,
    p99: a.p99 / b.p99,
    pairedMsgs: pairs((s) => s.deliveredMsgPerSec),
    pairedP99: pairs((s) => s.latencyMs.p99),
  };
}

function ratios(cells, steps) {
  const cell = (server, condition) => cells.find((c) => c.server === server && c.condition === condition);
  const is = (server, condition) => (s) => s.server === server && s.condition === condition;
  const list = [
    ratio('storm + audit ÷ no storm (Tidings, audit on)', cell('tidings-audit', 'storm'), cell('tidings-audit', 'calm'), steps, is('tidings-audit', 'storm'), is('tidings-audit', 'calm')),
    ratio('storm + audit ÷ storm without audit (Tidings)', cell('tidings-audit', 'storm'), cell('tidings', 'storm'), steps, is('tidings-audit', 'storm'), is('tidings', 'storm')),
    ratio('storm without audit ÷ no storm (Tidings, audit off)', cell('tidings', 'storm'), cell('tidings', 'calm'), steps, is('tidings', 'storm'), is('tidings', 'calm')),
    ratio('Tidings + audit ÷ bare ws, both in the storm', cell('tidings-audit', 'storm'), cell('ws-coalesced', 'storm'), steps, is('tidings-audit', 'storm'), is('ws-coalesced', 'storm')),
    ratio('Tidings + audit ÷ bare ws, no storm', cell('tidings-audit', 'calm'), cell('ws-coalesced', 'calm'), steps, is('tidings-audit', 'calm'), is('ws-coalesced', 'calm')),
    ratio('bare ws: storm ÷ no storm', cell('ws-coalesced', 'storm'), cell('ws-coalesced', 'calm'), steps, is('ws-coalesced', 'storm'), is('ws-coalesced', 'calm')),
  ].filter(Boolean);
  return list;
}

function markdown(results, opts) {
  const { meta, summary, ratios: rs, db } = results;
  const out = [];
  out.push(
    `Command: \`${meta.command}\`  `,
    `Date: ${meta.date}; elapsed ${Math.round(meta.elapsedSeconds)} s  `,
    `Machine: ${meta.cpus} CPUs (nproc), ${meta.cpuModel}, ${meta.platform}, node ${meta.node}; load average (1/5/15 min) ${meta.loadavgStart.map((l) => l.toFixed(2)).join(' / ')} at the start, ${meta.loadavgEnd.map((l) => l.toFixed(2)).join(' / ')} at the end  `,
    `Load: 1-min load average after each step ${results.steps.length ? `${Math.min(...results.steps.map((x) => x.loadavg1)).toFixed(1)}–${Math.max(...results.steps.map((x) => x.loadavg1)).toFixed(1)} (median ${median(results.steps.map((x) => x.loadavg1)).toFixed(1)})` : '—'} on ${meta.cpus} CPUs  `,
    `Code: commit ${meta.gitCommit ?? '?'}${meta.gitDirtyPackages ? ' + uncommitted changes under packages/' : ''}  `,
    `Steady load: ${fmtInt(opts.rate)} publications/s × ${opts.subscribers} subscribers on one channel = ${fmtK(opts.rate * opts.subscribers)} msg/s target, ${opts.probes} latency probes; ` +
      `storm: ${opts.stormCycles} cycles per storm step, each ${fmtInt(opts.stormClients)} clients connecting (JWT + subscribe to \`${STORM_CHANNEL}\`, ${opts.stormConcurrency} handshakes in flight, from ${opts.stormAddresses} addresses 127.0.0.2–${opts.stormAddresses + 1}) and then all closing at once, ` +
      `${opts.stormPeriod ? `a cycle every ${opts.stormPeriod} s at most` : 'back to back'}; a storm step's window runs from the first connect to the last close + ${Math.max(500, (opts.flushInterval ?? 250) * 2)} ms (at most ${opts.stormMaxWindow} s of connecting), a calm step's is ${opts.window} s; ` +
      `${opts.warmup} s of publishing before each window; ${opts.rounds} interleaved rounds, medians shown; ` +
      `audit server: SQLite file on ${meta.dbFsType ?? '?'} (WAL, synchronous=FULL), audit.flushInterval ${opts.flushInterval ?? 250} ms`,
    '',
  );
  out.push(
    '| Server | storm | window s | delivered msg/s | ÷ target | p50 ms | p99 ms | max ms | server CPU | event-loop lag p99 / max ms | storm: connects/s (cycles, failed) · subscribed after p50 / p99 ms | audit rows stored | per round: msg/s · p99 ms |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  );
  for (const c of summary) {
    out.push(
      `| ${SERVERS[c.server].label} | ${c.condition === 'storm' ? 'yes' : 'no'} | ${c.windowSeconds.toFixed(1)} | ${fmtInt(c.deliveredMsgPerSec)} | ${fmtRatio(c.deliveredMsgPerSec / c.targetMsgPerSec)} | ${fmtMs(c.p50)} | ${fmtMs(c.p99)} | ${fmtMs(c.max)} | ${fmtPct(c.serverCpuPct)} | ` +
        `${fmtMs(c.loopP99)} / ${fmtMs(c.loopMax)} | ${c.condition === 'storm' ? `${fmtInt(c.connectsPerSec)} (${c.stormCycles}, ${c.stormFailures}) · ${fmtInt(c.stormReadyP50)} / ${fmtInt(c.stormReadyP99)}` : '—'} | ` +
        `${c.auditRows === null ? '—' : fmtInt(c.auditRows)}${c.auditDropped ? ` (${fmtInt(c.auditDropped)} dropped)` : ''} | ` +
        `${c.perRound.map((p) => `${fmtK(p.msgs)} · ${fmtMs(p.p99)}`).join(', ')} |`,
    );
  }
  out.push('');
  if (rs.length) {
    out.push('Ratios (medians over rounds; paired = median of round-by-round ratios):', '', '| Ratio | delivered msg/s | paired | p50 | p99 | paired p99 |', '|---|---:|---:|---:|---:|---:|');
    for (const r of rs) out.push(`| ${r.label} | ${fmtRatio(r.msgs)} | ${fmtRatio(r.pairedMsgs)} | ${fmtRatio(r.p50)} | ${fmtRatio(r.p99)} | ${fmtRatio(r.pairedP99)} |`);
    out.push('');
  }
  const auditStorm = summary.find((c) => c.server === 'tidings-audit' && c.condition === 'storm');
  if (auditStorm) {
    out.push(
      `Audit server in the storm steps: ${fmtInt(auditStorm.stormConnects)} storm connections (connect + disconnect = ${fmtInt(2 * auditStorm.stormConnects)} events), ` +
        `${fmtInt(auditStorm.auditRows)} audit rows stored in ${fmtInt(auditStorm.commits)} group commits (mean ${fmtMs(auditStorm.commitMsMean)} ms each, fsync included; slowest ≤ ${fmtMs(auditStorm.slowestCommitLeMs)} ms), ` +
        `${fmtInt(auditStorm.auditDropped)} dropped; a storm cycle's ${fmtInt(opts.stormClients)} connects took ${auditStorm.cycleConnectMs === null ? '— (no cycle completed inside a step)' : `${fmtInt(auditStorm.cycleConnectMs)} ms (median)`}.`,
    );
  }
  for (const [key, d] of Object.entries(db)) {
    out.push(
      d.error
        ? `Rows in the ${key} database: could not read ${d.file}: ${d.error}`
        : `Rows in the ${key} database after the run (\`SELECT count(*) FROM audit\`, opened read-only): ${fmtInt(d.rows)} (${Object.entries(d.byType).map(([t, n]) => `${t} ${fmtInt(n)}`).join(', ') || 'none'}).`,
    );
  }
  const problems = summary.filter((c) => c.short || c.lost || c.skipped || c.stormFailures);
  for (const c of problems) {
    out.push(
      `Note: ${c.server}/${c.condition}: ${c.short ? `${c.short} steps did not deliver every frame; ` : ''}${c.lost ? `${c.lost} steady connections lost; ` : ''}${c.skipped ? `${c.skipped} publications skipped (publisher > 100 ms behind); ` : ''}${c.stormFailures ? `${c.stormFailures} storm connections failed` : ''}`,
    );
  }
  const errs = [...new Set(results.steps.flatMap((s) => s.storm?.errors ?? []))];
  if (errs.length) out.push(`Storm errors (first of each kind): ${errs.join('; ')}`);
  if (results.error) out.push(`ERROR: ${results.error}`);
  return out.join('\n');
}

main().catch((err) => {
  console.error(err);
  killAll();
  process.exit(1);
});
