/**
 * The contract every ProgressStore implementation passes.
 */
import type { JobProgress } from '@tidings/protocol';
import { describe, expect, it } from 'vitest';
import { closesAfterEach, sleep, unique } from './contract-support.js';
import type { ProgressStore } from './progress.js';

export type ProgressFactory = () => Promise<ProgressStore>;

const job = (jobId: string, percent: number, extra: Partial<JobProgress> = {}): JobProgress => ({ jobId, percent, done: false, updatedAt: Date.now(), ...extra });

export function progressContract(name: string, factory: ProgressFactory): void {
  describe(`ProgressStore contract: ${name}`, () => {
    const track = closesAfterEach<ProgressStore>();
    const make = async () => track(await factory());

    it('keeps the latest state per job, most recently updated first', async () => {
      const s = await make();
      const u = unique('user');
      await s.set(u, job('a', 10), 5000, 10);
      await s.set(u, job('b', 20, { stage: 'upload' }), 5000, 10);
      await s.set(u, job('a', 55, { stage: 'summarize' }), 5000, 10);
      expect((await s.list(u)).map((j) => [j.jobId, j.percent])).toEqual([
        ['a', 55],
        ['b', 20],
      ]);
      expect(await s.get(u, 'a')).toMatchObject({ percent: 55, stage: 'summarize' });
      expect(await s.get(u, 'zzz')).toBeUndefined();
      expect(await s.list(unique('nobody'))).toEqual([]);
    });

    it('forgets the least recently updated job beyond maxJobs', async () => {
      const s = await make();
      const u = unique('user');
      for (const id of ['j1', 'j2', 'j3']) await s.set(u, job(id, 1), 5000, 3);
      await s.set(u, job('j1', 2), 5000, 3);
      await s.set(u, job('j4', 1), 5000, 3);
      expect((await s.list(u)).map((j) => j.jobId)).toEqual(['j4', 'j1', 'j3']);
    });

    it('expires states on their own; an update extends them', async () => {
      const s = await make();
      const u = unique('user');
      await s.set(u, job('short', 10), 200, 10);
      await s.set(u, job('kept', 10), 200, 10);
      await sleep(120);
      await s.set(u, job('kept', 20), 200, 10);
      await sleep(120);
      expect((await s.list(u)).map((j) => j.jobId)).toEqual(['kept']);
      expect(await s.get(u, 'short')).toBeUndefined();
    });
  });
}

/** Two nodes' handles to one shared progress state (for memory: the same instance twice). */
export interface TwoProgressNodes {
  a: ProgressStore;
  b: ProgressStore;
  /** Closes both handles and the shared state. */
  close(): Promise<void>;
}
export type TwoNodeProgressFactory = () => Promise<TwoProgressNodes>;

/** Job progress seen from two nodes: what one sets, the other reads, in one order. */
export function progressTwoNodeContract(name: string, factory: TwoNodeProgressFactory): void {
  describe(`ProgressStore contract, two nodes: ${name}`, () => {
    const track = closesAfterEach<TwoProgressNodes>();
    const two = async () => track(await factory());

    it('keeps one latest state per job whichever node set it', async () => {
      const { a, b } = await two();
      const u = unique('user');
      await a.set(u, job('x', 10), 5000, 10);
      await b.set(u, job('y', 20), 5000, 10);
      await b.set(u, job('x', 70, { stage: 'render' }), 5000, 10);
      expect((await a.list(u)).map((j) => [j.jobId, j.percent])).toEqual([
        ['x', 70],
        ['y', 20],
      ]);
      expect(await a.get(u, 'x')).toMatchObject({ percent: 70, stage: 'render' });
      expect(await b.list(u)).toEqual(await a.list(u));
    });

    it('applies maxJobs to the jobs set through both nodes', async () => {
      const { a, b } = await two();
      const u = unique('user');
      await a.set(u, job('j1', 1), 5000, 2);
      await b.set(u, job('j2', 1), 5000, 2);
      await a.set(u, job('j3', 1), 5000, 2);
      expect((await b.list(u)).map((j) => j.jobId)).toEqual(['j3', 'j2']);
    });
  });
}
