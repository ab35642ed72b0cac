/**
 * The engine of a node: the one given in `createTidings` options (`engine`), or a memory
 * engine of its own (`createMemoryEngine`: a memory cluster of one node). `cluster/` is the
 * only caller of its parts (see docs/architecture.md).
 */
import type { TidingsConfig } from '../config/schema.js';
import type { Engine } from '../engine/engine.js';
import { createMemoryEngine } from '../engine/memory/memory-cluster.js';

export type { Engine };

/** The node's engine: `given`, or a memory engine with the config's settings. */
export function nodeEngine(config: TidingsConfig, given: Engine | undefined): Engine {
  return given ?? createMemoryEngine(config);
}
