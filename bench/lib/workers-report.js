/**
 * The numbers and the Markdown of bench/workers.js: per workload, mode and server the median
 * step of the rounds (by delivered msg/s), its latency and CPU per process, and the ratios
 * between servers (of the medians, and paired: the median of round-by-round ratios).
 */
import { headerLines, ratiosAndNotes, summarizeSteps } from './fanout-report.js';
import { fmtInt, fmtK, fmtMs, fmtPct, fmtUs } from './orchestrate.js';

const RATIOS = [
  { a: 'workers2', b: 'primary1', label: '2 workers ÷ 1 worker' },
  { a: 'workers2', b: 'single', label: '2 workers ÷ one process' },
  { a: 'primary1', b: 'single', label: '1 worker ÷ one process (the IPC engine)' },
];

export function summarize(steps, opts) {
  return summarizeSteps(steps, opts, { field: 'server', items: opts.servers, ratios: RATIOS });
}

const pct = (c) => (c ? fmtPct(c.total) : '—');

export function markdown(results, opts, { SERVERS, WORKLOADS }) {
  const { meta, summary } = results;
  const out = headerLines(
    meta,
    '',
    `Window ${opts.window} s after ${opts.warmup} s warm-up; ${opts.rounds} interleaved rounds (median shown); ${opts.sinks} sink processes, ${opts.probes} latency probes per server; ` +
      `publisher: POST /broadcast over ${opts.connections} keep-alive connections per server; closed loop ${opts.inflight} requests in flight ` +
      `(A ${opts.batch.A}, B ${opts.batch.B} publications per request)`,
  );
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
  return ratiosAndNotes(
    out,
    results,
    'Ratios (delivered msg/s of the medians; paired = median of round-by-round ratios; CPU/msg = server CPU per delivered message, all its processes, > 1: the first costs more; p99 of the medians):',
    'CPU columns: % of one core over the window, from /proc/<pid>/stat (user + system, every thread); "server CPU total" = primary + workers; ' +
      '"machine busy" from /proc/stat over both cores (200% = both busy), softirq is the kernel\'s loopback receive work; "others" = machine busy − every process of this run (other load on the machine).',
  );
}
