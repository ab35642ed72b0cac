/**
 * bench/ceiling.js's Markdown: the header (command, machine, versions), accepts,
 * idle memory, the latency sweeps, and the ratios against the issue's targets.
 */
import { fmtInt, fmtK, fmtMs, fmtRatio, median } from './orchestrate.js';
import { P99_FACTOR, STARVED_CPU_PCT, SWEEP_WORKLOADS } from './ceiling-sweep.js';

const kb = (b) => (b === null || b === undefined || !Number.isFinite(b) ? '—' : (b / 1024).toFixed(2));
const div = (a, b) => (a === null || a === undefined || !b ? null : a / b);

function header(results) {
  const { meta } = results;
  return [
    `- **Command:** \`${meta.command}\``,
    `- **Date:** ${meta.date}; elapsed ${Math.round(meta.elapsedSeconds)} s`,
    `- **Code:** commit \`${meta.gitCommit ?? '?'}\`${meta.gitDirtyPackages ? ' + uncommitted changes under packages/ (other engineers\' work in progress, as built before the run)' : ''}`,
    `- **Machine:** ${meta.cpus} CPUs (nproc), ${meta.cpuModel}, ${meta.platform}; load average (1/5/15 min) ${meta.loadBefore.join(' ')} before, ${meta.loadAfter.join(' ')} after`,
    `- **Versions:** Node ${meta.node}; ${Object.entries(meta.versions).map(([k, v]) => `${k} ${v ?? '—'}`).join(', ')}`,
    `- **Pinning:** ${meta.options.pin ? 'each server process on core 0 (`taskset -a -pc 0`), sinks and the accept generator on the other core(s)' : 'none (no taskset, or --no-pin)'}`,
    '',
  ];
}

function accepts(out, results) {
  const a = results.accepts;
  if (!a) return;
  const o = results.meta.options;
  const ws = a['ws-batched'];
  const jwt = a['ws-jwt'];
  out.push(`### Accepts: ${o.accepts} connects per burst, ${o.acceptConcurrency} in flight, each with its own token (median of ${o.acceptRounds} rounds)`, '');
  out.push('| Server | accepts/s | rounds | server CPU % of a core | server CPU µs / accept | accepts ÷ bare ws | accepts ÷ bare ws + JWT | CPU/accept ÷ bare ws | CPU/accept ÷ bare ws + JWT |', '|---|---:|---|---:|---:|---:|---:|---:|---:|');
  for (const r of Object.values(a)) {
    out.push(
      `| ${r.label} | ${fmtInt(r.acceptsPerSec)} | ${r.rounds.map((x) => fmtInt(x.acceptsPerSec)).join(', ')} | ${median(r.rounds.map((x) => x.serverCpuPct))?.toFixed(0)}% | ${r.cpuUsPerAccept?.toFixed(0) ?? '—'} | ${fmtRatio(div(r.acceptsPerSec, ws?.acceptsPerSec))} | ${fmtRatio(div(r.acceptsPerSec, jwt?.acceptsPerSec))} | ${fmtRatio(div(r.cpuUsPerAccept, ws?.cpuUsPerAccept))} | ${fmtRatio(div(r.cpuUsPerAccept, jwt?.cpuUsPerAccept))} |` +
        (r.failures ? ` ${r.failures} failed` : ''),
    );
  }
  out.push(
    '',
    'A server below ~90 % of a core during its bursts was not the bottleneck: its accepts/s then says how fast the generator (on the other core) and the machine went; its CPU per accept still holds.',
    '',
  );
}

function memory(out, results) {
  const m = results.memory;
  if (!m) return;
  const ws = m['ws-batched'];
  out.push('### Idle memory per connection (authenticated, subscribed, idle; after two full GCs)', '');
  out.push('| Server | connections | RSS KB / conn | heap KB / conn | external + array buffers KB / conn | RSS ÷ bare ws | connect s |', '|---|---:|---:|---:|---:|---:|---:|');
  for (const r of Object.values(m)) {
    if (r.error) out.push(`| ${r.label} | error: ${r.error} | | | | | |`);
    for (const p of r.points) {
      const w = ws?.points.find((x) => x.connections === p.connections);
      out.push(`| ${r.label} | ${fmtInt(p.connections)} | ${kb(p.rssPerConn)} | ${kb(p.heapPerConn)} | ${kb(p.externalPerConn)} | ${fmtRatio(div(p.rssPerConn, w?.rssPerConn))} | ${p.connectSeconds.toFixed(1)} |`);
    }
  }
  out.push('');
}

function sweep(out, results) {
  for (const [wl, list] of Object.entries(results.sweeps ?? {})) {
    const w = SWEEP_WORKLOADS[wl];
    const byKey = Object.fromEntries(list.map((r) => [r.server, r]));
    const ws = byKey['ws-batched'];
    const sio = byKey.socketio;
    const o = results.meta.options;
    out.push(`### Fan-out ${w.label}, ${o.payloadBytes} B payloads: max delivered/s with p99 within ${P99_FACTOR}× of its own best`, '');
    out.push('| Server | max sustained msg/s | at target | p99 there ms | best p99 ms | ÷ bare ws batched | ÷ Socket.IO | saturated steps (starved) |', '|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of list) {
      const s = r.maxSustained;
      out.push(
        `| ${r.label}${r.error ? ` (error: ${r.error})` : ''} | ${fmtInt(s?.deliveredMsgPerSec)} | ${s ? fmtK(s.targetMsgPerSec) : '—'} | ${fmtMs(s?.latencyMs.p99)} | ${fmtMs(r.bestP99)} | ${fmtRatio(div(s?.deliveredMsgPerSec, ws?.maxSustained?.deliveredMsgPerSec))} | ${fmtRatio(div(s?.deliveredMsgPerSec, sio?.maxSustained?.deliveredMsgPerSec))} | ${r.steps.filter((x) => x.saturated).length} (${r.steps.filter((x) => x.starved).length}) |`,
      );
    }
    out.push(
      '',
      `Every step (delivered msg/s · p99 ms · server CPU µs/msg · server CPU % of a core; * = saturated, † = saturated while the server had < ${STARVED_CPU_PCT} % of a core, i.e. starved by other load rather than at its own ceiling), the machine's busy % (of ${results.meta.cpus * 100} %) during the Tidings step, and Tidings ÷ bare ws batched at the same target:`,
      '',
    );
    const targets = [...new Set(list.flatMap((r) => r.steps.map((s) => s.targetMsgPerSec)))].sort((a, b) => a - b);
    out.push(`| target | ${list.map((r) => r.label).join(' | ')} | machine busy | p99 T÷ws | CPU/msg T÷ws |`, `|---:|${list.map(() => '---:|').join('')}---:|---:|---:|`);
    for (const t of targets) {
      const cell = (r) => {
        const s = r.steps.find((x) => x.targetMsgPerSec === t);
        return s ? `${fmtK(s.deliveredMsgPerSec)}${s.starved ? '†' : s.saturated ? '*' : ''} · ${fmtMs(s.latencyMs.p99)} · ${s.serverCpuUsPerMsg?.toFixed(2) ?? '—'} · ${s.serverCpuPct.toFixed(0)}%` : '';
      };
      const ts = byKey.tidings?.steps.find((x) => x.targetMsgPerSec === t);
      const ws_ = ws?.steps.find((x) => x.targetMsgPerSec === t);
      out.push(`| ${fmtK(t)} | ${list.map(cell).join(' | ')} | ${ts?.machineBusyPct !== undefined ? `${ts.machineBusyPct.toFixed(0)}%` : ''} | ${fmtRatio(div(ts?.latencyMs.p99, ws_?.latencyMs.p99))} | ${fmtRatio(div(ts?.serverCpuUsPerMsg, ws_?.serverCpuUsPerMsg))} |`);
    }
    out.push('');
  }
}

function backpressure(out, results) {
  const b = results.backpressure;
  if (!b) return;
  const o = results.meta.options;
  const mib = (x) => (x === undefined ? '—' : (x / 2 ** 20).toFixed(0));
  out.push(
    `### Backpressure: 1 channel × ${fmtInt(o.bpSubscribers)}, every third subscriber stops reading, ${o.bpRate} publications/s of ${o.bpPayloadBytes} B for ${o.bpSeconds} s`,
    '',
    '| Server | paused | connections left (of all) | slow-consumer disconnects | closed as seen by readers | RSS MiB before → max (last) | heap MiB max | external MiB max | frames/s to the others | publications/s made |',
    '|---|---:|---:|---:|---|---:|---:|---:|---:|---:|',
  );
  for (const r of Object.values(b)) {
    if (r.error) {
      out.push(`| ${r.label} | error: ${r.error} | | | | | | | | |`);
      continue;
    }
    const codes = Object.entries(r.codes).map(([c, n]) => `${c}: ${n}`).join(', ');
    out.push(
      `| ${r.label} | ${r.paused} | ${r.connectionsAfter ?? '—'} (${fmtInt(o.bpSubscribers)}) | ${r.slowDisconnects ?? '—'} | ${r.lost}${codes ? ` (${codes})` : ''} | ${mib(r.before.rss)} → ${mib(r.max.rss)} (${mib(r.last.rss)}) | ${mib(r.max.heapUsed)} | ${mib(r.max.external)} | ${fmtInt(r.deliveredPerSec)} | ${fmtInt(r.publishedPerSec)} |`,
    );
  }
  out.push('');
}

/** The ratios against the issue's targets, one line each. */
export function targetRatios(results) {
  const lines = [];
  const a = results.accepts;
  if (a?.tidings) {
    if (a['ws-jwt']) lines.push(`accepts/s, Tidings ÷ bare ws + JWT: ${fmtRatio(div(a.tidings.acceptsPerSec, a['ws-jwt'].acceptsPerSec))} (target ≥ 0.8)`);
    if (a['ws-batched']) lines.push(`accepts/s, Tidings ÷ bare ws: ${fmtRatio(div(a.tidings.acceptsPerSec, a['ws-batched'].acceptsPerSec))}; CPU per accept, Tidings ÷ bare ws: ${fmtRatio(div(a.tidings.cpuUsPerAccept, a['ws-batched'].cpuUsPerAccept))} (target ≤ 1.5)`);
    if (a.socketio) lines.push(`accepts/s, Tidings ÷ Socket.IO: ${fmtRatio(div(a.tidings.acceptsPerSec, a.socketio.acceptsPerSec))}`);
  }
  for (const p of results.memory?.tidings?.points ?? []) {
    const w = results.memory['ws-batched']?.points.find((x) => x.connections === p.connections);
    lines.push(`idle RSS per connection at ${fmtInt(p.connections)}: Tidings ${kb(p.rssPerConn)} KB (target ≤ 8), ÷ bare ws ${fmtRatio(div(p.rssPerConn, w?.rssPerConn))}`);
  }
  for (const [wl, list] of Object.entries(results.sweeps ?? {})) {
    const by = Object.fromEntries(list.map((r) => [r.server, r.maxSustained?.deliveredMsgPerSec]));
    if (by.tidings === undefined) continue;
    const saturated = list.flatMap((r) => r.steps.filter((x) => x.saturated));
    const starved = saturated.filter((x) => x.starved).length;
    lines.push(
      `${wl} max sustained, Tidings ÷ bare ws batched: ${fmtRatio(div(by.tidings, by['ws-batched']))} (target ≥ 0.8)` +
        (by['ws-cork'] !== undefined ? `, ÷ bare ws pre-framed + cork: ${fmtRatio(div(by.tidings, by['ws-cork']))}` : '') +
        (by.socketio !== undefined ? `, ÷ Socket.IO: ${fmtRatio(div(by.tidings, by.socketio))} (target ≥ 10)` : '') +
        (starved ? `; **not ceilings**: ${starved} of ${saturated.length} saturated steps were starved (server < ${STARVED_CPU_PCT} % of a core)` : ''),
    );
  }
  return lines;
}

export function markdown(results, title) {
  const out = [`## ${title}`, '', ...header(results)];
  if (Math.max(...results.meta.loadBefore, ...(results.meta.loadAfter ?? [])) >= results.meta.cpus / 2) {
    out.push(`> Taken while other work loaded the machine (load average up to ${Math.max(...results.meta.loadBefore, ...(results.meta.loadAfter ?? []))} on ${results.meta.cpus} CPUs): read the ratios, not the absolute figures.`, '');
  }
  const ratios = targetRatios(results);
  if (ratios.length) out.push('**Ratios against the issue\'s targets:**', '', ...ratios.map((l) => `- ${l}`), '');
  accepts(out, results);
  memory(out, results);
  sweep(out, results);
  backpressure(out, results);
  for (const p of results.problems) out.push(`Note: ${p}`);
  return out.join('\n');
}
