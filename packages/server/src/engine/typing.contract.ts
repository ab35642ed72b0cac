/**
 * The contract every TypingStore implementation passes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TypingStore } from './typing.js';

export type TypingFactory = () => Promise<TypingStore>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const freshChannel = () => `test:t${process.pid}-${Date.now()}-${++seq}`;

export function typingContract(name: string, factory: TypingFactory): void {
  describe(`TypingStore contract: ${name}`, () => {
    const open: TypingStore[] = [];
    async function make() {
      const store = await factory();
      open.push(store);
      return store;
    }
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    it('reports each start and stop once, per user and channel', async () => {
      const s = await make();
      const c = freshChannel();
      expect(await s.start(c, 'alice', { name: 'Alice' }, 5000)).toEqual({ started: true });
      expect(await s.start(c, 'alice', { name: 'Alice' }, 5000)).toEqual({ started: false });
      expect(await s.start(c, 'bob', undefined, 5000)).toEqual({ started: true });
      const list = await s.list(c);
      expect(list.map((e) => e.user).sort()).toEqual(['alice', 'bob']);
      expect(list.find((e) => e.user === 'alice')).toMatchObject({ info: { name: 'Alice' }, expiresAt: expect.any(Number) });
      expect(await s.list(freshChannel())).toEqual([]);
      expect(await s.stop(c, 'alice')).toEqual({ stopped: true });
      expect(await s.stop(c, 'alice')).toEqual({ stopped: false });
      expect((await s.list(c)).map((e) => e.user)).toEqual(['bob']);
    });

    it('expires entries on their own, and a refresh extends them', async () => {
      const s = await make();
      const c = freshChannel();
      await s.start(c, 'alice', undefined, 250);
      await s.start(c, 'bob', undefined, 250);
      await sleep(150);
      await s.start(c, 'bob', undefined, 250);
      await sleep(150);
      expect((await s.list(c)).map((e) => e.user)).toEqual(['bob']);
      expect(await s.start(c, 'alice', undefined, 250)).toEqual({ started: true });
      expect(await s.stop(c, 'nobody')).toEqual({ stopped: false });
    });
  });
}
