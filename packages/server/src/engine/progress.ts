/**
 * The ProgressStore keeps the latest state of each user's long-running jobs, so a
 * client that (re)connects mid-job sees the current percent at once. Updates travel
 * live through the Broker (a control event on the user's personal channel).
 *
 * Implementations: `MemoryProgressStore` and, later, a Redis one. Every
 * implementation passes progress.contract.ts.
 */
import type { JobProgress } from '@tidings/protocol';

/**
 * Guarantees every implementation keeps:
 * - One state per (user, jobId): `set` replaces it.
 * - A state disappears `ttlMs` after its last `set`, without any further call.
 * - A user keeps at most `maxJobs` states; `set` on a new job beyond that forgets
 *   the least recently updated one.
 * - `list` returns the user's states, most recently updated first.
 */
export interface ProgressStore {
  set(user: string, job: JobProgress, ttlMs: number, maxJobs: number): Promise<void>;
  list(user: string): Promise<JobProgress[]>;
  get(user: string, jobId: string): Promise<JobProgress | undefined>;
  close(): Promise<void>;
}
