/**
 * The contract every IdempotencyStore implementation passes.
 */
import { describe, expect, it } from 'vitest';
import { closesAfterEach, sleep, unique } from './contract-support.js';
import type { IdempotencyBounds, IdempotencyStore } from './idempotency.js';

/** Makes a store; `bounds` given, it must respect them (the default ones otherwise). */
export type IdempotencyFactory = (bounds?: IdempotencyBounds) => Promise<IdempotencyStore>;

const freshKey = () => unique('test:k');

export function idempotencyContract(name: string, factory: IdempotencyFactory): void {
  describe(`IdempotencyStore contract: ${name}`, () => {
    const track = closesAfterEach<IdempotencyStore>();
    const make = async (bounds?: IdempotencyBounds) => track(await factory(bounds));

    it('runs once per key within the window and returns the first result to every repeat', async () => {
      const s = await make();
      const key = freshKey();
      let runs = 0;
      const produce = async () => ({ n: ++runs });
      expect(await s.once(key, 60_000, produce)).toEqual({ value: { n: 1 }, fresh: true });
      expect(await s.once(key, 60_000, produce)).toEqual({ value: { n: 1 }, fresh: false });
      expect(await s.once(freshKey(), 60_000, produce)).toEqual({ value: { n: 2 }, fresh: true });
    });

    it('gives concurrent callers the one result', async () => {
      const s = await make();
      const key = freshKey();
      let runs = 0;
      const produce = async () => {
        runs++;
        await sleep(30);
        return 'done';
      };
      const results = await Promise.all(Array.from({ length: 10 }, () => s.once(key, 60_000, produce)));
      expect(runs).toBe(1);
      expect(results.filter((r) => r.fresh).length).toBe(1);
      expect(results.every((r) => r.value === 'done')).toBe(true);
    });

    it('forgets failures, so a retry can succeed', async () => {
      const s = await make();
      const key = freshKey();
      await expect(s.once(key, 60_000, async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
      await expect(
        s.once(key, 60_000, () => {
          throw new Error('sync');
        }),
      ).rejects.toThrow('sync');
      expect(await s.once(key, 60_000, async () => 'ok')).toEqual({ value: 'ok', fresh: true });
    });

    it('forgets keys after the window', async () => {
      const s = await make();
      const key = freshKey();
      expect((await s.once(key, 150, async () => 1)).fresh).toBe(true);
      await sleep(300);
      expect(await s.once(key, 150, async () => 2)).toEqual({ value: 2, fresh: true });
    });

    it('holds at most maxKeys keys: the oldest of many is forgotten, the most recent are still held', async () => {
      const maxKeys = 20;
      const s = await make({ maxKeys });
      const keys = Array.from({ length: maxKeys * 10 }, () => freshKey());
      for (const key of keys) expect((await s.once(key, 60_000, async () => key)).fresh).toBe(true);
      // The guarantee holds for the keys still held: at least the most recent maxKeys.
      for (const key of keys.slice(-maxKeys)) expect(await s.once(key, 60_000, async () => 'again')).toEqual({ value: key, fresh: false });
      // The bound is real: the first key was forgotten and runs again.
      expect(await s.once(keys[0]!, 60_000, async () => 'again')).toEqual({ value: 'again', fresh: true });
    });

    it('holds at most maxBytes of keys and results', async () => {
      const result = 'x'.repeat(1000);
      // Room for a few results of about 2 KB (UTF-16), far from 100 of them.
      const s = await make({ maxBytes: 20_000 });
      const keys = Array.from({ length: 100 }, () => freshKey());
      for (const key of keys) expect((await s.once(key, 60_000, async () => result)).fresh).toBe(true);
      expect(await s.once(keys[keys.length - 1]!, 60_000, async () => 'again')).toEqual({ value: result, fresh: false });
      expect(await s.once(keys[0]!, 60_000, async () => 'again')).toEqual({ value: 'again', fresh: true });
    });

    it('never forgets a key whose operation is running: concurrent repeats run it once, however many keys pass meanwhile', async () => {
      const s = await make({ maxKeys: 5 });
      const key = freshKey();
      let runs = 0;
      let finish!: () => void;
      const gate = new Promise<void>((resolve) => (finish = resolve));
      const slow = async () => {
        runs++;
        await gate;
        return 'slow';
      };
      const first = s.once(key, 60_000, slow);
      // Far more settled keys than the bound pass while the first operation runs.
      for (let i = 0; i < 100; i++) await s.once(freshKey(), 60_000, async () => i);
      const repeats = Array.from({ length: 5 }, () => s.once(key, 60_000, slow));
      finish();
      const results = await Promise.all([first, ...repeats]);
      expect(runs).toBe(1);
      expect(results.map((r) => r.fresh)).toEqual([true, false, false, false, false, false]);
      expect(results.every((r) => r.value === 'slow')).toBe(true);
      // Settled, it is held like any other key.
      expect(await s.once(key, 60_000, slow)).toEqual({ value: 'slow', fresh: false });
      expect(runs).toBe(1);
    });
  });
}
