#!/usr/bin/env node
/**
 * What `history.store: sqlite` costs per publication, without subscribers or sockets: one
 * Tidings (createTidings) per process publishes at a fixed rate, round-robin over 50 channels of
 * a namespace with history (size 100, ttl 5 min), and reports its process CPU (user + system,
 * every thread) per publication over the window. At a fixed rate the CPU is what the work costs,
 * whatever else the machine runs (bench/encoding.js's history part, which publishes as fast as
 * it is scheduled, swings ±20 % between rounds on a loaded machine). Stores, each a fresh process
 * and file, in interleaved rounds; medians:
 *   memory, sqlite (this tree's build), and with --baseline DIR sqlite on the build in DIR.
 *
 *   node bench/encoding-history-cost.js [--rate 2000] [--seconds 3] [--rounds 5] [--baseline DIR]
 */
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { flags, positiveNumber } from './lib/args.js';
import { fmtRatio, fmtUs, log, median, parseOrExit } from './lib/orchestrate.js';

const SELF = fileURLToPath(import.meta.url);
const CHANNELS = Array.from({ length: 50 }, (_, i) => `bench:h${i}`);

/** The child: one store, one window; prints {cpuUsPerPublication, published} as JSON. */
async function child(store, dist, rate, seconds) {
  const { createTidings } = await import(pathToFileURL(path.join(dist, 'index.js')).href);
  const dbFile = path.join(os.tmpdir(), `tidings-bench-history-cost-${process.pid}.db`);
  const tidings = createTidings({
    logLevel: 'silent',
    auth: { secret: 'x'.repeat(40) },
    namespaces: { bench: { history: { size: 100, ttl: '5m' } } },
    history: { store: store === 'memory' ? 'memory' : 'sqlite' },
    store: { path: dbFile },
  });
  await tidings.listen(0, '127.0.0.1');
  const base = { kind: 'task', id: 'abc123', title: 'a task title', done: false, score: 0.5 };
  let n = 0;
  // Warm-up: every channel's history full (100), so each publication also trims one.
  for (; n < 100 * CHANNELS.length; n++) await tidings.publish(CHANNELS[n % CHANNELS.length], { ...base, n });
  await new Promise((r) => setTimeout(r, 200));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const first = n;
  await new Promise((resolve) => {
    const turn = () => {
      const elapsed = performance.now() - t0;
      if (elapsed >= seconds * 1000) return resolve();
      // Publications due by now, one per call, as many as the rate asks.
      while (n - first < (elapsed * rate) / 1000) {
        tidings.publish(CHANNELS[n % CHANNELS.length], { ...base, n, t: Date.now() });
        n++;
      }
      setTimeout(turn, 1);
    };
    turn();
  });
  const cpu = process.cpuUsage(cpu0);
  const published = n - first;
  await tidings.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(dbFile + suffix, { force: true });
  process.stdout.write(JSON.stringify({ cpuUsPerPublication: (cpu.user + cpu.system) / published, published }) + '\n');
}

function runChild(store, dist, opts) {
  return new Promise((resolve, reject) => {
    const proc = fork(SELF, ['--child', store, dist, String(opts.rate), String(opts.seconds)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${store} exited with ${code}`))));
  });
}

if (process.argv[2] === '--child') {
  const [, , , store, dist, rate, seconds] = process.argv;
  await child(store, dist, Number(rate), Number(seconds));
  process.exit(0);
}

const opts = parseOrExit((argv) => {
  const o = { rate: 2000, seconds: 3, rounds: 5, baseline: undefined };
  for (const [name, value] of flags(argv, [])) {
    if (name === 'baseline') o.baseline = path.resolve(value);
    else if (name === 'rate' || name === 'seconds' || name === 'rounds') o[name] = positiveNumber(name, value);
    else throw new Error(`unknown flag --${name}`);
  }
  return o;
});
const here = path.resolve(path.dirname(SELF), '../packages/server/dist');
const stores = [['memory', here], ['sqlite', here], ...(opts.baseline ? [['sqlite-before', opts.baseline]] : [])];
const runs = Object.fromEntries(stores.map(([s]) => [s, []]));
for (let round = 0; round < opts.rounds; round++) {
  for (let i = 0; i < stores.length; i++) {
    const [store, dist] = stores[(i + round) % stores.length];
    const r = await runChild(store, dist, opts);
    runs[store].push(r.cpuUsPerPublication);
    log(`  round ${round + 1} ${store}: ${fmtUs(r.cpuUsPerPublication)} µs / publication (${r.published})`);
  }
}
const med = Object.fromEntries(Object.entries(runs).map(([s, list]) => [s, median([...list].sort((a, b) => a - b))]));
console.log(`\nCPU per publication at ${opts.rate}/s, 50 channels, history 100, no subscribers (${opts.rounds} rounds, medians)\n`);
console.log('| store | µs / publication | rounds | / memory | extra µs / publication |');
console.log('|---|---:|---|---:|---:|');
for (const [s] of stores) {
  console.log(`| ${s} | ${fmtUs(med[s])} | ${runs[s].map(fmtUs).join(', ')} | ${fmtRatio(med[s] / med.memory)} | ${fmtUs(med[s] - med.memory)} |`);
}
