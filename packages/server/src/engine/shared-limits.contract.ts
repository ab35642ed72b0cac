/**
 * The contract every SharedLimits implementation passes, with one node and with two nodes
 * sharing one deployment (memory: two handles of one MemorySharedLimits; IPC: two workers'
 * handles of one primary).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, unique } from './contract-support.js';
import type { SharedLimits } from './shared-limits.js';

export interface SharedLimitsNodes {
  /** Handles of `count` nodes of one deployment. */
  readonly nodes: SharedLimits[];
  /**
   * The deployment notices that node `index` is gone without it closing its handle (a worker
   * died). Optional: without it the suite closes the handle, which must have the same effect.
   */
  lose?(index: number): Promise<void>;
  /** Closes the handles and what they share. */
  close(): Promise<void>;
}

export type SharedLimitsFactory = (count: number) => Promise<SharedLimitsNodes>;

export function sharedLimitsContract(name: string, factory: SharedLimitsFactory): void {
  describe(`SharedLimits contract: ${name}`, () => {
    const open: SharedLimitsNodes[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((d) => d.close()));
    });
    const make = async (count: number) => {
      const d = await factory(count);
      open.push(d);
      return d;
    };

    for (const count of [1, 2]) {
      const label = count === 1 ? 'one node' : 'two nodes';

      it(`${label}: at most max slots are held however many acquires race`, async () => {
        const { nodes } = await make(count);
        const key = unique('ip-');
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => nodes[i % count]!.acquire(key, `h${i}`, 10)));
        expect(results.filter(Boolean).length).toBe(10);
        for (const n of nodes) expect(await n.held(key)).toBe(10);
        expect(await nodes[0]!.acquire(key, 'late', 10)).toBe(false);
      });

      it(`${label}: release frees a slot for any node, releasing a slot not held does nothing`, async () => {
        const { nodes } = await make(count);
        const a = nodes[0]!;
        const b = nodes[count - 1]!;
        const key = unique('user-');
        expect(await a.acquire(key, 'c1', 2)).toBe(true);
        expect(await b.acquire(key, 'c2', 2)).toBe(true);
        expect(await b.acquire(key, 'c3', 2)).toBe(false);
        await a.release(key, 'c1');
        expect(await b.held(key)).toBe(1);
        expect(await b.acquire(key, 'c3', 2)).toBe(true);
        await a.release(key, 'nobody');
        await a.release(unique('never-'), 'c1');
        expect(await a.held(key)).toBe(2);
        // Releasing twice gives back one slot, not two.
        await b.release(key, 'c3');
        await b.release(key, 'c3');
        expect(await a.held(key)).toBe(1);
        await a.release(key, 'c2');
        expect(await a.held(key)).toBe(0);
      });

      it(`${label}: slots of different keys are counted apart`, async () => {
        const { nodes } = await make(count);
        const k1 = unique('k1-');
        const k2 = unique('k2-');
        expect(await nodes[0]!.acquire(k1, 'h', 1)).toBe(true);
        expect(await nodes[count - 1]!.acquire(k2, 'h', 1)).toBe(true);
        expect(await nodes[0]!.acquire(k1, 'other', 1)).toBe(false);
        expect(await nodes[0]!.held(k1)).toBe(1);
        expect(await nodes[0]!.held(k2)).toBe(1);
      });

      it(`${label}: a token bucket per key is shared and refills over time`, async () => {
        const { nodes } = await make(count);
        const key = unique('rate-');
        // 20 tokens a second, burst 3: three takes across the nodes, then none until one refills (50 ms).
        const first = await Promise.all(Array.from({ length: 8 }, (_, i) => nodes[i % count]!.take(key, 20, 3)));
        expect(first.filter(Boolean).length).toBe(3);
        const other = unique('rate-');
        expect(await nodes[count - 1]!.take(other, 20, 3)).toBe(true);
        let refilled = false;
        for (let i = 0; i < 20 && !refilled; i++) {
          await sleep(20);
          refilled = await nodes[i % count]!.take(key, 20, 3);
        }
        expect(refilled).toBe(true);
      });
    }

    it('two nodes: closing a node releases its slots, not the other node\'s', async () => {
      const { nodes } = await make(2);
      const [a, b] = nodes as [SharedLimits, SharedLimits];
      const key = unique('ip-');
      for (let i = 0; i < 3; i++) expect(await a.acquire(key, `a${i}`, 5)).toBe(true);
      for (let i = 0; i < 2; i++) expect(await b.acquire(key, `b${i}`, 5)).toBe(true);
      expect(await b.acquire(key, 'b-extra', 5)).toBe(false);
      await a.close();
      expect(await b.held(key)).toBe(2);
      for (let i = 0; i < 3; i++) expect(await b.acquire(key, `b-new${i}`, 5)).toBe(true);
      expect(await b.acquire(key, 'b-over', 5)).toBe(false);
    });

    it('two nodes: a node the deployment loses gives its slots back', async () => {
      const d = await make(2);
      const [a, b] = d.nodes as [SharedLimits, SharedLimits];
      const key = unique('user-');
      expect(await a.acquire(key, 'a1', 2)).toBe(true);
      expect(await b.acquire(key, 'b1', 2)).toBe(true);
      if (d.lose) await d.lose(0);
      else await a.close();
      // Bounded wait: an implementation may notice a lost node a moment later.
      let held = await b.held(key);
      for (let i = 0; i < 50 && held !== 1; i++) {
        await sleep(20);
        held = await b.held(key);
      }
      expect(held).toBe(1);
      expect(await b.acquire(key, 'b2', 2)).toBe(true);
    });
  });
}
