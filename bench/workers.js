#!/usr/bin/env node
/**
 * Workers benchmark (issue 13): fan-out through `tidings serve` as one process, as a primary
 * with one worker (the IPC engine's cost), and with `--workers 2`, in one run, interleaved.
 *
 *   npm run bench:workers              # build protocol + server, then the full run
 *   node bench/workers.js --quick      # smoke run (needs the build)
 *   node bench/workers.js --help
 *
 * Every server is a real `tidings serve` child process (lib/serve-process.js). Publications
 * come from outside, from a publisher process per server (lib/api-publisher.js, the server
 * API's POST /broadcast); the subscribers are held by sink processes (sink.js, unchanged).
 * CPU is read from /proc for every process (primary, each worker, sinks, publisher) and for
 * the machine. See bench/README.md, "Workers".
 */
import { randomBytes } from 'node:crypto';
import { WORKLOADS, drainFrames, fanoutArgs, interleave, latencyOf, runBench } from './lib/fanout-bench.js';
import { killAll, layout, log, sleep, spawnChild } from './lib/orchestrate.js';
import { machineCpu, machineDelta, processCpu, processDelta } from './lib/proc-cpu.js';
import { startServe } from './lib/serve-process.js';
import { markdown, summarize } from './lib/workers-report.js';

export const SERVERS = {
  single: { label: 'one process (tidings serve)', kind: 'single', workers: 1 },
  primary1: { label: 'primary + 1 worker (IPC)', kind: 'primary1', workers: 1 },
  workers2: { label: 'tidings serve --workers 2', kind: 'workers', workers: 2 },
};

export { WORKLOADS };

const parseArgs = fanoutArgs('workers.js', ['servers', SERVERS, 'server'], {
  connections: 4,
  words: {
    inflight: '',
    connections: "the publisher's keep-alive connections per server (default 4)",
    rate: '',
  },
});

/** CPU times now of every process of the run and of the machine. */
function cpuSnapshot(servers, sinks, publishers) {
  return {
    at: performance.now(),
    machine: machineCpu(),
    servers: servers.map((s) => ({ primary: processCpu(s.pid), workers: s.workerPids.map(processCpu) })),
    sinks: sinks.map((s) => processCpu(s.pid)),
    publishers: publishers.map((p) => processCpu(p.pid)),
  };
}

/** CPU over a window (% of one core) of the server under test, its publisher, the sinks, everything of the run, and the machine. */
function cpuWindow(a, b, srv) {
  const ms = b.at - a.at;
  const d = (x, y) => processDelta(x, y, ms);
  const total = (list) => list.reduce((n, c) => n + (c?.total ?? 0), 0);
  const primary = d(a.servers[srv].primary, b.servers[srv].primary);
  const workers = a.servers[srv].workers.map((w, i) => d(w, b.servers[srv].workers[i]));
  const sinks = a.sinks.map((s, i) => d(s, b.sinks[i]));
  const publisher = d(a.publishers[srv], b.publishers[srv]);
  const all = [];
  a.servers.forEach((s, i) => all.push(d(s.primary, b.servers[i].primary), ...s.workers.map((w, j) => d(w, b.servers[i].workers[j]))));
  all.push(...sinks, ...a.publishers.map((p, i) => d(p, b.publishers[i])));
  const machine = machineDelta(a.machine, b.machine, ms);
  const ours = total(all);
  return { primary, workers, server: (primary?.total ?? 0) + total(workers), sinks: total(sinks), sinksSystem: sinks.reduce((n, c) => n + (c?.system ?? 0), 0), publisher, ours, machine, others: Math.max(0, machine.busy - ours) };
}

async function runWorkload(opts, workload, secret, mintToken) {
  const { channels, total, perSink, probes } = layout(workload, opts.sinks, opts.probes);
  for (const conns of perSink) for (const c of conns) c.token = await mintToken(secret, { sub: `b${c.k}`, ttlSeconds: 24 * 3600 });
  const keys = opts.servers;
  const steps = [];
  const servers = [];
  const sinks = [];
  const publishers = [];
  const problems = [];
  try {
    for (const key of keys) {
      const s = await startServe({ ...SERVERS[key], secret, apiKey: randomBytes(16).toString('hex') });
      servers.push(s);
      log(`  ${SERVERS[key].label}: pid ${s.pid}${s.workerPids.length ? `, workers ${s.workerPids.join(', ')}` : ''}, port ${s.port}`);
    }
    for (let i = 0; i < opts.sinks; i++) sinks.push(spawnChild('sink.js', `sink ${i}`, { onUnsolicited: (m) => m.type === 'lost' && problems.push(`${keys[m.srv]}: connection lost (${m.code})`) }));
    const t0 = Date.now();
    const urls = servers.map((s) => s.wsUrl);
    await Promise.all(
      sinks.map((s, i) => {
        const conns = [];
        for (let srv = 0; srv < servers.length; srv++) for (const c of perSink[i]) conns.push({ srv, ...c });
        return s.request({ type: 'init', urls, transports: urls.map(() => 'ws'), conns, concurrency: Math.ceil(opts.concurrency / opts.sinks) }, 60_000 + 40 * conns.length, 'connect and subscribe');
      }),
    );
    log(`  ${servers.length} x ${total} connections subscribed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (let i = 0; i < servers.length; i++) {
      const p = spawnChild('lib/api-publisher.js', `publisher ${keys[i]}`);
      await p.request({ type: 'init', apiUrl: servers[i].apiUrl, apiKey: servers[i].apiKey, channels, connections: opts.connections }, 10_000);
      publishers.push(p);
    }
    await sleep(500);

    const markSinks = (srv, latency) => Promise.all(sinks.map((s) => s.request({ type: 'mark', srv, latency }, 15_000, 'mark')));
    const frames = (marks) => marks.reduce((n, m) => n + m.frames, 0);
    const measure = async (srv, mode, round) => {
      const pub = publishers[srv];
      await sleep(250);
      const base = frames(await markSinks(srv));
      const rate = workload.rate / workload.subsPerChannel;
      pub.send(mode === 'max' ? { type: 'run', mode, inflight: opts.inflight, batch: opts.batch[workload.id] } : { type: 'run', mode, rate, batch: opts.batch[workload.id] });
      await sleep(opts.warmup * 1000);
      const [p0, k0] = await Promise.all([pub.request({ type: 'mark' }, 10_000), markSinks(srv, 'reset')]);
      const c0 = cpuSnapshot(servers, sinks, publishers);
      await sleep(opts.window * 1000);
      const c1 = cpuSnapshot(servers, sinks, publishers);
      const [p1, k1] = await Promise.all([pub.request({ type: 'mark' }, 10_000), markSinks(srv, 'collect')]);
      const stopped = await pub.request({ type: 'stop' }, 70_000);
      const expected = stopped.published * workload.subsPerChannel;
      const { received, drainStart } = await drainFrames(async () => frames(await markSinks(srv)) - base, expected, opts);
      const seconds = (p1.now - p0.now) / 1000;
      const step = {
        workload: workload.id,
        server: keys[srv],
        mode,
        round,
        ...(mode === 'rate' ? { targetMsgPerSec: workload.rate } : { inflight: opts.inflight, batch: opts.batch[workload.id] }),
        deliveredMsgPerSec: k1.reduce((n, m, i) => n + (m.frames - k0[i].frames) / ((m.now - k0[i].now) / 1000), 0),
        publishedPerSec: (p1.published - p0.published) / seconds,
        requestsPerSec: (p1.requests - p0.requests) / seconds,
        skipped: stopped.skipped,
        errors: stopped.errors,
        firstError: stopped.firstError,
        latencyMs: latencyOf(k1),
        cpu: cpuWindow(c0, c1, srv),
        expectedFrames: expected,
        receivedFrames: received,
        drainSeconds: (Date.now() - drainStart) / 1000,
      };
      step.serverCpuUsPerMsg = (step.cpu.server * 10_000) / step.deliveredMsgPerSec;
      if (received !== expected) problems.push(`${workload.id}/${keys[srv]}/${mode} round ${round}: received ${received} of ${expected} frames`);
      if (stopped.errors) problems.push(`${workload.id}/${keys[srv]}/${mode} round ${round}: ${stopped.errors} failed requests (${stopped.firstError})`);
      const w = step.cpu.workers.map((c) => (c ? c.total.toFixed(0) : '?')).join('+');
      log(
        `  r${round} ${mode.padEnd(4)} ${keys[srv].padEnd(8)} ${Math.round(step.deliveredMsgPerSec).toLocaleString('en-US').padStart(10)} msg/s  p50/p99 ${step.latencyMs.p50?.toFixed(1)}/${step.latencyMs.p99?.toFixed(1)} ms  ` +
          `CPU primary ${step.cpu.primary?.total.toFixed(0)}%${w ? ` workers ${w}%` : ''} sinks ${step.cpu.sinks.toFixed(0)}% publisher ${step.cpu.publisher?.total.toFixed(0)}% machine ${step.cpu.machine.busy.toFixed(0)}% (others ${step.cpu.others.toFixed(0)}%)`,
      );
      steps.push(step);
    };
    await interleave(opts, keys.map((_, i) => i), measure);
  } catch (err) {
    log(`  ERROR: ${err.message}`);
    problems.push(`${workload.id}: error: ${err.message}`);
  } finally {
    await Promise.all([...sinks, ...publishers].map((c) => c.close(5000)));
    await Promise.all(servers.map((s) => s.stop()));
  }
  return { steps, problems };
}

runBench({ name: 'workers', parseArgs, runWorkload, summarize, markdown, tables: { SERVERS } }).catch((err) => {
  console.error(err);
  killAll();
  process.exit(1);
});
