/**
 * The numbers and the Markdown of bench/workers.js: per workload, mode and server the median
 * step of the rounds (by delivered msg/s), its latency and CPU per process, and the ratios
 * between servers (of the medians, and paired: the median of round-by-round ratios).
 */
import { fmtInt, fmtK, fmtMs, fmtPct, fmtRatio, fmtUs, median, medianStep } from './orchestrate.js';

const RATIOS = [
  { a: 'workers2', b: 'primary1', label: '2 workers ÷ 1 worker' },
  { a: 'workers2', b: 'single', label: '2 workers ÷ one process' },
  { a: 'primary1', b: 'single', label: '1 worker ÷ one process (the IPC engine)' },
];

export function summarize(steps, opts) {
  const cells = [];
  const ratios = [];
  for (const wl of opts.workloads) {
    for (const mode of opts.modes) {
      const of = (server) => steps.filter((s) => s.workload === wl && s.mode === mode && s.server === server);
      for (const server of opts.servers) {
        const list = of(server);
        if (!list.length) continue;
        cells.push({ workload: wl, mode, server, median: medianStep(list), rounds: list.map((s) => s.deliveredMsgPerSec), usPerMsg: median(list.map((s) => s.serverCpuUsPerMsg)) });
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
          // > 1: the first spends more server CPU (all its processes) per delivered message.
          cpuPerMsg: median(a.map((s) => s.serverCpuUsPerMsg)) / median(b.map((s) => s.serverCpuUsPerMsg)),
          p99: ma.latencyMs.p99 / mb.latencyMs.p99,
        });
      }
    }
  }
  return { cells, ratios };
}

const pct = (c) => (c ? fmtPct(c.total) : '—');

export function markdown(results, opts, { SERVERS, WORKLOADS }) {
  const { meta, summary } = results;
  const out = [
    `Command: \`${meta.command}\`  `,
    `Date: ${meta.date}; elapsed ${Math.round(meta.elapsedSeconds)} s  `,
    `Code: commit ${meta.gitCommit ?? '?'}${meta.gitDirtyPackages ? ' + uncommitted changes under packages/ (as built before the run)' : ''}  `,
    `Machine: ${meta.cpus} CPUs (nproc), ${meta.cpuModel}, ${meta.platform}, node ${meta.node}; load average (1/5/15 min) ${meta.loadBefore.join(' ')} before, ${meta.loadAfter.join(' ')} after  `,
    `Window ${opts.window} s after ${opts.warmup} s warm-up; ${opts.rounds} interleaved rounds (median shown); ${opts.sinks} sink processes, ${opts.probes} latency probes per server; ` +
      `publisher: POST /broadcast over ${opts.connections} keep-alive connections per server; closed loop ${opts.inflight} requests in flight ` +
      `(A ${opts.batch.A}, B ${opts.batch.B} publications per request)`,
    '',
  ];
  const cell = (wl, mode, server) => summary.cells.find((c) => c.workload === wl && c.mode === mode && c.server === server);
  for (const wl of opts.workloads) {
    const w = WORKLOADS[wl];
    out.push(`### Workload ${wl}: ${w.label} (${fmtInt(w.channels * w.subsPerChannel)} connections per server)`, '');
    for (const mode of opts.modes) {
      out.push(
        mode === 'max'
          ? `Closed loop (the ceiling: the publisher keeps ${opts.inflight} requests of ${opts.batch[wl]} publications in flight):`
          : `Fixed rate: ${fmtK(opts.rate[wl])} delivered msg/s (${fmtInt(opts.rate[wl] / w.subsPerChannel)} publications/s):`,
        '',
        '| Server | delivered msg/s | publications/s | p50 ms | p99 ms | primary CPU | worker CPU | server CPU total | server µs/msg | sinks CPU (system) | publisher CPU | machine busy (softirq) | others | rounds, msg/s |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
      );
      for (const server of opts.servers) {
        const c = cell(wl, mode, server);
        if (!c) {
          out.push(`| ${SERVERS[server].label} | — |`);
          continue;
        }
        const s = c.median;
        const cpu = s.cpu;
        out.push(
          `| ${SERVERS[server].label} | ${fmtInt(s.deliveredMsgPerSec)} | ${fmtInt(s.publishedPerSec)} | ${fmtMs(s.latencyMs.p50)} | ${fmtMs(s.latencyMs.p99)} | ` +
            `${pct(cpu.primary)} | ${cpu.workers.length ? cpu.workers.map(pct).join(' + ') : '—'} | ${fmtPct(cpu.server)} | ${fmtUs(c.usPerMsg)} | ` +
            `${fmtPct(cpu.sinks)} (${fmtPct(cpu.sinksSystem)}) | ${pct(cpu.publisher)} | ${fmtPct(cpu.machine.busy)} (${fmtPct(cpu.machine.softirq)}) | ${fmtPct(cpu.others)} | ${c.rounds.map(fmtK).join(', ')} |`,
        );
      }
      out.push('');
    }
  }
  if (summary.ratios.length) {
    out.push(
      'Ratios (delivered msg/s of the medians; paired = median of round-by-round ratios; CPU/msg = server CPU per delivered message, all its processes, > 1: the first costs more; p99 of the medians):',
      '',
      '| Workload | Mode | Ratio | delivered | paired | CPU/msg | p99 |',
      '|---|---|---|---:|---:|---:|---:|',
    );
    for (const r of summary.ratios) out.push(`| ${r.workload} | ${r.mode} | ${r.label} | **${fmtRatio(r.delivered)}** | ${fmtRatio(r.paired)} | ${fmtRatio(r.cpuPerMsg)} | ${fmtRatio(r.p99)} |`);
    out.push('');
  }
  out.push(
    'CPU columns: % of one core over the window, from /proc/<pid>/stat (user + system, every thread); "server CPU total" = primary + workers; ' +
      '"machine busy" from /proc/stat over both cores (200% = both busy), softirq is the kernel\'s loopback receive work; "others" = machine busy − every process of this run (other load on the machine).',
  );
  for (const p of results.problems) out.push(`Note: ${p}`);
  return out.join('\n');
}
