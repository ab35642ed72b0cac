/**
 * `useProgress`: the latest state of one of the user's long-running jobs, live.
 */
import { useSyncExternalStore } from 'react';
import type { JobProgress, ProgressTracker, Tidings, TidingsError } from '@tidings/client';
import { useTidingsContext } from './context.js';
import { acquireShared, type SharedLease } from './shared-registry.js';
import { Store } from './store.js';
import { useKeyedStore } from './use-store.js';

/** What `useProgress` returns. */
export interface UseProgressResult {
  /** The job's latest state (`percent`, `stage`, `done`, `error`, `data`); `undefined` until known. */
  job: JobProgress | undefined;
  /** True until the server answered with the job's current state. */
  loading: boolean;
  /** A failure to read the state (not the job's own `error`). */
  error: TidingsError | null;
}

/** @internal */
export class ProgressStore extends Store<UseProgressResult> {
  readonly #client: Tidings;
  readonly #jobId: string | null | undefined;
  readonly #releaseDelay: number;
  #lease: SharedLease<ProgressTracker> | undefined;
  #off: (() => void) | undefined;

  constructor(client: Tidings, jobId: string | null | undefined, releaseDelay: number) {
    super();
    this.#client = client;
    this.#jobId = jobId;
    this.#releaseDelay = releaseDelay;
  }

  protected override compute(): UseProgressResult {
    const tracker = this.#lease?.value;
    return tracker ? { job: tracker.job, loading: tracker.loading, error: tracker.error } : { job: undefined, loading: !!this.#jobId, error: null };
  }

  protected override start(): void {
    const jobId = this.#jobId;
    if (!jobId) return;
    const lease = (this.#lease = acquireShared(this.#client, `progress\u0000${jobId}`, () => this.#client.progress(jobId), this.#releaseDelay));
    this.#off = lease.value.on('change', () => this.changed());
    this.changed();
  }

  protected override stop(): void {
    this.#off?.();
    this.#lease?.release();
    this.#lease = this.#off = undefined;
  }
}

/**
 * Follows one of the current user's jobs (reported by the backend with
 * `POST /api/v1/progress`): the current state at once, even when the page opens mid-job,
 * then every update. Pass `null` while there is no job. Components on the same job share
 * one tracker.
 *
 * @example
 * ```tsx
 * function SummaryProgress({ jobId }: { jobId: string }) {
 *   const { job } = useProgress(jobId);
 *   if (!job) return <p>Starting…</p>;
 *   if (job.error) return <p role="alert">Failed: {job.error}</p>;
 *   return job.done ? <p>Done</p> : <progress value={job.percent} max={100}>{job.stage}</progress>;
 * }
 * ```
 */
export function useProgress(jobId: string | null | undefined): UseProgressResult {
  const { client, releaseDelay } = useTidingsContext('useProgress');
  const store = useKeyedStore([client, jobId, releaseDelay], () => new ProgressStore(client, jobId, releaseDelay));
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
