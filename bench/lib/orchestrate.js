/**
 * What the bench orchestrators (bench/run.js, bench/storm.js) share: forking the
 * server, sink and storm processes with an IPC request/reply channel (and killing
 * them by pid on exit, error or Ctrl-C), the subscriber layout, statistics and
 * number formatting.
 */
import { execFileSync, fork } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/ (child files are resolved against it) and the repository root (their cwd). */
export const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(HERE, '..');

// ---------------------------------------------------------------- children

const children = new Set();
let interrupted = false;
/** True once SIGINT/SIGTERM arrived. */
export const isInterrupted = () => interrupted;

export function killAll() {
  for (const c of children) {
    try {
      c.proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    interrupted = true;
    log(`\n${sig}: stopping children`);
    killAll();
    process.exit(130);
  });
}

let nextId = 1;

/** Forks `file` with IPC; `request()` sends a message and waits for the reply with the same id. */
export function spawnChild(file, name, { execArgv = [], onUnsolicited } = {}) {
  const proc = fork(path.join(HERE, file), [], {
    cwd: ROOT,
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const waiters = new Map();
  let dead = null;
  let closing = false;
  const child = { proc, name, pid: proc.pid };
  const failAll = (err) => {
    dead = err;
    for (const w of waiters.values()) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    waiters.clear();
  };
  proc.on('message', (msg) => {
    if (msg.type === 'error') {
      failAll(new Error(`${name} failed: ${msg.message}`));
      return;
    }
    const w = msg.id !== undefined ? waiters.get(msg.id) : undefined;
    if (w) {
      waiters.delete(msg.id);
      clearTimeout(w.timer);
      w.resolve(msg);
    } else if (onUnsolicited) {
      onUnsolicited(msg);
    }
  });
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      children.delete(child);
      if (!closing) failAll(dead ?? new Error(`${name} (pid ${proc.pid}) exited unexpectedly (code ${code}, signal ${signal})`));
      resolve();
    });
  });
  proc.on('error', (err) => failAll(new Error(`${name}: ${err.message}`)));
  child.request = (msg, timeoutMs, what = msg.type) => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(id);
        reject(new Error(`${name}: no answer to "${what}" within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      waiters.set(id, { resolve, reject, timer });
      proc.send({ ...msg, id });
    });
  };
  child.isDead = () => dead !== null;
  child.send = (msg) => {
    if (!dead && proc.connected) proc.send(msg);
  };
  /** Asks the child to close; kills it (by its pid) if it has not exited within `timeoutMs`. */
  child.close = async (timeoutMs = 5000) => {
    closing = true;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    try {
      if (proc.connected) proc.send({ type: 'close' });
    } catch {
      // channel already closed
    }
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  };
  children.add(child);
  return child;
}

// ---------------------------------------------------------------- helpers

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function log(...args) {
  process.stderr.write(args.join(' ') + '\n');
}

export function cpuMs(cpu) {
  return (cpu.user + cpu.system) / 1000;
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function pin(pid, cpus) {
  try {
    execFileSync('taskset', ['-a', '-pc', cpus, String(pid)], { stdio: 'ignore' });
  } catch (err) {
    log(`  warning: taskset failed for pid ${pid}: ${err.message}`);
  }
}

/** Subscriber layout: which channel each connection subscribes to, which are probes, which sink holds it. */
export function layout(workload, sinks, probes) {
  const channels = Array.from({ length: workload.channels }, (_, i) => `bench:c${i}`);
  const total = workload.channels * workload.subsPerChannel;
  const perSink = Array.from({ length: sinks }, () => []);
  // Probes: spread evenly over the channels, over each channel's subscription order
  // (the order a server writes in) and over the sinks (connection k is in sink k % sinks).
  const probeSet = new Set();
  const nProbes = Math.min(probes, total);
  for (let p = 0; p < nProbes; p++) {
    const ch = Math.floor((p * workload.channels) / nProbes);
    const slot = Math.floor((p * workload.subsPerChannel) / nProbes) % workload.subsPerChannel;
    let k = slot * workload.channels + ch;
    // Same channel, next subscriber, until the sink and the connection fit.
    for (let tries = 0; tries < workload.subsPerChannel && (k % sinks !== p % sinks || probeSet.has(k)); tries++) {
      k = (k + workload.channels) % total;
    }
    probeSet.add(k);
  }
  // Connection k subscribes to channel k % channels; round-robin over sinks.
  for (let k = 0; k < total; k++) {
    perSink[k % sinks].push({ k, channel: channels[k % workload.channels], probe: probeSet.has(k) });
  }
  return { channels, total, perSink, probes: probeSet.size };
}

export function median(values) {
  if (values.length === 0) return null;
  const v = [...values].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

/** Median of `steps` by delivered msg/s (the lower middle for an even count). */
export function medianStep(steps) {
  const sorted = [...steps].sort((a, b) => a.deliveredMsgPerSec - b.deliveredMsgPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

export function fmtInt(n) {
  return n === null || n === undefined || !Number.isFinite(n) ? '—' : Math.round(n).toLocaleString('en-US');
}
export function fmtK(n) {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}
export function fmtMs(n) {
  if (n === null || n === undefined) return '—';
  return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0);
}
export function fmtUs(n) {
  return n === null || n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(2);
}
export function fmtPct(n) {
  return n === null || n === undefined ? '—' : `${n.toFixed(0)}%`;
}
export function fmtRatio(r) {
  return r === null || r === undefined || !Number.isFinite(r) ? '—' : r.toFixed(2);
}

/** Parses the command line with `parse`, or prints the problem and exits with 2. */
export function parseOrExit(parse) {
  try {
    return parse(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
}

/** The built server library (packages/server/dist), or exits with 2 and says how to build it. */
export function loadBuiltServer() {
  return import('../../packages/server/dist/index.js').catch((err) => {
    console.error(`cannot load the built server (run \`npx tsc -b packages/protocol packages/server\` first): ${err.message}`);
    process.exit(2);
  });
}

/** What every result file records about the run: when, which code, which command, which machine. */
export function runMeta(opts) {
  const git = (...args) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  return {
    date: new Date().toISOString(),
    gitCommit: git('rev-parse', '--short', 'HEAD'),
    gitDirtyPackages: (git('status', '--porcelain', '--', 'packages') ?? '') !== '',
    command: ['node', ...process.argv.slice(1).map((a, i) => (i === 0 ? path.relative(ROOT, a) : a))].join(' '),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    options: { ...opts, out: path.relative(ROOT, opts.out) },
  };
}
