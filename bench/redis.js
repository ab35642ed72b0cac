#!/usr/bin/env node
/**
 * Redis engine benchmark (issue 14): fan-out through 1, 2 and 3 `tidings serve` nodes sharing one
 * redis-server, beside one node on the memory engine, in one run, interleaved.
 *
 *   npm run bench:redis              # build protocol + server, then the full run
 *   node bench/redis.js --quick      # smoke run (needs the build)
 *   node bench/redis.js --help
 *
 * Every node is a real `tidings serve` child process (lib/serve-process.js, the bench settings
 * plus `engine: { type: redis, url, prefix }`, one prefix per setup); the redis-server is started
 * here in its own temp dir on a free port and stopped by pid (lib/redis-process.js). Subscribers
 * are spread over a setup's nodes as a load balancer would (each channel's subscribers over every
 * node); publications come from outside, one publisher process per node (lib/api-publisher.js,
 * POST /broadcast), the setup's load split between them. CPU is read from /proc for every node,
 * the redis-server, the sinks and publishers, and the machine. See bench/README.md, "Redis".
 */
import { randomBytes } from 'node:crypto';
import { WORKLOADS, drainFrames, fanoutArgs, interleave, latencyOf, runBench } from './lib/fanout-bench.js';
import { killAll, layout, log, sleep, spawnChild } from './lib/orchestrate.js';
import { machineCpu, machineDelta, processCpu, processDelta } from './lib/proc-cpu.js';
import { startRedisServer } from './lib/redis-process.js';
import { markdown, summarize } from './lib/redis-report.js';
import { startServe } from './lib/serve-process.js';

export const SETUPS = {
  memory1: { label: 'memory engine, 1 node', engine: 'memory', nodes: 1 },
  redis1: { label: 'Redis engine, 1 node', engine: 'redis', nodes: 1 },
  redis2: { label: 'Redis engine, 2 nodes', engine: 'redis', nodes: 2 },
  redis3: { label: 'Redis engine, 3 nodes', engine: 'redis', nodes: 3 },
};

export { WORKLOADS };

const parseArgs = fanoutArgs('redis.js', ['setups', SETUPS, 'setup'], {
  connections: 2,
  words: {
    inflight: ' per setup, split over its publishers',
    connections: "each publisher's keep-alive connections (default 2)",
    rate: ' per setup',
  },
});

/** `total` split over `n` parts as evenly as whole numbers allow (the first ones get the rest), each at least `min`. */
function split(total, n, min = 1) {
  return Array.from({ length: n }, (_, i) => Math.max(min, Math.floor(total / n) + (i < total % n ? 1 : 0)));
}

/** CPU times now of every process of the run and of the machine. */
function cpuSnapshot(nodes, redis, sinks, publishers) {
  return {
    at: performance.now(),
    machine: machineCpu(),
    nodes: nodes.map((n) => processCpu(n.serve.pid)),
    redis: redis ? processCpu(redis.pid) : null,
    sinks: sinks.map((s) => processCpu(s.pid)),
    publishers: publishers.map((p) => processCpu(p.pid)),
  };
}

/** CPU over a window (% of one core): the setup's nodes, Redis, its publishers, the sinks, everything of the run, the machine. */
function cpuWindow(a, b, srvs) {
  const ms = b.at - a.at;
  const d = (x, y) => processDelta(x, y, ms);
  const total = (list) => list.reduce((n, c) => n + (c?.total ?? 0), 0);
  const nodes = srvs.map((i) => d(a.nodes[i], b.nodes[i]));
  const redis = d(a.redis, b.redis);
  const sinks = a.sinks.map((s, i) => d(s, b.sinks[i]));
  const publishers = srvs.map((i) => d(a.publishers[i], b.publishers[i]));
  const all = [...a.nodes.map((x, i) => d(x, b.nodes[i])), redis, ...sinks, ...a.publishers.map((p, i) => d(p, b.publishers[i]))];
  const machine = machineDelta(a.machine, b.machine, ms);
  const ours = total(all);
  return {
    nodes,
    server: total(nodes),
    redis,
    sinks: total(sinks),
    sinksSystem: sinks.reduce((n, c) => n + (c?.system ?? 0), 0),
    publishers: total(publishers),
    ours,
    machine,
    others: Math.max(0, machine.busy - ours),
  };
}

/**
 * The Redis round trips as the setup's nodes saw them (their heartbeats: p50/p99 over the last 10 s, mostly
 * this step's publishes), from GET /api/v1/nodes on one node; null if it did not answer.
 */
async function engineFigures(serve) {
  try {
    const res = await fetch(`${serve.apiUrl}/nodes`, { headers: { authorization: `Bearer ${serve.apiKey}` } });
    const list = (await res.json()).data.nodes;
    return list.map((n) => ({ p50: n.engineP50Ms ?? null, p99: n.engineP99Ms ?? null, errors: n.engineErrors ?? null, channels: n.enginePubsubChannels ?? null }));
  } catch {
    return null;
  }
}

async function runWorkload(opts, workload, secret, mintToken, redis) {
  const { channels, total, perSink } = layout(workload, opts.sinks, opts.probes);
  for (const conns of perSink) for (const c of conns) c.token = await mintToken(secret, { sub: `b${c.k}`, ttlSeconds: 24 * 3600 });
  const keys = opts.setups;
  /** Every node of every setup, in order; a node's index is its `srv` for the sinks. */
  const nodes = [];
  /** Per setup, its nodes' indexes. */
  const srvsOf = new Map();
  const steps = [];
  const sinks = [];
  const publishers = [];
  const problems = [];
  try {
    for (const key of keys) {
      const setup = SETUPS[key];
      const apiKey = randomBytes(16).toString('hex');
      const extraYaml = setup.engine === 'redis' ? ['engine:', '  type: redis', `  url: ${redis.url}`, `  prefix: bench-${workload.id}-${key}`] : [];
      const srvs = [];
      for (let i = 0; i < setup.nodes; i++) {
        const serve = await startServe({ kind: 'single', secret, apiKey, extraYaml });
        srvs.push(nodes.length);
        nodes.push({ setup: key, index: i, serve });
      }
      srvsOf.set(key, srvs);
      log(`  ${setup.label}: pid ${srvs.map((i) => nodes[i].serve.pid).join(', ')}; port ${srvs.map((i) => nodes[i].serve.port).join(', ')}`);
    }
    for (let i = 0; i < opts.sinks; i++) {
      sinks.push(spawnChild('sink.js', `sink ${i}`, { onUnsolicited: (m) => m.type === 'lost' && problems.push(`${nodes[m.srv]?.setup} node ${nodes[m.srv]?.index}: connection lost (${m.code})`) }));
    }
    const t0 = Date.now();
    const urls = nodes.map((n) => n.serve.wsUrl);
    await Promise.all(
      sinks.map((s, i) => {
        const conns = [];
        for (const key of keys) {
          const srvs = srvsOf.get(key);
          // A channel's subscribers go round-robin over the nodes (subscriber j of a channel on node j mod n), as a
          // balancer spreads them: every node holds subscribers of every channel. Probes all on the first node (nodes
          // are symmetric: every publication reaches each node the same way, through Redis).
          for (const c of perSink[i]) conns.push({ ...c, srv: c.probe ? srvs[0] : srvs[Math.floor(c.k / workload.channels) % srvs.length] });
        }
        return s.request({ type: 'init', urls, transports: urls.map(() => 'ws'), conns, concurrency: Math.ceil(opts.concurrency / opts.sinks) }, 60_000 + 40 * conns.length, 'connect and subscribe');
      }),
    );
    log(`  ${keys.length} setups x ${total} connections subscribed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const n of nodes) {
      const p = spawnChild('lib/api-publisher.js', `publisher ${n.setup}/${n.index}`);
      await p.request({ type: 'init', apiUrl: n.serve.apiUrl, apiKey: n.serve.apiKey, channels, connections: opts.connections }, 10_000);
      publishers.push(p);
    }
    await sleep(500);

    const markSinks = (srv, latency) => Promise.all(sinks.map((s) => s.request({ type: 'mark', srv, latency }, 15_000, 'mark')));
    /** Frames received by the setup's nodes' connections (every sink). */
    const framesOf = async (srvs) => (await Promise.all(srvs.map((srv) => markSinks(srv)))).flat().reduce((n, m) => n + m.frames, 0);
    const measure = async (key, mode, round) => {
      const srvs = srvsOf.get(key);
      const pubs = srvs.map((i) => publishers[i]);
      await sleep(250);
      const base = await framesOf(srvs);
      const inflight = split(opts.inflight, pubs.length);
      const rate = workload.rate / workload.subsPerChannel / pubs.length;
      pubs.forEach((p, i) => p.send(mode === 'max' ? { type: 'run', mode, inflight: inflight[i], batch: opts.batch[workload.id] } : { type: 'run', mode, rate, batch: opts.batch[workload.id] }));
      await sleep(opts.warmup * 1000);
      // Frame counts of every node of the setup; latency from the probes (all on the first node).
      const markAll = (latency) => Promise.all(srvs.map((srv, i) => markSinks(srv, i === 0 ? latency : undefined)));
      const [p0, k0] = await Promise.all([Promise.all(pubs.map((p) => p.request({ type: 'mark' }, 10_000))), markAll('reset')]);
      const c0 = cpuSnapshot(nodes, redis, sinks, publishers);
      await sleep(opts.window * 1000);
      const c1 = cpuSnapshot(nodes, redis, sinks, publishers);
      const engineView = SETUPS[key].engine === 'redis' ? await engineFigures(nodes[srvs[0]].serve) : null;
      const [p1, k1] = await Promise.all([Promise.all(pubs.map((p) => p.request({ type: 'mark' }, 10_000))), markAll('collect')]);
      const stopped = await Promise.all(pubs.map((p) => p.request({ type: 'stop' }, 70_000)));
      const published = stopped.reduce((n, s) => n + s.published, 0);
      const errors = stopped.reduce((n, s) => n + s.errors, 0);
      const expected = published * workload.subsPerChannel;
      const { received, drainStart } = await drainFrames(async () => (await framesOf(srvs)) - base, expected, opts);
      let delivered = 0;
      k1.forEach((marks, s) => marks.forEach((m, i) => (delivered += (m.frames - k0[s][i].frames) / ((m.now - k0[s][i].now) / 1000))));
      const seconds = (Math.max(...p1.map((p) => p.now)) - Math.min(...p0.map((p) => p.now))) / 1000;
      const step = {
        workload: workload.id,
        setup: key,
        nodes: srvs.length,
        mode,
        round,
        ...(mode === 'rate' ? { targetMsgPerSec: workload.rate } : { inflight: opts.inflight, batch: opts.batch[workload.id] }),
        deliveredMsgPerSec: delivered,
        publishedPerSec: p1.reduce((n, p, i) => n + p.published - p0[i].published, 0) / seconds,
        skipped: stopped.reduce((n, s) => n + s.skipped, 0),
        errors,
        firstError: stopped.find((s) => s.firstError)?.firstError ?? null,
        latencyMs: latencyOf(k1[0]),
        cpu: cpuWindow(c0, c1, srvs),
        engine: engineView,
        expectedFrames: expected,
        receivedFrames: received,
        drainSeconds: (Date.now() - drainStart) / 1000,
      };
      step.serverCpuUsPerMsg = (step.cpu.server * 10_000) / step.deliveredMsgPerSec;
      step.redisCpuUsPerMsg = step.cpu.redis ? (step.cpu.redis.total * 10_000) / step.deliveredMsgPerSec : null;
      if (received !== expected) problems.push(`${workload.id}/${key}/${mode} round ${round}: received ${received} of ${expected} frames`);
      if (errors) problems.push(`${workload.id}/${key}/${mode} round ${round}: ${errors} failed requests (${step.firstError})`);
      const per = step.cpu.nodes.map((c) => (c ? c.total.toFixed(0) : '?')).join('+');
      log(
        `  r${round} ${mode.padEnd(4)} ${key.padEnd(8)} ${Math.round(step.deliveredMsgPerSec).toLocaleString('en-US').padStart(10)} msg/s  p50/p99 ${step.latencyMs.p50?.toFixed(1)}/${step.latencyMs.p99?.toFixed(1)} ms  ` +
          `CPU nodes ${per}% redis ${step.cpu.redis ? step.cpu.redis.total.toFixed(0) : '-'}% sinks ${step.cpu.sinks.toFixed(0)}% publishers ${step.cpu.publishers.toFixed(0)}% machine ${step.cpu.machine.busy.toFixed(0)}% (others ${step.cpu.others.toFixed(0)}%)`,
      );
      steps.push(step);
    };
    await interleave(opts, keys, measure);
  } catch (err) {
    log(`  ERROR: ${err.message}`);
    problems.push(`${workload.id}: error: ${err.message}`);
  } finally {
    await Promise.all([...sinks, ...publishers].map((c) => c.close(5000)));
    await Promise.all(nodes.map((n) => n.serve.stop()));
  }
  return { steps, problems };
}

async function before(opts, meta) {
  const needsRedis = opts.setups.some((s) => SETUPS[s].engine === 'redis');
  const redis = needsRedis ? await startRedisServer() : null;
  if (redis) {
    meta.redis = redis.version;
    log(`redis-server: pid ${redis.pid}, port ${redis.port} (${redis.version})`);
  }
  return redis;
}

runBench({ name: 'redis', parseArgs, before, after: (redis) => redis?.stop(), runWorkload, summarize, markdown, tables: { SETUPS } }).catch((err) => {
  console.error(err);
  killAll();
  process.exit(1);
});
