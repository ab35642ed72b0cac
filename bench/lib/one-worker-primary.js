#!/usr/bin/env node
/**
 * `tidings serve` as a primary with ONE worker, for bench/workers.js: the same processes and
 * code as `tidings serve --workers N` (workers/primary.ts forks node:cluster workers that run
 * the real `tidings serve` CLI, engine and stores over IPC), with N = 1. The CLI itself runs
 * `workers: 1` as one process with no primary, so this is the way to measure what the IPC
 * engine alone costs: the primary + 1 worker against one process, same machine, same load.
 *
 *   node bench/lib/one-worker-primary.js <tidings.yaml>
 *
 * Uses the built server (packages/server/dist). Signals as for `tidings serve --workers`:
 * SIGTERM stops the worker gracefully, then the primary.
 */
import cluster from 'node:cluster';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/lib/one-worker-primary.js <tidings.yaml>');
  process.exit(2);
}
const dist = (p) => import(path.join(ROOT, 'packages/server/dist', p));
const [{ loadConfigWithInput }, { runPrimary }, { createLogger }] = await Promise.all([dist('config/load.js'), dist('workers/primary.js'), dist('log.js')]);

const { config } = loadConfigWithInput({ file, env: process.env, flags: {} });
// The worker runs the real CLI with the same file (workers: 1 there: a cluster worker never forks).
cluster.setupPrimary({ exec: path.join(ROOT, 'packages/server/bin/tidings.js'), args: ['serve', '--config', file] });
try {
  await runPrimary({ config: { ...config, workers: 1 }, log: createLogger(config.logLevel) });
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
