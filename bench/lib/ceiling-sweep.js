/**
 * bench/ceiling.js, the latency sweep: fan-out at fixed delivered rates (×`--factor`
 * from `--start-rate`), every server of the list holding the same subscribers at once
 * (pinned to core 0; the sinks on the other cores), one publishing at a time, the
 * servers taking turns at each rate (after one unmeasured step each at the first
 * target, for the JIT). A step: publish for `--warmup`, measure for
 * `--window` (delivered msg/s summed over the sinks, p50/p99 of the probes, the
 * server's CPU), stop, drain.
 *
 * The rule: a server's best p99 is the lowest p99 of its unsaturated steps;
 * its *max sustained* rate is the highest delivered msg/s of a step that is neither
 * saturated (delivered ≥ 95 % of the target, ≤ 2 % of the publications skipped) nor
 * above 3 × that best p99. The rule is applied once the sweep is over: on a shared
 * machine one disturbed step can have a p99 far above the next one's, so it must not end
 * a server's sweep. A server stops, as in bench/run.js, after two steps in a row that are
 * saturated and deliver no more than 3 % over its best so far (a batching server can fall
 * behind a target and still deliver more at the next); the sweep ends when every server
 * has stopped, or after `--max-steps` targets.
 */
import { drainFrames, latencyOf } from './fanout-bench.js';
import { cpuMs, fmtInt, fmtK, fmtMs, layout, log, sleep } from './orchestrate.js';
import { SERVERS, startClient, startServer } from './ceiling-servers.js';
import { machineCpu, machineDelta } from './proc-cpu.js';

/** A saturated step whose server had less than this % of a core was starved by other load, not at its ceiling. */
export const STARVED_CPU_PCT = 70;

export const SWEEP_WORKLOADS = {
  '1x1000': { id: '1x1000', label: '1 channel × 1,000 subscribers', channels: 1, subsPerChannel: 1000 },
  '100x10': { id: '100x10', label: '100 channels × 10 subscribers', channels: 100, subsPerChannel: 10 },
  '1x5000': { id: '1x5000', label: '1 channel × 5,000 subscribers', channels: 1, subsPerChannel: 5000 },
  '500x10': { id: '500x10', label: '500 channels × 10 subscribers', channels: 500, subsPerChannel: 10 },
  'personal+10': { id: 'personal+10', label: '1,000 connections, each on its own channel + 10 of 100 group channels', connections: 1000, groups: 100, groupsPerConn: 10 },
};

/**
 * Who subscribes to what. Fan-out workloads: `layout` (one channel per connection). The
 * personal + groups workload: connection k subscribes to `bench:u<k>` and to the groups
 * (k + 10 j) mod 100, j < 10 (100 members per group); the publisher goes round-robin over
 * group i, then personal channels 10 i … 10 i + 9, for i < 100, so a publication reaches
 * (10,000 + 1,000) / 1,100 = 10 subscribers on average (`subsPerPublication`; a step's
 * expected frame count is off by at most ~200 where it ends inside such a block of 11).
 */
function sweepLayout(workload, sinks, probes) {
  if (!workload.groups) return { ...layout(workload, sinks, probes), subsPerPublication: workload.subsPerChannel };
  const { connections: n, groups: g, groupsPerConn: per } = workload;
  const groups = Array.from({ length: g }, (_, i) => `bench:g${i}`);
  const personal = Array.from({ length: n }, (_, k) => `bench:u${k}`);
  const probeSet = new Set(Array.from({ length: Math.min(probes, n) }, (_, p) => Math.floor((p * n) / Math.min(probes, n))));
  const perSink = Array.from({ length: sinks }, () => []);
  for (let k = 0; k < n; k++) {
    const channels = [personal[k], ...Array.from({ length: per }, (_, j) => groups[(k + j * (g / per)) % g])];
    perSink[k % sinks].push({ k, channel: channels[0], channels, probe: probeSet.has(k) });
  }
  const order = groups.flatMap((group, i) => [group, ...personal.slice((i * n) / g, ((i + 1) * n) / g)]);
  return { channels: order, total: n, perSink, probes: probeSet.size, subsPerPublication: (n * per + n) / (g + n), tolerance: 200 };
}
export const P99_FACTOR = 3;

/** Best p99, max sustained step and the qualifying steps, by the rule above. */
export function applyP99Rule(steps) {
  const ok = steps.filter((s) => !s.saturated && s.latencyMs.p99 !== null);
  if (!ok.length) return { bestP99: null, maxSustained: null };
  const bestP99 = Math.min(...ok.map((s) => s.latencyMs.p99));
  const within = ok.filter((s) => s.latencyMs.p99 <= P99_FACTOR * bestP99);
  const maxSustained = within.reduce((a, s) => (a === null || s.deliveredMsgPerSec > a.deliveredMsgPerSec ? s : a), null);
  return { bestP99, maxSustained };
}

export async function runSweep(opts, workload, secret, mintToken) {
  const keys = opts.sweepServers;
  const { channels, total, perSink, probes, subsPerPublication, tolerance = 0 } = sweepLayout(workload, opts.sinks, opts.probes);
  for (const conns of perSink) for (const c of conns) c.token = await mintToken(secret, { sub: `s${c.k}`, ttlSeconds: 24 * 3600 });
  const results = keys.map((key) => ({ server: key, label: SERVERS[key].label, workload: workload.id, connections: total, probes, steps: [], lost: 0 }));
  const servers = [];
  const sinks = [];
  try {
    for (const key of keys) servers.push(await startServer(key, { secret, channels, pinned: opts.pin, payloadBytes: opts.payloadBytes }));
    results.forEach((r, i) => (r.serverMeta = servers[i].meta));
    for (let i = 0; i < opts.sinks; i++) {
      sinks.push(startClient('sink.js', `sink ${i}`, opts.pin, (msg) => msg.type === 'lost' && (results[msg.srv].lost += msg.count)));
    }
    const urls = servers.map((s) => s.url);
    const transports = servers.map((s) => s.transport);
    const t0 = Date.now();
    const replies = await Promise.all(
      sinks.map((s, i) => {
        const conns = [];
        for (let srv = 0; srv < servers.length; srv++) for (const c of perSink[i]) conns.push({ srv, ...c });
        return s.request({ type: 'init', urls, transports, conns, concurrency: Math.ceil(opts.concurrency / sinks.length) }, 60_000 + 40 * conns.length, 'connect and subscribe');
      }),
    );
    for (let srv = 0; srv < servers.length; srv++) {
      const n = replies.reduce((sum, r) => sum + r.perServer[srv], 0);
      if (n !== total) throw new Error(`${keys[srv]}: only ${n} of ${total} connections subscribed`);
    }
    log(`  ${servers.length} x ${total} connections subscribed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await sleep(500);

    // 60 s: past saturation a sink may be busy for many seconds with the backlog it is reading.
    const markSinks = (srv, latency) => Promise.all(sinks.map((s) => s.request({ type: 'mark', srv, latency }, 60_000, 'mark')));
    const frameTotal = (marks) => marks.reduce((n, m) => n + m.frames, 0);

    const measure = async (srv, target, warmUp = false) => {
      const server = servers[srv];
      const rate = target / subsPerPublication;
      await sleep(250);
      const base = frameTotal(await markSinks(srv));
      server.send({ type: 'run', mode: 'rate', rate });
      await sleep(opts.warmup * 1000);
      const [s0, k0] = await Promise.all([server.request({ type: 'mark' }, 10_000), markSinks(srv, 'reset')]);
      const machine0 = machineCpu();
      await sleep(opts.window * 1000);
      const machine1 = machineCpu();
      const [s1, k1] = await Promise.all([server.request({ type: 'mark' }, 10_000), markSinks(srv, 'collect')]);
      const stopped = await server.request({ type: 'stop' }, 10_000);
      const expected = Math.round(stopped.published * subsPerPublication);
      const { received } = await drainFrames(async () => frameTotal(await markSinks(srv)) - base, expected - tolerance, opts);
      const frames = k1.reduce((n, m, i) => n + m.frames - k0[i].frames, 0);
      const delivered = k1.reduce((n, m, i) => n + (m.frames - k0[i].frames) / ((m.now - k0[i].now) / 1000), 0);
      const seconds = (s1.now - s0.now) / 1000;
      const serverCpuMs = cpuMs(s1.cpu) - cpuMs(s0.cpu);
      const step = {
        targetMsgPerSec: target,
        deliveredMsgPerSec: delivered,
        skippedPublications: s1.dropped - s0.dropped,
        latencyMs: latencyOf(k1),
        serverCpuPct: (serverCpuMs / (s1.now - s0.now)) * 100,
        serverCpuUsPerMsg: frames > 0 ? (serverCpuMs * 1000) / frames : null,
        sinksCpuPct: k1.reduce((n, m, i) => n + ((cpuMs(m.cpu) - cpuMs(k0[i].cpu)) / (m.now - k0[i].now)) * 100, 0),
        machineBusyPct: machineDelta(machine0, machine1, s1.now - s0.now).busy,
        expectedFrames: expected,
        receivedFrames: received,
      };
      step.saturated = delivered < 0.95 * target || step.skippedPublications > 0.02 * rate * seconds;
      step.starved = step.saturated && step.serverCpuPct < STARVED_CPU_PCT;
      log(
        `    ${SERVERS[keys[srv]].label.padEnd(34)} ${warmUp ? 'warm-up' : fmtK(target).padStart(7)}: ${fmtInt(delivered).padStart(9)} msg/s  p50 ${fmtMs(step.latencyMs.p50)} p99 ${fmtMs(step.latencyMs.p99)} ms  ` +
          `server CPU ${step.serverCpuPct.toFixed(0)}% (${step.serverCpuUsPerMsg?.toFixed(2)} µs/msg)  sinks ${step.sinksCpuPct.toFixed(0)}%  machine ${step.machineBusyPct.toFixed(0)}%` +
          (step.saturated ? (step.starved ? '  [saturated, server starved]' : '  [saturated]') : '') +
          (Math.abs(received - expected) > tolerance ? `  [received ${received} of ${expected}]` : ''),
      );
      return step;
    };

    // One unmeasured step per server at the first target: no measured step runs on a cold JIT.
    for (let srv = 0; srv < servers.length; srv++) await measure(srv, opts.startRate, true);
    const state = keys.map(() => ({ best: 0, flat: 0, done: false }));
    for (let i = 0; i < opts.maxSteps; i++) {
      const target = Math.round(opts.startRate * opts.factor ** i);
      if (state.every((s) => s.done)) break;
      for (let srv = 0; srv < servers.length; srv++) {
        const st = state[srv];
        if (st.done) continue;
        let step;
        try {
          step = await measure(srv, target);
        } catch (err) {
          if (sinks.some((s) => s.isDead())) throw err;
          results[srv].error = err.message;
          st.done = true;
          log(`  ERROR (${keys[srv]}): ${err.message}`);
          continue;
        }
        results[srv].steps.push(step);
        const rising = step.deliveredMsgPerSec > st.best * 1.03;
        st.best = Math.max(st.best, step.deliveredMsgPerSec);
        st.flat = step.saturated && !rising ? st.flat + 1 : 0;
        if (st.flat >= 2) st.done = true;
      }
    }
    for (const r of results) Object.assign(r, applyP99Rule(r.steps));
  } catch (err) {
    log(`  ERROR: ${err.message}`);
    for (const r of results) r.error ??= err.message;
  } finally {
    await Promise.all(sinks.map((c) => c.close(5000)));
    await Promise.all(servers.map((c) => c.close(5000)));
  }
  return results;
}
