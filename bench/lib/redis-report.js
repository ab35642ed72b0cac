/**
 * The numbers and the Markdown of bench/redis.js: per workload, mode and setup the median step of
 * the rounds (by delivered msg/s), its latency and CPU per node and of Redis, and the ratios
 * between setups (of the medians, and paired: the median of round-by-round ratios).
 */
import { headerLines, ratiosAndNotes, summarizeSteps } from './fanout-report.js';
import { fmtInt, fmtK, fmtMs, fmtPct, fmtUs, median } from './orchestrate.js';

const RATIOS = [
  { a: 'redis1', b: 'memory1', label: 'Redis 1 node ÷ memory 1 node (the Redis engine)' },
  { a: 'redis2', b: 'redis1', label: 'Redis 2 nodes ÷ 1 node' },
  { a: 'redis3', b: 'redis1', label: 'Redis 3 nodes ÷ 1 node' },
  { a: 'redis3', b: 'memory1', label: 'Redis 3 nodes ÷ memory 1 node' },
];

export function summarize(steps, opts) {
  const extra = (list) => ({ redisUsPerMsg: median(list.map((s) => s.redisCpuUsPerMsg).filter((v) => v !== null)) });
  return summarizeSteps(steps, opts, { field: 'setup', items: opts.setups, ratios: RATIOS, extra });
}

const pct = (c) => (c ? fmtPct(c.total) : '—');
/** The nodes' own view of Redis round trips: the median node's p50 and the worst node's p99. */
const roundTrips = (view) => {
  const nodes = (view ?? []).filter((n) => n.p50 !== null && n.p99 !== null);
  if (!nodes.length) return '—';
  return `${fmtMs(median(nodes.map((n) => n.p50)))} / ${fmtMs(Math.max(...nodes.map((n) => n.p99)))}`;
};

export function markdown(results, opts, { SETUPS, WORKLOADS }) {
  const { meta, summary } = results;
  const out = headerLines(
    meta,
    `${meta.redis ?? 'no redis-server'}; `,
    `Window ${opts.window} s after ${opts.warmup} s warm-up; ${opts.rounds} interleaved rounds (median shown); ${opts.sinks} sink processes, ${opts.probes} latency probes per setup (on its first node); ` +
      `one publisher per node (POST /broadcast over ${opts.connections} keep-alive connections), the setup's load split between them; closed loop ${opts.inflight} requests in flight per setup ` +
      `(A ${opts.batch.A}, B ${opts.batch.B} publications per request)`,
  );
  const cell = (wl, mode, setup) => summary.cells.find((c) => c.workload === wl && c.mode === mode && c.setup === setup);
  for (const wl of opts.workloads) {
    const w = WORKLOADS[wl];
    out.push(`### Workload ${wl}: ${w.label} (${fmtInt(w.channels * w.subsPerChannel)} connections per setup, spread over its nodes)`, '');
    for (const mode of opts.modes) {
      out.push(
        mode === 'max'
          ? `Closed loop (the ceiling: ${opts.inflight} requests of ${opts.batch[wl]} publications in flight per setup):`
          : `Fixed rate: ${fmtK(opts.rate[wl])} delivered msg/s (${fmtInt(opts.rate[wl] / w.subsPerChannel)} publications/s) per setup:`,
        '',
        '| Setup | delivered msg/s | publications/s | p50 ms | p99 ms | CPU per node | nodes CPU total | nodes µs/msg | Redis CPU | Redis µs/msg | Redis round trip p50/p99 ms (nodes) | sinks CPU (system) | publishers CPU | machine busy (softirq) | others | rounds, msg/s |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
      );
      for (const setup of opts.setups) {
        const c = cell(wl, mode, setup);
        if (!c) {
          out.push(`| ${SETUPS[setup].label} | — |`);
          continue;
        }
        const s = c.median;
        const cpu = s.cpu;
        const isRedis = SETUPS[setup].engine === 'redis';
        out.push(
          `| ${SETUPS[setup].label} | ${fmtInt(s.deliveredMsgPerSec)} | ${fmtInt(s.publishedPerSec)} | ${fmtMs(s.latencyMs.p50)} | ${fmtMs(s.latencyMs.p99)} | ` +
            `${cpu.nodes.map(pct).join(' + ')} | ${fmtPct(cpu.server)} | ${fmtUs(c.usPerMsg)} | ${isRedis ? pct(cpu.redis) : '— (idle: ' + pct(cpu.redis) + ')'} | ${isRedis ? fmtUs(c.redisUsPerMsg) : '—'} | ${roundTrips(s.engine)} | ` +
            `${fmtPct(cpu.sinks)} (${fmtPct(cpu.sinksSystem)}) | ${fmtPct(cpu.publishers)} | ${fmtPct(cpu.machine.busy)} (${fmtPct(cpu.machine.softirq)}) | ${fmtPct(cpu.others)} | ${c.rounds.map(fmtK).join(', ')} |`,
        );
      }
      out.push('');
    }
  }
  return ratiosAndNotes(
    out,
    results,
    'Ratios (delivered msg/s of the medians; paired = median of round-by-round ratios; CPU/msg = CPU of the nodes per delivered message, Redis not included, > 1: the first costs more; p99 of the medians):',
    'CPU columns: % of one core over the window, from /proc/<pid>/stat (user + system, every thread); "CPU per node" lists the setup\'s nodes; "Redis CPU" is the redis-server process; ' +
      '"Redis round trip" = p50 (median node) / p99 (worst node) of every Redis call as the nodes timed it over the 10 s before the window ended (tidings_engine_command_seconds, from their heartbeats); ' +
      '"machine busy" from /proc/stat over all cores (200% = both of 2 busy), softirq is the kernel\'s loopback receive work; "others" = machine busy − every process of this run (other load on the machine).',
  );
}
