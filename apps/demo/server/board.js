/**
 * The team board's data: tasks, their comments and the reactions on comments, kept in
 * memory and, given a file, saved to it after every change (board-file.js) so a restart
 * finds them again under the same ids. Pure state and rules; publishing through Tidings
 * is the routes' job.
 *
 * Every task and comment carries a `version` that grows with each change, so the
 * browser can merge a list it fetched with live events that crossed it in flight
 * (keep the higher version) without caring which arrived first.
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
 * @property {number} comments  how many comments it has
 * @property {string} [summary]  the last generated summary
 */
/**
 * @typedef {object} Comment
 * @property {string} id
 * @property {string} taskId
 * @property {Person} author
 * @property {string} text
 * @property {string[]} mentions  user ids mentioned with `@name`
 * @property {Record<string, string[]>} reactions  emoji → user ids, in the order they reacted
 * @property {number} createdAt
 * @property {number} version
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
export const REACTIONS = /** @type {const} */ (['👍', '❤️', '⭐', '👀']);

export const LIMITS = { tasks: 500, commentsPerTask: 1000, title: 120, description: 2000, comment: 2000, mentions: 10, deletedKept: 1000 };

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
  /** @type {Map<string, Comment[]>} */
  #comments = new Map();
  /** @type {Map<string, Comment>} */
  #commentById = new Map();
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
   * Deletes a task and its comments; its id is remembered (the last LIMITS.deletedKept),
   * so an old link says the task was deleted instead of that it never existed.
   *
   * @param {string} id
   * @param {Person} by
   * @returns {DeletedTask}
   */
  deleteTask(id, by) {
    const task = this.task(id);
    for (const c of this.#comments.get(id) ?? []) this.#commentById.delete(c.id);
    this.#comments.delete(id);
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
      comments: 0,
    };
    this.#tasks.set(task.id, task);
    this.#comments.set(task.id, []);
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

  /** A task's comments, oldest first. @param {string} taskId @returns {Comment[]} */
  comments(taskId) {
    this.task(taskId);
    return this.#comments.get(taskId) ?? [];
  }

  /**
   * @param {string} taskId
   * @param {Person} author
   * @param {string} text
   * @returns {Comment}
   */
  addComment(taskId, author, text) {
    const task = this.task(taskId);
    const list = this.#comments.get(taskId) ?? [];
    if (list.length >= LIMITS.commentsPerTask) throw new ApiError(409, 'task_full', `a task holds at most ${LIMITS.commentsPerTask} comments`);
    /** @type {Comment} */
    const comment = {
      id: newId('c_'),
      taskId,
      author,
      text,
      mentions: mentionsOf(text).filter((id) => id !== author.id),
      reactions: {},
      createdAt: this.#now(),
      version: 1,
    };
    list.push(comment);
    this.#comments.set(taskId, list);
    this.#commentById.set(comment.id, comment);
    task.comments = list.length;
    task.version++;
    this.#file?.changed();
    return comment;
  }

  /**
   * Adds the user's reaction, or takes it back when it is there.
   *
   * @param {string} taskId
   * @param {string} commentId
   * @param {string} user
   * @param {string} emoji
   * @returns {{ comment: Comment, added: boolean }}
   */
  toggleReaction(taskId, commentId, user, emoji) {
    if (!REACTIONS.includes(/** @type {any} */ (emoji))) throw new ApiError(400, 'bad_request', `emoji: one of ${REACTIONS.join(' ')}`);
    const comment = this.#commentById.get(commentId);
    if (!comment || comment.taskId !== taskId) throw new ApiError(404, 'not_found', `no comment ${commentId} on task ${taskId}`);
    const users = comment.reactions[emoji] ?? [];
    const added = !users.includes(user);
    const next = added ? [...users, user] : users.filter((u) => u !== user);
    if (next.length > 0) comment.reactions[emoji] = next;
    else delete comment.reactions[emoji];
    comment.version++;
    this.#file?.changed();
    return { comment, added };
  }

  /** What the file holds. */
  #snapshot() {
    return {
      version: BOARD_FILE_VERSION,
      tasks: [...this.#tasks.values()],
      comments: Object.fromEntries(this.#comments),
      deleted: [...this.#deleted.values()],
    };
  }

  /** @param {Record<string, unknown>} saved */
  #restore(saved) {
    const tasks = /** @type {Task[]} */ (Array.isArray(saved.tasks) ? saved.tasks : []);
    const comments = /** @type {Record<string, Comment[]>} */ (typeof saved.comments === 'object' && saved.comments !== null ? saved.comments : {});
    for (const task of tasks) {
      if (typeof task?.id !== 'string') continue;
      const list = Array.isArray(comments[task.id]) ? comments[task.id] : [];
      this.#tasks.set(task.id, task);
      this.#comments.set(task.id, list);
      for (const c of list) this.#commentById.set(c.id, c);
    }
    for (const gone of /** @type {DeletedTask[]} */ (Array.isArray(saved.deleted) ? saved.deleted : [])) if (typeof gone?.id === 'string') this.#deleted.set(gone.id, gone);
    this.#restored = true;
  }
}
