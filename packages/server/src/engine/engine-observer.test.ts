import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/schema.js';
import { HistoryBudgetError } from './broker.js';
import { observeEngine, type EngineErrorKind, type EngineObserver, type EngineOp } from './engine-observer.js';
import { createMemoryEngine } from './memory/memory-cluster.js';

/** An observer that records what it is told. */
function recorder(): EngineObserver & { ops: EngineOp[]; errors: EngineErrorKind[] } {
  const ops: EngineOp[] = [];
  const errors: EngineErrorKind[] = [];
  return { ops, errors, operation: (op, seconds) => void (seconds >= 0 && ops.push(op)), error: (kind) => void errors.push(kind) };
}

describe('observeEngine', () => {
  it('times each part’s calls under its operation, passes results through, and leaves bus requests and close untimed', async () => {
    const engine = createMemoryEngine(resolveConfig({}));
    const seen = recorder();
    const observed = observeEngine(engine, seen, () => undefined);
    try {
      const history = { size: 10, ttlMs: 60_000 };
      const out = await observed.broker.publish('chat:a', { n: 1 }, { history });
      expect(out.position?.offset).toBe(1);
      const page = await observed.broker.history('chat:a', { limit: 10 });
      expect(page.publications.map((p) => p.data)).toEqual([{ n: 1 }]);
      await observed.broker.subscribe(['chat:a']);
      await observed.presence.stats('chat:a');
      await observed.limits.take('k', 10, 10);
      await observed.progress.list('u1');
      await observed.bus.start('n1', { onMessage: () => 'pong' });
      expect(await observed.bus.request('n1', { type: 'ping' }, 1000)).toBe('pong');
      expect(seen.ops).toEqual(['publish', 'history', 'subscribe', 'presence', 'limits', 'progress']);
      // A synchronous method is handed through as it is, bound to the part.
      expect(observed.broker.historyStats?.().publications).toBe(1);
    } finally {
      await observed.close();
    }
    expect(seen.ops).toHaveLength(6);
  });

  it('counts a failure the engine classifies as its own by kind, and not one that is the caller’s (a full budget)', async () => {
    const engine = createMemoryEngine(resolveConfig({}));
    const seen = recorder();
    const boom = Object.assign(new Error('connection lost'), { engineKind: 'connection' as const });
    engine.presence.stats = async () => {
      throw boom;
    };
    const observed = observeEngine(engine, seen, (err) => (err as { engineKind?: EngineErrorKind }).engineKind);
    try {
      await expect(observed.presence.stats('chat:a')).rejects.toBe(boom);
      const owner = { id: 'u1', maxBytes: 10 };
      await expect(observed.broker.publish('chat:b', 'x'.repeat(100), { history: { size: 10, ttlMs: 60_000 }, owner })).rejects.toBeInstanceOf(HistoryBudgetError);
      expect(seen.errors).toEqual(['connection']);
      // The budget refusal was an answer, timed like one.
      expect(seen.ops).toEqual(['publish']);
    } finally {
      await observed.close();
    }
  });

  it('never lets a throwing observer break a call', async () => {
    const engine = createMemoryEngine(resolveConfig({}));
    const observed = observeEngine(
      engine,
      {
        operation: () => {
          throw new Error('observer bug');
        },
      },
      () => undefined,
    );
    try {
      expect((await observed.broker.publish('chat:c', 1, { history: { size: 5, ttlMs: 1000 } })).position?.offset).toBe(1);
    } finally {
      await observed.close();
    }
  });
});
