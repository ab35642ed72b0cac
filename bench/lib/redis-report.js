/**
 * The numbers and the Markdown of bench/redis.js: per workload, mode and setup the median step of
 * the rounds (by delivered msg/s), its latency and CPU per node and of Redis, and the ratios
 * between setups (of the medians, and paired: the median of round-by-round ratios).
 */
import { fmtInt, fmtK, fmtMs, fmtPct, fmtRatio, fmtUs, median, medianStep } from './orchestrate.js';

const RATIOS = [
  { a: 'redis1', b: 'memory1', label: 'Redis 1 node ÷ memory 1 node (the Redis engine)' },
  { a: 'redis2', b: 'redis1', label: 'Redis 2 nodes ÷ 1 node' },
  { a: 'redis3', b: 'redis1', label: 'Redis 3 nodes ÷ 1 node' },
  { a: 'redis3', b: 'memory1', label: 'Redis 3 nodes ÷ memory 1 node' },
];

export function summarize(steps, opts) {
  const cells = [];
  const ratios = [];
  for (const wl of opts.workloads) {
    for (const mode of opts.modes) {
      const of = (setup) => steps.filter((s) => s.workload === wl && s.mode === mode && s.setup === setup);
      for (const setup of opts.setups) {
        const list = of(setup);
        if (!list.length) continue;
        cells.push({
          workload: wl,
          mode,
          setup,
          median: medianStep(list),
          rounds: list.map((s) => s.deliveredMsgPerSec),
          usPerMsg: median(list.map((s) => s.serverCpuUsPerMsg)),
          redisUsPerMsg: median(list.map((s) => s.redisCpuUsPerMsg).filter((v) => v !== null)),
        });
      }
      for (const r of RATIOS) {
        const a = of(r.a);
        const b = of(r.b);
        if (!a.length || !b.length) continue;
        const ma = medianStep(a);
        const mb = medianStep(b);
        const paired = median(a.map((s) => b.find((x) => x.round === s.round)).map((x, i) => (x ? a[i].deliveredMsgPerSec / x.deliveredMsgPerSec : NaN)).filter(Number.isFinite));
        ratios.push({
          workload: wl,
          mode,
          label: r.label,
          delivered: ma.deliveredMsgPerSec / mb.deliveredMsgPerSec,
          paired,
          // > 1: the first spends more CPU (its nodes, not Redis) per delivered message.
          cpuPerMsg: median(a.map((s) => s.serverCpuUsPerMsg)) / median(b.map((s) => s.serverCpuUsPerMsg)),
          p99: ma.latencyMs.p99 / mb.latencyMs.p99,
        });
      }
    }
  }
  return { cells, ratios };
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
  const out = [
    `Command: \`${meta.command}\`  `,
    `Date: ${meta.date}; elapsed ${Math.round(meta.elapsedSeconds)} s  `,
    `Code: commit ${meta.gitCommit ?? '?'}${meta.gitDirtyPackages ? ' + uncommitted changes under packages/ (as built before the run)' : ''}  `,
    `Machine: ${meta.cpus} CPUs (nproc), ${meta.cpuModel}, ${meta.platform}, node ${meta.node}; ${meta.redis ?? 'no redis-server'}; load average (1/5/15 min) ${meta.loadBefore.join(' ')} before, ${meta.loadAfter.join(' ')} after  `,
    `Window ${opts.window} s after ${opts.warmup} s warm-up; ${opts.rounds} interleaved rounds (median shown); ${opts.sinks} sink processes, ${opts.probes} latency probes per setup (on its first node); ` +
      `one publisher per node (POST /broadcast over ${opts.connections} keep-alive connections), the setup's load split between them; closed loop ${opts.inflight} requests in flight per setup ` +
      `(A ${opts.batch.A}, B ${opts.batch.B} publications per request)`,
    '',
  ];
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
  if (summary.ratios.length) {
    out.push(
      'Ratios (delivered msg/s of the medians; paired = median of round-by-round ratios; CPU/msg = CPU of the nodes per delivered message, Redis not included, > 1: the first costs more; p99 of the medians):',
      '',
      '| Workload | Mode | Ratio | delivered | paired | CPU/msg | p99 |',
      '|---|---|---|---:|---:|---:|---:|',
    );
    for (const r of summary.ratios) out.push(`| ${r.workload} | ${r.mode} | ${r.label} | **${fmtRatio(r.delivered)}** | ${fmtRatio(r.paired)} | ${fmtRatio(r.cpuPerMsg)} | ${fmtRatio(r.p99)} |`);
    out.push('');
  }
  out.push(
    'CPU columns: % of one core over the window, from /proc/<pid>/stat (user + system, every thread); "CPU per node" lists the setup\'s nodes; "Redis CPU" is the redis-server process; ' +
      '"Redis round trip" = p50 (median node) / p99 (worst node) of every Redis call as the nodes timed it over the 10 s before the window ended (tidings_engine_command_seconds, from their heartbeats); ' +
      '"machine busy" from /proc/stat over all cores (200% = both of 2 busy), softirq is the kernel\'s loopback receive work; "others" = machine busy − every process of this run (other load on the machine).',
  );
  for (const p of results.problems) out.push(`Note: ${p}`);
  return out.join('\n');
}
