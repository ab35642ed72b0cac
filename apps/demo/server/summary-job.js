/**
 * The "Generate summary" job: a stand-in for a slow AI call. It reports its progress
 * through Tidings' progress API every STEP_MS, so the requester's browser (every tab of
 * it, and a tab opened mid-job) draws a live progress bar, then stores the summary on
 * the task.
 */
import { STATUS_LABELS } from './board.js';

export const STEP_MS = 300;
const STEPS = [
  { percent: 10, stage: 'Reading the task' },
  { percent: 20, stage: 'Reading comments' },
  { percent: 30, stage: 'Reading comments' },
  { percent: 45, stage: 'Summarizing' },
  { percent: 60, stage: 'Summarizing' },
  { percent: 75, stage: 'Summarizing' },
  { percent: 90, stage: 'Writing the summary' },
];

/**
 * The job id of a task's summary: one per task and user, so a reloaded page finds it.
 *
 * @param {string} taskId
 */
export function summaryJobId(taskId) {
  return `summary-${taskId}`;
}

/**
 * A summary made up from the task's data.
 *
 * @param {import('./board.js').Task} task
 * @param {import('./comments.js').CommentMessage[]} comments  oldest first, as the task channel's history holds them
 */
export function makeSummary(task, comments) {
  const status = STATUS_LABELS[task.status];
  if (comments.length === 0) return `“${task.title}” is ${status.toLowerCase()}; nobody has commented yet.`;
  const people = [...new Set(comments.map((c) => c.author.name))];
  const who = people.length <= 2 ? people.join(' and ') : `${people.slice(0, 2).join(', ')} and ${people.length - 2} more`;
  const last = comments[comments.length - 1];
  const quote = last.text.length > 80 ? `${last.text.slice(0, 77)}…` : last.text;
  return `“${task.title}” is ${status.toLowerCase()}. ${comments.length} comment${comments.length === 1 ? '' : 's'} from ${who}; the latest, by ${last.author.name}: “${quote}”`;
}

export class SummaryJobs {
  /** @type {Map<string, NodeJS.Timeout>} user + job → its timer */
  #running = new Map();
  #deps;

  /**
   * @param {{
   *   report: (input: { user: string, jobId: string, percent?: number, stage?: string, done?: boolean, error?: string, data?: unknown }) => Promise<unknown>,
   *   finish: (taskId: string, user: string) => Promise<string>,
   *   log: (message: string, err?: unknown) => void,
   *   stepMs?: number,
   * }} deps
   *   `finish` makes and stores the summary and returns it.
   */
  constructor(deps) {
    this.#deps = deps;
  }

  /**
   * Starts the job unless it is running for this user; returns its id and whether it started now.
   *
   * @param {string} taskId
   * @param {string} user
   */
  async start(taskId, user) {
    const jobId = summaryJobId(taskId);
    const key = `${user}\u0000${jobId}`;
    if (this.#running.has(key)) return { jobId, started: false };
    const { report, finish, log } = this.#deps;
    const stepMs = this.#deps.stepMs ?? STEP_MS;
    // Reserved before the first await, so a double click starts one job.
    this.#running.set(key, setTimeout(() => {}, 0));
    await report({ user, jobId, percent: 0, stage: 'Queued', data: { taskId } });
    let step = 0;
    const tick = async () => {
      try {
        if (step < STEPS.length) {
          await report({ user, jobId, ...STEPS[step++] });
          this.#running.set(key, setTimeout(tick, stepMs));
          return;
        }
        const summary = await finish(taskId, user);
        this.#running.delete(key);
        await report({ user, jobId, percent: 100, stage: 'Done', done: true, data: { taskId, summary } });
      } catch (err) {
        this.#running.delete(key);
        log('summary job failed', err);
        await report({ user, jobId, error: 'The summary could not be made. Try again.', data: { taskId } }).catch(() => {});
      }
    };
    this.#running.set(key, setTimeout(tick, stepMs));
    return { jobId, started: true };
  }

  close() {
    for (const timer of this.#running.values()) clearTimeout(timer);
    this.#running.clear();
  }
}
