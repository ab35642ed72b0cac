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
