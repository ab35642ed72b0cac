/**
 * Two test nodes sharing one MemoryCluster, as two workers of `tidings serve --workers` share
 * the primary's engine: each on its own HTTP server on 127.0.0.1, port 0.
 */
import { resolveConfig } from '../config/schema.js';
import { MemoryCluster, memoryClusterOptions } from '../engine/memory/memory-cluster.js';
import type { TidingsOptions } from '../node.js';
import { startTestNode, type TestNode } from './test-node.js';

export interface NodePair {
  a: TestNode;
  b: TestNode;
  /** The engine state both share (e.g. for a third bus member). */
  cluster: MemoryCluster;
  /** Closes B, then A, then the cluster. */
  close(): Promise<void>;
}

/** Starts A and B with `options` (and `onlyB` added to B's) on one MemoryCluster of the default engine config. */
export async function startNodePair(options: TidingsOptions = {}, onlyB: TidingsOptions = {}): Promise<NodePair> {
  const cluster = new MemoryCluster(memoryClusterOptions(resolveConfig({})));
  const started: TestNode[] = [];
  const close = async () => {
    for (const node of started.splice(0).reverse()) await node.close();
    await cluster.close();
  };
  try {
    started.push(await startTestNode({ ...options, engine: cluster.node() }));
    started.push(await startTestNode({ ...options, ...onlyB, engine: cluster.node() }));
  } catch (err) {
    await close();
    throw err;
  }
  const [a, b] = started as [TestNode, TestNode];
  return { a, b, cluster, close };
}

/** Runs `body` with a node pair started with `options`, and closes the pair however it ends. */
export async function withNodePair(options: TidingsOptions, body: (a: TestNode, b: TestNode) => Promise<void>): Promise<void> {
  const pair = await startNodePair(options);
  try {
    await body(pair.a, pair.b);
  } finally {
    await pair.close();
  }
}
