/**
 * Job progress (seed 000's `ai_progress`): the backend reports a job's state; the
 * latest state per job is kept (in the engine, through `cluster/progress-state.ts`)
 * and pushed to every connection of the job's user. A client that connects mid-job
 * asks for the current state.
 */
import { z } from 'zod';
import { personalChannel, type JobProgress } from '@tidings/protocol';
import type { TidingsConfig } from '../config/schema.js';
import type { ControlEvent } from '../engine/broker.js';
import type { Logger } from '../log.js';
import { checkJsonSize, parseWith, userId } from '../validate.js';

/** What `/progress` and `tidings.progress.report()` take. */
export interface ProgressInput {
  user: string;
  jobId: string;
  /** 0..100; default: the job's last percent (0 for a new job), 100 when `done` without `error`. */
  percent?: number;
  stage?: string;
  done?: boolean;
  /** Ends the job as failed. */
  error?: string;
  data?: unknown;
}

/** What `report` parses its input with; `POST /api/v1/progress` declares the same object (its OpenAPI body). */
export const progressInputSchema = z.strictObject({
  user: userId,
  jobId: z.string().min(1).max(128),
  percent: z.number().min(0).max(100).optional(),
  stage: z.string().max(128).optional(),
  done: z.boolean().optional(),
  error: z.string().min(1).max(1024).optional(),
  data: z.unknown().optional(),
});

/** The latest state per job, in the engine, through `cluster/progress-state.ts`. */
export interface ProgressStateStore {
  set(user: string, job: JobProgress, ttlMs: number, maxJobs: number): Promise<void>;
  get(user: string, jobId: string): Promise<JobProgress | undefined>;
  /** Most recently updated first. */
  list(user: string): Promise<JobProgress[]>;
}

export interface ProgressFeatureDeps {
  config: TidingsConfig;
  store: ProgressStateStore;
  /** Control publications go through `cluster/channels.ts`. */
  control: { publishControl(channel: string, event: ControlEvent): Promise<void> };
  log: Logger;
}

export class ProgressFeature {
  constructor(private readonly deps: ProgressFeatureDeps) {}

  /**
   * Records a job's new state and pushes it to the user's connections.
   *
   * @example
   * ```ts
   * await tidings.progress.report({ user: 'alice', jobId: 'summary-42', percent: 40, stage: 'summarizing' });
   * await tidings.progress.report({ user: 'alice', jobId: 'summary-42', done: true, data: { summaryId: 's1' } });
   * ```
   */
  async report(input: ProgressInput | unknown): Promise<JobProgress> {
    const body = parseWith(progressInputSchema, input);
    checkJsonSize('data', body.data, 16 * 1024);
    const { config, store, control } = this.deps;
    const previous = await store.get(body.user, body.jobId);
    const done = body.done === true || body.error !== undefined;
    const job: JobProgress = {
      jobId: body.jobId,
      percent: body.percent ?? (done && body.error === undefined ? 100 : (previous?.percent ?? 0)),
      done,
      updatedAt: Date.now(),
    };
    const stage = body.stage ?? previous?.stage;
    if (stage !== undefined) job.stage = stage;
    if (body.error !== undefined) job.error = body.error;
    const data = body.data ?? previous?.data;
    if (data !== undefined) job.data = data;
    await store.set(body.user, job, done ? config.progress.doneTtl : config.progress.ttl, config.progress.maxJobsPerUser);
    await control.publishControl(personalChannel(body.user), { type: 'progress', job });
    return job;
  }

  /** The user's jobs, most recently updated first, or one job. */
  async jobs(user: string, jobId?: string): Promise<JobProgress[]> {
    if (jobId === undefined) return this.deps.store.list(user);
    const job = await this.deps.store.get(user, jobId);
    return job ? [job] : [];
  }
}
