/**
 * The contract every TypingStore implementation passes.
 */
import { describe, expect, it } from 'vitest';
import { closesAfterEach, sleep, unique } from './contract-support.js';
import type { TypingStore } from './typing.js';

export type TypingFactory = () => Promise<TypingStore>;

const freshChannel = () => unique('test:t');

export function typingContract(name: string, factory: TypingFactory): void {
  describe(`TypingStore contract: ${name}`, () => {
    const track = closesAfterEach<TypingStore>();
    const make = async () => track(await factory());

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

/** Two nodes' handles to one shared typing state (for memory: the same instance twice). */
export interface TwoTypingNodes {
  a: TypingStore;
  b: TypingStore;
  /** Closes both handles and the shared state. */
  close(): Promise<void>;
}
export type TwoNodeTypingFactory = () => Promise<TwoTypingNodes>;

/** The typing state seen from two nodes: a start on one is a repeat on the other, a stop on either ends it. */
export function typingTwoNodeContract(name: string, factory: TwoNodeTypingFactory): void {
  describe(`TypingStore contract, two nodes: ${name}`, () => {
    const track = closesAfterEach<TwoTypingNodes>();
    const two = async () => track(await factory());

    it('shares who is typing: started on A, listed on B, a repeat on B, stopped through B', async () => {
      const { a, b } = await two();
      const c = freshChannel();
      expect(await a.start(c, 'alice', { name: 'Alice' }, 5000)).toEqual({ started: true });
      expect(await b.start(c, 'alice', { name: 'Alice' }, 5000)).toEqual({ started: false });
      expect(await b.start(c, 'bob', undefined, 5000)).toEqual({ started: true });
      expect((await b.list(c)).map((e) => e.user).sort()).toEqual(['alice', 'bob']);
      expect((await a.list(c)).map((e) => e.user).sort()).toEqual(['alice', 'bob']);
      expect(await b.stop(c, 'alice')).toEqual({ stopped: true });
      expect(await a.stop(c, 'alice')).toEqual({ stopped: false });
      expect((await a.list(c)).map((e) => e.user)).toEqual(['bob']);
    });

    it('a refresh through B extends what A started', async () => {
      const { a, b } = await two();
      const c = freshChannel();
      await a.start(c, 'alice', undefined, 250);
      await sleep(150);
      await b.start(c, 'alice', undefined, 250);
      await sleep(150);
      expect((await a.list(c)).map((e) => e.user)).toEqual(['alice']);
    });
  });
}
