/**
 * The contract every IdempotencyStore implementation passes.
 */
import { describe, expect, it } from 'vitest';
import { closesAfterEach, sleep, unique } from './contract-support.js';
import type { IdempotencyStore } from './idempotency.js';

export type IdempotencyFactory = () => Promise<IdempotencyStore>;

const freshKey = () => unique('test:k');

export function idempotencyContract(name: string, factory: IdempotencyFactory): void {
  describe(`IdempotencyStore contract: ${name}`, () => {
    const track = closesAfterEach<IdempotencyStore>();
    const make = async () => track(await factory());

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
  });
}
