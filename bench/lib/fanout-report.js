/**
 * What lib/workers-report.js and lib/redis-report.js share: per workload, mode and compared item
 * (a server, a setup) the median step of the rounds (by delivered msg/s), the ratios between items
 * (of the medians, and paired: the median of round-by-round ratios), and the Markdown's header,
 * ratio table and notes.
 */
import { fmtRatio, median, medianStep } from './orchestrate.js';

/**
 * `field`: the steps' key naming the item ('server', 'setup'); `items`: those to summarize, in
 * order; `ratios`: [{a, b, label}]; `extra(list)`: more fields of a cell from its steps.
 */
export function summarizeSteps(steps, opts, { field, items, ratios: RATIOS, extra = () => ({}) }) {
  const cells = [];
  const ratios = [];
  for (const wl of opts.workloads) {
    for (const mode of opts.modes) {
      const of = (item) => steps.filter((s) => s.workload === wl && s.mode === mode && s[field] === item);
      for (const item of items) {
        const list = of(item);
        if (!list.length) continue;
        cells.push({ workload: wl, mode, [field]: item, median: medianStep(list), rounds: list.map((s) => s.deliveredMsgPerSec), usPerMsg: median(list.map((s) => s.serverCpuUsPerMsg)), ...extra(list) });
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
          // > 1: the first spends more server CPU per delivered message (what serverCpuUsPerMsg counts).
          cpuPerMsg: median(a.map((s) => s.serverCpuUsPerMsg)) / median(b.map((s) => s.serverCpuUsPerMsg)),
          p99: ma.latencyMs.p99 / mb.latencyMs.p99,
        });
      }
    }
  }
  return { cells, ratios };
}

/** The first lines: command, date, code, machine (`machineExtra` after the node version), then `setupLine` and a blank line. */
export function headerLines(meta, machineExtra, setupLine) {
  return [
    `Command: \`${meta.command}\`  `,
    `Date: ${meta.date}; elapsed ${Math.round(meta.elapsedSeconds)} s  `,
    `Code: commit ${meta.gitCommit ?? '?'}${meta.gitDirtyPackages ? ' + uncommitted changes under packages/ (as built before the run)' : ''}  `,
    `Machine: ${meta.cpus} CPUs (nproc), ${meta.cpuModel}, ${meta.platform}, node ${meta.node}; ${machineExtra}load average (1/5/15 min) ${meta.loadBefore.join(' ')} before, ${meta.loadAfter.join(' ')} after  `,
    setupLine,
    '',
  ];
}

/** Appends the ratio table (if any) under `caption`, then the CPU note and one note per problem. */
export function ratiosAndNotes(out, results, caption, cpuNote) {
  const { summary } = results;
  if (summary.ratios.length) {
    out.push(caption, '', '| Workload | Mode | Ratio | delivered | paired | CPU/msg | p99 |', '|---|---|---|---:|---:|---:|---:|');
    for (const r of summary.ratios) out.push(`| ${r.workload} | ${r.mode} | ${r.label} | **${fmtRatio(r.delivered)}** | ${fmtRatio(r.paired)} | ${fmtRatio(r.cpuPerMsg)} | ${fmtRatio(r.p99)} |`);
    out.push('');
  }
  out.push(cpuNote);
  for (const p of results.problems) out.push(`Note: ${p}`);
  return out.join('\n');
}
