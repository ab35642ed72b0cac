import type { JobProgress } from '@tidings/protocol';
import type { ProgressStore } from '../progress.js';

interface Entry {
  job: JobProgress;
  expiresAt: number;
}

/** Job progress of a single node. Expired states are dropped when their user is read or written. */
export class MemoryProgressStore implements ProgressStore {
  /** Per user, by job id, in update order (a Map keeps insertion order; `set` re-inserts). */
  private readonly users = new Map<string, Map<string, Entry>>();
  private readonly sweep: NodeJS.Timeout;

  constructor(
    sweepIntervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
    // Users nobody reads again still lose their expired jobs.
    this.sweep = setInterval(() => {
      for (const user of [...this.users.keys()]) this.live(user);
    }, sweepIntervalMs);
    this.sweep.unref();
  }

  async set(user: string, job: JobProgress, ttlMs: number, maxJobs: number): Promise<void> {
    let jobs = this.live(user);
    if (!jobs) {
      jobs = new Map();
      this.users.set(user, jobs);
    }
    jobs.delete(job.jobId);
    jobs.set(job.jobId, { job, expiresAt: this.now() + ttlMs });
    while (jobs.size > maxJobs) jobs.delete(jobs.keys().next().value!);
  }

  async list(user: string): Promise<JobProgress[]> {
    return [...(this.live(user)?.values() ?? [])].map((e) => e.job).reverse();
  }

  async get(user: string, jobId: string): Promise<JobProgress | undefined> {
    return this.live(user)?.get(jobId)?.job;
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    this.users.clear();
  }

  private live(user: string): Map<string, Entry> | undefined {
    const jobs = this.users.get(user);
    if (!jobs) return undefined;
    const now = this.now();
    for (const [id, e] of jobs) if (e.expiresAt <= now) jobs.delete(id);
    if (jobs.size === 0) {
      this.users.delete(user);
      return undefined;
    }
    return jobs;
  }
}
