/**
 * A job's progress (`client.progress(jobId)`): the latest state the server keeps for one
 * of the user's jobs, read with the `progress` command when made and after every
 * reconnect (so a page opened mid-job shows the current percent at once), then updated by
 * `progress` pushes.
 */
import type { JobProgress, ProgressResult } from '@tidings/protocol';
import { Emitter } from './emitter.js';
import type { TidingsError } from './errors.js';
import type { Call, ClientLink } from './link.js';

export interface ProgressEvents {
  /** A new state of the job. */
  progress: JobProgress;
  /** The job finished: successfully, or with `error`. */
  done: JobProgress;
  /** Anything the getters return changed. */
  change: undefined;
  /** Reading the job's state failed. */
  error: TidingsError;
}

/**
 * Tracks one job of the current user. `close()` it when done.
 *
 * @example
 * ```ts
 * const job = client.progress('summary-42');
 * job.on('progress', ({ percent, stage }) => bar.update(percent, stage));
 * job.on('done', ({ error, data }) => (error ? showError(error) : open(data)));
 * ```
 */
export class ProgressTracker extends Emitter<ProgressEvents> {
  /** The job tracked. */
  readonly jobId: string;
  readonly #call: Call;
  readonly #offs: Array<() => void>;
  #job: JobProgress | undefined;
  #loading = true;
  #error: TidingsError | null = null;

  /** @internal Made by `client.progress()`. */
  constructor(client: ClientLink, call: Call, jobId: string) {
    super();
    this.jobId = jobId;
    this.#call = call;
    this.#offs = [
      client.on('progress', ({ job }) => job.jobId === jobId && this.#apply(job)),
      client.on('connected', () => void this.refresh().catch(() => {})),
    ];
    if (client.state === 'connected') void this.refresh().catch(() => {});
  }

  /** The latest known state; `undefined` until known (or when the server has none for this job). */
  get job(): JobProgress | undefined {
    return this.#job;
  }

  /** True until the first read answered. */
  get loading(): boolean {
    return this.#loading;
  }

  /** The last failure to read the state. */
  get error(): TidingsError | null {
    return this.#error;
  }

  /**
   * Reads the job's state again (done by itself after every reconnect).
   *
   * @example
   * ```ts
   * await job.refresh();
   * console.log(job.job?.percent);
   * ```
   */
  async refresh(): Promise<void> {
    try {
      const { jobs } = (await this.#call({ type: 'progress', jobId: this.jobId })) as ProgressResult;
      this.#error = null;
      this.#loading = false;
      if (jobs[0]) this.#apply(jobs[0], true);
      else this.emit('change', undefined);
    } catch (err) {
      this.#error = err as TidingsError;
      this.#loading = false;
      this.emit('error', this.#error);
      this.emit('change', undefined);
      throw err;
    }
  }

  /**
   * Stops listening.
   *
   * @example
   * ```ts
   * job.close();
   * ```
   */
  close(): void {
    for (const off of this.#offs.splice(0)) off();
  }

  #apply(job: JobProgress, read = false): void {
    const known = this.#job;
    // Pushes come in order; a read may answer with what a push already brought, or older.
    if (read && known && job.updatedAt <= known.updatedAt) return this.emit('change', undefined);
    this.#job = job;
    this.emit('progress', job);
    if (job.done && !known?.done) this.emit('done', job);
    this.emit('change', undefined);
  }
}
