/**
 * Job progress state in the engine, for the progress feature (`features/progress.ts`, which asks
 * for a `ProgressStateStore`): the part of `cluster/` it calls instead of holding the engine's
 * progress store. The live update travels as a control event through `channels.ts`.
 */
import type { JobProgress } from '@tidings/protocol';
import type { ProgressStore } from '../engine/progress.js';
import type { ProgressStateStore } from '../features/progress.js';

export class ProgressState implements ProgressStateStore {
  constructor(private readonly store: ProgressStore) {}

  /** Keeps the job's latest state for `ttlMs`, at most `maxJobs` jobs per user (the oldest forgotten). */
  set(user: string, job: JobProgress, ttlMs: number, maxJobs: number): Promise<void> {
    return this.store.set(user, job, ttlMs, maxJobs);
  }

  get(user: string, jobId: string): Promise<JobProgress | undefined> {
    return this.store.get(user, jobId);
  }

  /** The user's jobs, most recently updated first. */
  list(user: string): Promise<JobProgress[]> {
    return this.store.list(user);
  }
}
