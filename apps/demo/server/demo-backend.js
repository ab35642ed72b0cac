/**
 * The backend of the "team board" demo, mounted at `/demo` by `tidings dev` (never by
 * `tidings serve`, so its sign-in endpoint does not exist there). Like the backend of a
 * real application it owns its data — the tasks, the summary job — and publishes through
 * the Tidings node it runs beside, with the library API. A task's comments are messages of
 * its channel `comments:<id>` (replies, edits, deletes, reactions, read receipts: docs/messaging.md), kept by
 * Tidings; the backend reads them from the channel's history.
 *
 * Plain ESM JavaScript with JSDoc types, so the CLI can load it without a build step.
 *
 * @example
 * ```js
 * import { createDemoBackend } from '@tidings/demo/server';
 *
 * const demo = createDemoBackend({ tidings, mintToken: (claims) => mintToken(secret, claims), staticDir: 'apps/demo/dist' });
 * server.on('request', (req, res) => demo.handle(req, res) || tidings.handleRequest(req, res) || notFound(res));
 * ```
 */
import { join } from 'node:path';
import { Board } from './board.js';
import { ApiError, sendError } from './http.js';
import { createApi } from './routes.js';
import { createStaticFiles } from './static.js';

export { Board } from './board.js';

/**
 * @typedef {object} DemoBackendOptions
 * @property {import('./routes.js').DemoTidings} tidings  the embedded Tidings node
 * @property {(claims: { sub: string, info: { name: string }, ttlSeconds: number }) => Promise<string>} mintToken
 *   signs a connection token (with the dev secret)
 * @property {string} staticDir  the built app (apps/demo/dist)
 * @property {string} [prefix='/demo']  where the demo is served
 * @property {boolean} [seed=true]  start a new board with a few tasks (fixed ids)
 * @property {string | null} [dataFile]  where the board is saved, so tasks and their ids
 *   survive a restart; default `<dataDir>/demo-board.json` of the node's config, null: memory only
 */

/**
 * @typedef {object} DemoBackend
 * @property {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => boolean} handle
 *   answers requests below the prefix; false for any other path
 * @property {() => void} close  stops the running jobs
 * @property {Board} board  the data, for tests and scripts
 */

/**
 * @param {DemoBackendOptions} options
 * @returns {DemoBackend}
 */
export function createDemoBackend({ tidings, mintToken, staticDir, prefix = '/demo', seed = true, dataFile }) {
  if (!tidings || typeof tidings.publish !== 'function') throw new TypeError('createDemoBackend: tidings must be a Tidings node');
  if (typeof tidings.history !== 'function') throw new TypeError('createDemoBackend: tidings.history is missing (a Tidings node of this version has it)');
  if (typeof mintToken !== 'function') throw new TypeError('createDemoBackend: mintToken must be a function');
  if (typeof tidings.verifyToken !== 'function') throw new TypeError('createDemoBackend: tidings.verifyToken is missing (a Tidings node of this version has it)');
  if (!/^\/[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/.test(prefix)) throw new TypeError(`createDemoBackend: prefix must look like "/demo", got ${JSON.stringify(prefix)}`);
  const dataDir = /** @type {{ dataDir?: unknown } | undefined} */ (tidings.config)?.dataDir;
  const file = dataFile !== undefined ? dataFile : typeof dataDir === 'string' && dataDir !== '' ? join(dataDir, 'demo-board.json') : null;
  const board = new Board(file ? { file } : {});
  if (seed && !board.restored) board.seed();
  const api = createApi({ tidings, mintToken, board });
  const files = createStaticFiles(staticDir, prefix);

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   */
  function handle(req, res) {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return false;
    if (path === prefix) {
      // The app's asset URLs are relative to `<prefix>/`.
      res.writeHead(308, { location: `${prefix}/${q === -1 ? '' : url.slice(q)}` }).end();
      return true;
    }
    const rest = path.slice(prefix.length);
    const work = rest === '/api' || rest.startsWith('/api/') ? api.handle(req, res, rest.slice('/api'.length)) : files.serve(req, res, rest);
    work.catch((err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof ApiError) {
        sendError(res, err.status, err.code, err.message);
        return;
      }
      // The library rejects bad input with a TidingsError (code, message): a 400, not a crash.
      const code = /** @type {{ code?: unknown }} */ (err)?.code;
      if (typeof code === 'string' && ['bad_request', 'payload_too_large', 'invalid_channel'].includes(code)) {
        sendError(res, 400, code, String(/** @type {Error} */ (err).message));
        return;
      }
      if (tidings.log?.error) tidings.log.error({ err }, 'demo backend request failed');
      else console.error('demo backend request failed', err);
      sendError(res, 500, 'internal', 'the demo backend failed; see the server log');
    });
    return true;
  }

  return { handle, close: () => api.close(), board };
}
