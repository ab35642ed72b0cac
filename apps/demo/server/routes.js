/**
 * The demo's API under `<prefix>/api`. The backend owns the data and talks to Tidings
 * through the library API of the node it runs in, so no API key ever goes to a browser:
 *
 * - `POST /sign-in {name}` → `{user, name, token}` (dev mode only: this backend is not
 *   mounted by `tidings serve`). Every other route needs `Authorization: Bearer <token>`.
 * - `GET /config`: the paths where the browser connects to Tidings.
 * - `GET /me`
 * - `GET /tasks`, `POST /tasks {title, description?}`, `GET /tasks/:id`,
 *   `PATCH /tasks/:id {title?, description?, status?}`, `DELETE /tasks/:id`: published on
 *   `feed:board`. A deleted task answers 410 `task_deleted` (404 `not_found`: never existed).
 * - `POST /tasks/:id/comments/:offset/posted`: the author's browser published a comment on
 *   `comments:<id>` (comments are messages of that channel, with replies, edits, deletes and
 *   reactions handled by Tidings: docs/messaging.md); the backend reads it back from the
 *   channel's history, notifies the users its `@name`s mention and adds it to the activity feed.
 * - `POST /tasks/:id/summary`: starts the summary job (progress on the caller's personal channel),
 *   which reads the task's comments from the channel's history.
 *
 * Changes are also appended to the activity feed of the scope `board`. A change is
 * answered once the board is saved (board-file.js), so an acknowledged task survives a restart.
 */
import { Board, LIMITS, STATUSES, STATUS_LABELS, mentionsOf } from './board.js';
import { readComment, readComments } from './comments.js';
import { ApiError, optionalString, readJson, requiredString, sendJson } from './http.js';
import { SummaryJobs, makeSummary } from './summary-job.js';

/** Where the board's changes are published (server-publish only in dev: clients cannot forge them). */
export const BOARD_CHANNEL = 'feed:board';
export const ACTIVITY_SCOPE = 'board';
/** @param {string} id */
export const taskChannel = (id) => `task:${id}`;
/** A task's comments: messages of this channel, kept in its history by Tidings. @param {string} id */
export const commentsChannel = (id) => `comments:${id}`;

/** A display name is one word, so `@name` can mention it; the user id is its lowercase. */
const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;
const TOKEN_TTL_SECONDS = 12 * 3600;
/** Comments whose mentions were sent, remembered so a repeated call notifies once (per run of the backend). */
const POSTED_KEPT = 10_000;

/**
 * @typedef {object} DemoTidings  the part of the Tidings node the demo uses
 * @property {(channel: string, data: unknown) => Promise<unknown>} publish
 * @property {import('./comments.js').HistoryReader} history  a channel's history, messages folded
 * @property {(token: string) => Promise<{ user: string, info?: Record<string, unknown>, roles?: string[] }>} verifyToken
 * @property {{ notify(input: unknown): Promise<unknown> }} notifications
 * @property {{ append(input: unknown): Promise<unknown> }} activity
 * @property {{ report(input: unknown): Promise<unknown> }} progress
 * @property {{ warn?: (obj: unknown, msg?: string) => void, error?: (obj: unknown, msg?: string) => void }} [log]
 * @property {{ websocket?: { path?: string }, http?: { path?: string } }} [config]  where the node accepts connections
 */

/**
 * @param {{ tidings: DemoTidings, mintToken: (claims: { sub: string, info: { name: string }, ttlSeconds: number }) => Promise<string>, board?: Board }} deps
 */
export function createApi({ tidings, mintToken, board = new Board() }) {
  /** @param {string} message @param {unknown} [err] */
  const log = (message, err) => {
    if (tidings.log?.warn) tidings.log.warn({ err }, `demo: ${message}`);
    else console.warn(`demo: ${message}`, err);
  };
  /** Live delivery is best effort: the data is in the board already, and a reload shows it. */
  /** @param {string} channel @param {unknown} data */
  const publish = (channel, data) => tidings.publish(channel, data).catch((err) => log(`publish to ${channel} failed`, err));
  /**
   * @param {{ id: string, name: string }} actor
   * @param {string} action
   * @param {{ id: string, title: string }} target
   * @param {Record<string, unknown>} [data]
   */
  const activity = (actor, action, target, data) =>
    tidings.activity.append({ scope: ACTIVITY_SCOPE, type: 'task', actor, action, target, ...(data ? { data } : {}) }).catch((err) => log('activity append failed', err));

  const jobs = new SummaryJobs({
    report: (input) => tidings.progress.report(input),
    log,
    finish: async (taskId, user) => {
      const task = board.task(taskId);
      const summary = makeSummary(task, await readComments(readHistory, commentsChannel(taskId)));
      const { task: updated, changed } = board.updateTask(taskId, { summary });
      await board.flush().catch((err) => log('saving the board failed', err));
      if (changed.length > 0) await publish(BOARD_CHANNEL, { kind: 'task', task: updated });
      await activity(people.get(user) ?? { id: user, name: user }, 'summarized', targetOf(updated));
      return summary;
    },
  });

  /** @type {import('./comments.js').HistoryReader} */
  const readHistory = (channel, query) => tidings.history(channel, query);

  /** Everyone who signed in (or called with a valid token) since the start, by id. */
  const people = new Map();
  /** `<task>:<offset>` of the comments handled by `posted`, oldest first. */
  const posted = new Set();

  /** @param {import('node:http').IncomingMessage} req */
  async function caller(req) {
    const header = String(req.headers.authorization ?? '');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new ApiError(401, 'unauthorized', 'send Authorization: Bearer <token> (from POST sign-in)');
    let claims;
    try {
      claims = await tidings.verifyToken(match[1]);
    } catch (err) {
      const expired = /** @type {{ code?: string }} */ (err)?.code === 'token_expired';
      throw new ApiError(401, expired ? 'token_expired' : 'unauthorized', expired ? 'the token has expired: sign in again' : 'the token is not valid: sign in again');
    }
    const name = typeof claims.info?.name === 'string' ? claims.info.name : claims.user;
    const person = { id: claims.user, name };
    people.set(person.id, person);
    return person;
  }

  /** @param {import('./board.js').Task} task */
  const targetOf = (task) => ({ id: task.id, title: task.title });

  /** @type {Array<{ method: string, pattern: RegExp, auth: boolean, run: (ctx: { req: any, params: string[], me: { id: string, name: string } }) => Promise<[number, unknown]> }>} */
  const routes = [
    {
      method: 'POST',
      pattern: /^\/sign-in$/,
      auth: false,
      run: async ({ req }) => {
        const body = await readJson(req);
        const name = requiredString(body, 'name', 32);
        if (!NAME_RE.test(name)) throw new ApiError(400, 'bad_request', 'name: one word of letters, digits, "_" or "-", starting with a letter');
        const user = name.toLowerCase();
        const token = await mintToken({ sub: user, info: { name }, ttlSeconds: TOKEN_TTL_SECONDS });
        people.set(user, { id: user, name });
        return [200, { user, name, token, expiresIn: TOKEN_TTL_SECONDS }];
      },
    },
    {
      method: 'GET',
      pattern: /^\/config$/,
      auth: false,
      // Where the browser connects to Tidings: the same origin, on the node's paths.
      run: async () => [200, { websocketPath: tidings.config?.websocket?.path ?? '/connection/websocket', httpPath: tidings.config?.http?.path ?? '/connection' }],
    },
    { method: 'GET', pattern: /^\/me$/, auth: true, run: async ({ me }) => [200, { user: me.id, name: me.name }] },
    { method: 'GET', pattern: /^\/tasks$/, auth: true, run: async () => [200, { tasks: board.tasks() }] },
    {
      method: 'POST',
      pattern: /^\/tasks$/,
      auth: true,
      run: async ({ req, me }) => {
        const body = await readJson(req);
        const title = requiredString(body, 'title', LIMITS.title);
        const description = optionalString(body, 'description', LIMITS.description);
        const task = board.createTask(me, { title, ...(description !== undefined ? { description } : {}) });
        // Saved before anything links to it (the activity entry, the board's publication).
        await board.flush();
        await publish(BOARD_CHANNEL, { kind: 'task', task });
        await activity(me, 'created', targetOf(task));
        return [201, { task }];
      },
    },
    { method: 'GET', pattern: /^\/tasks\/([\w-]+)$/, auth: true, run: async ({ params }) => [200, { task: board.task(params[0]) }] },
    {
      method: 'PATCH',
      pattern: /^\/tasks\/([\w-]+)$/,
      auth: true,
      run: async ({ req, params, me }) => {
        const body = await readJson(req);
        /** @type {{ title?: string, description?: string, status?: import('./board.js').TaskStatus }} */
        const patch = {};
        const title = body.title === undefined ? undefined : requiredString(body, 'title', LIMITS.title);
        const description = optionalString(body, 'description', LIMITS.description);
        if (title !== undefined) patch.title = title;
        if (description !== undefined) patch.description = description;
        if (body.status !== undefined) {
          const status = STATUSES.find((s) => s === body.status);
          if (!status) throw new ApiError(400, 'bad_request', `status: one of ${STATUSES.join(', ')}`);
          patch.status = status;
        }
        const { task, changed } = board.updateTask(params[0], patch);
        if (changed.length === 0) return [200, { task }];
        await board.flush();
        await publish(BOARD_CHANNEL, { kind: 'task', task });
        if (changed.includes('status')) await activity(me, 'moved', targetOf(task), { status: task.status, label: STATUS_LABELS[task.status] });
        if (changed.some((c) => c !== 'status')) await activity(me, 'edited', targetOf(task), { fields: changed.filter((c) => c !== 'status') });
        return [200, { task }];
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/tasks\/([\w-]+)$/,
      auth: true,
      run: async ({ params, me }) => {
        const gone = board.deleteTask(params[0], me);
        await board.flush();
        await publish(BOARD_CHANNEL, { kind: 'deleted', taskId: gone.id });
        await activity(me, 'deleted', { id: gone.id, title: gone.title });
        return [200, { deleted: gone }];
      },
    },
    {
      method: 'POST',
      pattern: /^\/tasks\/([\w-]+)\/comments\/(\d{1,15})\/posted$/,
      auth: true,
      run: async ({ params, me }) => {
        const task = board.task(params[0]);
        const offset = Number(params[1]);
        const comment = await readComment(readHistory, commentsChannel(task.id), offset);
        if (!comment) throw new ApiError(404, 'not_found', `no comment at ${offset} on task ${task.id}`);
        if (comment.author.id !== me.id) throw new ApiError(403, 'forbidden', 'only the author of a comment reports it');
        const key = `${task.id}:${offset}`;
        if (posted.has(key)) return [200, { offset, mentions: [], repeated: true }];
        posted.add(key);
        if (posted.size > POSTED_KEPT) posted.delete(/** @type {string} */ (posted.values().next().value));
        const { text } = comment;
        const commentId = `c${offset}`;
        await activity(me, 'commented', targetOf(task), { commentId, excerpt: text.length > 80 ? `${text.slice(0, 77)}…` : text });
        const mentions = mentionsOf(text).filter((id) => id !== me.id);
        // Durable before the reply: once the call is answered, so are its notifications.
        const sent = await Promise.allSettled(
          mentions.map((user) =>
            tidings.notifications.notify({
              user,
              type: 'mention',
              title: `${me.name} mentioned you on “${task.title}”`,
              message: text.length > 200 ? `${text.slice(0, 197)}…` : text,
              data: { taskId: task.id, commentId, by: me },
            }),
          ),
        );
        for (const r of sent) if (r.status === 'rejected') log('mention notification failed', r.reason);
        return [200, { offset, mentions }];
      },
    },
    {
      method: 'POST',
      pattern: /^\/tasks\/([\w-]+)\/summary$/,
      auth: true,
      run: async ({ params, me }) => {
        const task = board.task(params[0]);
        const { jobId, started } = await jobs.start(task.id, me.id);
        return [202, { jobId, started }];
      },
    },
  ];

  /**
   * Answers `path` (below `<prefix>/api`).
   *
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @param {string} path
   */
  async function handle(req, res, path) {
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const matching = routes.filter((r) => r.pattern.test(path));
    if (matching.length === 0) throw new ApiError(404, 'not_found', `no route ${path}`);
    const route = matching.find((r) => r.method === method);
    if (!route) {
      res.setHeader('allow', [...new Set(matching.map((r) => r.method))].join(', '));
      throw new ApiError(405, 'method_not_allowed', `${method} is not allowed here`);
    }
    const params = /** @type {RegExpExecArray} */ (route.pattern.exec(path)).slice(1);
    const me = route.auth ? await caller(req) : { id: '', name: '' };
    const [status, body] = await route.run({ req, params, me });
    // Acknowledged means saved: a restart right after the answer still has the change.
    if (method !== 'GET') await board.flush();
    sendJson(res, status, body);
  }

  return { handle, board, close: () => jobs.close() };
}
