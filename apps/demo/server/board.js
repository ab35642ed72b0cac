/**
 * The team board's data: its tasks, kept in memory and, given a file, saved to it after
 * every change (board-file.js) so a restart finds them again under the same ids. Pure state
 * and rules; publishing through Tidings is the routes' job. A task's comments are not here:
 * they are messages of the task's channel, kept in its history by Tidings (docs/messaging.md).
 *
 * Every task carries a `version` that grows with each change, so the browser can merge a
 * list it fetched with live events that crossed it in flight (keep the higher version)
 * without caring which arrived first.
 */
import { randomBytes } from 'node:crypto';
import { BOARD_FILE_VERSION, BoardFile } from './board-file.js';
import { ApiError } from './http.js';

/** @typedef {'todo' | 'doing' | 'done'} TaskStatus */
/** @typedef {{ id: string, name: string }} Person */
/**
 * @typedef {object} Task
 * @property {string} id
 * @property {string} title
 * @property {string} description
 * @property {TaskStatus} status
 * @property {Person} createdBy
 * @property {number} createdAt
 * @property {number} updatedAt
 * @property {number} version
 * @property {string} [summary]  the last generated summary
 */
/**
 * @typedef {object} DeletedTask  what is left of a deleted task, so its old links can say so
 * @property {string} id
 * @property {string} title
 * @property {Person} deletedBy
 * @property {number} deletedAt
 */

export const STATUSES = /** @type {const} */ (['todo', 'doing', 'done']);
export const STATUS_LABELS = { todo: 'To do', doing: 'In progress', done: 'Done' };
export const LIMITS = { tasks: 500, title: 120, description: 2000, comment: 2000, mentions: 10, deletedKept: 1000 };

/** The seeded tasks, with fixed ids: a link to one opens it on any run of the demo. */
const SEED = [
  { id: 't_seed-ci', title: 'Set up CI for the mobile app', description: 'Run the tests on every pull request.', status: 'todo' },
  { id: 't_seed-login', title: 'Fix the login redirect loop', description: 'Users coming back from SSO land on /login again.', status: 'doing' },
  { id: 't_seed-theme', title: 'Add a dark theme to the settings page', description: '', status: 'todo' },
  { id: 't_seed-billing', title: 'Migrate the billing webhooks', description: 'Move them to the new queue and retry failed deliveries.', status: 'doing' },
  { id: 't_seed-notes', title: 'Write the release notes', description: 'Presence, typing and the notification bell.', status: 'done' },
];

/** `@name` where name is a user id; an email address (`a@b.c`) is not a mention. */
const MENTION_RE = /(?:^|[^A-Za-z0-9_@.-])@([A-Za-z][A-Za-z0-9_-]{0,31})\b/g;

/**
 * The user ids a comment mentions, lowercased, each once, in order.
 *
 * @param {string} text
 * @returns {string[]}
 */
export function mentionsOf(text) {
  const ids = new Set();
  for (const m of text.matchAll(MENTION_RE)) ids.add(m[1].toLowerCase());
  return [...ids].slice(0, LIMITS.mentions);
}

/** @param {string} prefix */
function newId(prefix) {
  return `${prefix}${randomBytes(6).toString('base64url')}`;
}

export class Board {
  /** @type {Map<string, Task>} */
  #tasks = new Map();
  /** @type {Map<string, DeletedTask>} oldest first */
  #deleted = new Map();
  #now;
  /** @type {BoardFile | undefined} */
  #file;
  #restored = false;

  /**
   * @param {{ now?: () => number, file?: string }} [options]  `file`: where the board is
   *   saved and, when it exists, read back from
   */
  constructor(options = {}) {
    this.#now = options.now ?? Date.now;
    if (options.file) {
      this.#file = new BoardFile(options.file, () => this.#snapshot());
      const saved = this.#file.read();
      if (saved) this.#restore(saved);
    }
  }

  /** True when the board was read back from its file (then it is not seeded again). */
  get restored() {
    return this.#restored;
  }

  /** Some tasks so a fresh board is not empty, with the same ids on every run. */
  seed() {
    const team = { id: 'tidings', name: 'Tidings' };
    for (const s of SEED) {
      if (this.#tasks.has(s.id)) continue;
      const task = this.#create(team, { title: s.title, description: s.description }, s.id);
      if (s.status !== 'todo') this.updateTask(task.id, { status: /** @type {TaskStatus} */ (s.status) });
    }
  }

  /** Resolves once every change so far is saved (at once without a file). */
  flush() {
    return this.#file ? this.#file.flush() : Promise.resolve();
  }

  /** Tasks, oldest first. @returns {Task[]} */
  tasks() {
    return [...this.#tasks.values()];
  }

  /** @param {string} id @returns {Task} */
  task(id) {
    const task = this.#tasks.get(id);
    if (task) return task;
    const gone = this.#deleted.get(id);
    if (gone) throw new ApiError(410, 'task_deleted', `“${gone.title}” was deleted by ${gone.deletedBy.name}`);
    throw new ApiError(404, 'not_found', `no task ${id}`);
  }

  /**
   * Deletes a task; its id is remembered (the last LIMITS.deletedKept),
   * so an old link says the task was deleted instead of that it never existed.
   *
   * @param {string} id
   * @param {Person} by
   * @returns {DeletedTask}
   */
  deleteTask(id, by) {
    const task = this.task(id);
    this.#tasks.delete(id);
    /** @type {DeletedTask} */
    const gone = { id, title: task.title, deletedBy: by, deletedAt: this.#now() };
    this.#deleted.set(id, gone);
    while (this.#deleted.size > LIMITS.deletedKept) this.#deleted.delete(/** @type {string} */ (this.#deleted.keys().next().value));
    this.#file?.changed();
    return gone;
  }

  /**
   * @param {Person} by
   * @param {{ title: string, description?: string }} input
   * @returns {Task}
   */
  createTask(by, input) {
    return this.#create(by, input, newId('t_'));
  }

  /**
   * @param {Person} by
   * @param {{ title: string, description?: string }} input
   * @param {string} id
   * @returns {Task}
   */
  #create(by, input, id) {
    if (this.#tasks.size >= LIMITS.tasks) throw new ApiError(409, 'board_full', `the demo board holds at most ${LIMITS.tasks} tasks`);
    const now = this.#now();
    /** @type {Task} */
    const task = {
      id,
      title: input.title,
      description: input.description ?? '',
      status: 'todo',
      createdBy: by,
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
    this.#tasks.set(task.id, task);
    this.#file?.changed();
    return task;
  }

  /**
   * Applies the fields given; returns the task and what changed (empty when nothing did).
   *
   * @param {string} id
   * @param {{ title?: string, description?: string, status?: TaskStatus, summary?: string }} patch
   * @returns {{ task: Task, changed: string[] }}
   */
  updateTask(id, patch) {
    const task = this.task(id);
    if (patch.status !== undefined && !STATUSES.includes(patch.status)) throw new ApiError(400, 'bad_request', `status: one of ${STATUSES.join(', ')}`);
    /** @type {string[]} */
    const changed = [];
    for (const key of /** @type {const} */ (['title', 'description', 'status', 'summary'])) {
      const value = patch[key];
      if (value !== undefined && value !== task[key]) {
        // @ts-expect-error: each key takes its own type, checked above.
        task[key] = value;
        changed.push(key);
      }
    }
    if (changed.length > 0) {
      task.version++;
      task.updatedAt = this.#now();
      this.#file?.changed();
    }
    return { task, changed };
  }

  /** What the file holds. */
  #snapshot() {
    return {
      version: BOARD_FILE_VERSION,
      tasks: [...this.#tasks.values()],
      deleted: [...this.#deleted.values()],
    };
  }

  /** @param {Record<string, unknown>} saved */
  #restore(saved) {
    // A file of an earlier demo may still hold `comments` (and tasks their count): not read,
    // since comments are messages of the task channels now.
    const tasks = /** @type {Array<Task & { comments?: unknown }>} */ (Array.isArray(saved.tasks) ? saved.tasks : []);
    for (const item of tasks) {
      if (typeof item?.id !== 'string') continue;
      const { comments: _count, ...task } = item;
      this.#tasks.set(task.id, task);
    }
    for (const gone of /** @type {DeletedTask[]} */ (Array.isArray(saved.deleted) ? saved.deleted : [])) if (typeof gone?.id === 'string') this.#deleted.set(gone.id, gone);
    this.#restored = true;
  }
}
