import { describe, expect, it } from 'vitest';
import { sharedLimitsContract } from '../shared-limits.contract.js';
import { MemorySharedLimits } from './memory-limits.js';

sharedLimitsContract('MemorySharedLimits', async (count) => {
  const shared = new MemorySharedLimits({ sweepIntervalMs: 50 });
  return { nodes: Array.from({ length: count }, () => shared.node()), close: () => shared.close() };
});

describe('MemorySharedLimits', () => {
  it('a closed handle refuses new slots and tokens (the node left) and ignores releases', async () => {
    const shared = new MemorySharedLimits();
    const a = shared.node();
    const b = shared.node();
    try {
      expect(await a.acquire('k', 'a1', 2)).toBe(true);
      await a.close();
      await expect(a.acquire('k', 'a2', 2)).rejects.toThrow(/closed/);
      await expect(a.take('r', 1, 1)).rejects.toThrow(/closed/);
      expect(await b.acquire('k', 'b1', 1)).toBe(true);
      await a.release('k', 'b1');
      expect(await b.held('k')).toBe(1);
    } finally {
      await shared.close();
    }
  });

  it('acquiring a slot its holder already has takes nothing more', async () => {
    const shared = new MemorySharedLimits();
    const a = shared.node();
    try {
      expect(await a.acquire('k', 'h', 1)).toBe(true);
      expect(await a.acquire('k', 'h', 1)).toBe(true);
      expect(await a.held('k')).toBe(1);
      await a.release('k', 'h');
      expect(shared.stats().slotKeys).toBe(0);
    } finally {
      await shared.close();
    }
  });

  it('forgets full buckets, keeps the others', async () => {
    const shared = new MemorySharedLimits({ sweepIntervalMs: 20 });
    const a = shared.node();
    try {
      for (let i = 0; i < 3; i++) await a.take('slow', 0.001, 3);
      expect(await a.take('slow', 0.001, 3)).toBe(false);
      await a.take('fast', 1000, 1);
      expect(shared.stats().buckets).toBe(2);
      await new Promise((r) => setTimeout(r, 60));
      expect(shared.stats().buckets).toBe(1);
      expect(await a.take('slow', 0.001, 3)).toBe(false);
    } finally {
      await shared.close();
    }
  });
});
