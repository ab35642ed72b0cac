/**
 * The contract every IdempotencyStore implementation passes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { IdempotencyStore } from './idempotency.js';

export type IdempotencyFactory = () => Promise<IdempotencyStore>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const freshKey = () => `test:k${process.pid}-${Date.now()}-${++seq}`;

export function idempotencyContract(name: string, factory: IdempotencyFactory): void {
  describe(`IdempotencyStore contract: ${name}`, () => {
    const open: IdempotencyStore[] = [];
    async function make() {
      const store = await factory();
      open.push(store);
      return store;
    }
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

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
