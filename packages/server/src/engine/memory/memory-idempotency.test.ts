/**
 * The memory broker's idempotency keys stay bounded: 100,000 distinct keys within one
 * window (a minute) leave it at its bound in keys, bytes and heap.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { MemoryIdempotency } from './memory-idempotency.js';

/** A full collection before each heap reading: `global.gc` when the process has it, else exposed through V8's flags. */
function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('MemoryIdempotency bounds', () => {
  it('keeps memory flat under 100k distinct keys per minute: size at maxKeys, bytes under maxBytes, heap not growing with the keys', async () => {
    const maxKeys = 1000;
    const maxBytes = 1024 * 1024;
    const store = new MemoryIdempotency<unknown>({ maxKeys, maxBytes });
    const gc = collector();
    const heap = () => {
      gc();
      return process.memoryUsage().heapUsed;
    };
    // Publish-shaped outcomes and keys, as the memory streams make them.
    const push = async (from: number, count: number) => {
      for (let i = from; i < from + count; i++) {
        const key = JSON.stringify(['chat:room-1', JSON.stringify(['c', `user-${i % 500}`, `key-${i}`])]);
        expect(store.get(key)).toBeUndefined();
        store.set(key, { position: { offset: i, epoch: 'abcdefgh' }, deduplicated: true }, 60_000);
        if (i % 10_000 === 0) {
          expect(store.size).toBeLessThanOrEqual(maxKeys);
          expect(store.bytes).toBeLessThanOrEqual(maxBytes);
        }
      }
    };
    try {
      // Filled to the bound first, so the heap reading starts from a full store.
      await push(0, 10_000);
      expect(store.size).toBe(maxKeys);
      const before = heap();
      await push(10_000, 100_000);
      const after = heap();
      expect(store.size).toBe(maxKeys);
      expect(store.bytes).toBeGreaterThan(0);
      expect(store.bytes).toBeLessThanOrEqual(maxBytes);
      // An unbounded store would hold 100,000 more entries here (tens of MB); a bounded one holds none more.
      expect(after - before).toBeLessThan(4 * 1024 * 1024);
      // The newest key is still held, the oldest forgotten.
      const newest = JSON.stringify(['chat:room-1', JSON.stringify(['c', `user-${109_999 % 500}`, 'key-109999'])]);
      expect(store.get(newest)).toMatchObject({ position: { offset: 109_999 } });
      expect(store.get(JSON.stringify(['chat:room-1', JSON.stringify(['c', 'user-0', 'key-0'])]))).toBeUndefined();
    } finally {
      store.close();
    }
  });

  it('bytes bound the store when results are large, whatever maxKeys allows', async () => {
    const store = new MemoryIdempotency<string>({ maxKeys: 100_000, maxBytes: 64 * 1024 });
    try {
      for (let i = 0; i < 1000; i++) store.set(`k${i}`, 'y'.repeat(2000), 60_000);
      expect(store.bytes).toBeLessThanOrEqual(64 * 1024);
      expect(store.size).toBeLessThan(20);
    } finally {
      store.close();
    }
  });

  it('refuses bounds that are not positive integers', () => {
    expect(() => new MemoryIdempotency({ maxKeys: 0 })).toThrow(RangeError);
    expect(() => new MemoryIdempotency({ maxBytes: 1.5 })).toThrow(RangeError);
  });
});
