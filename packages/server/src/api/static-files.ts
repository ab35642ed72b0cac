/**
 * Serves a built single-page app (Vite's dist/) under a URL prefix: files by path,
 * `index.html` for every other path below the prefix (client-side routes), hashed
 * assets cached for a year, HTML never cached. Paths cannot leave the directory.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { safePath } from '../log.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export interface StaticApp {
  /** True when `req` is below the prefix (and is being answered). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

/**
 * @example
 * ```ts
 * const app = serveStatic('/work/apps/demo/dist', '/demo');
 * createServer((req, res) => app.handle(req, res) || notFound(res));
 * ```
 */
export function serveStatic(dir: string, prefix: string, options: { headers?: Record<string, string> } = {}): StaticApp {
  const root = normalize(dir + sep);
  return {
    handle(req, res) {
      const path = safePath(req.url);
      if (path !== prefix && !path.startsWith(prefix + '/')) return false;
      if (path === prefix) {
        // Relative asset URLs need the trailing slash.
        res.writeHead(301, { location: `${prefix}/` });
        res.end();
        return true;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
        res.end('method not allowed\n');
        return true;
      }
      void send(root, path.slice(prefix.length + 1), req, res, options.headers ?? {});
      return true;
    },
  };
}

async function send(root: string, relative: string, req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): Promise<void> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    decoded = '\u0000';
  }
  const candidate = normalize(join(root, decoded));
  let file = candidate.startsWith(root) && !decoded.includes('\u0000') ? candidate : undefined;
  if (file !== undefined && !(await isFile(file))) file = undefined;
  // Unknown paths are the app's own routes, except missing assets, which stay 404s.
  const isAsset = /\.[A-Za-z0-9]+$/.test(decoded);
  if (file === undefined && !isAsset) file = join(root, 'index.html');
  if (file === undefined || !(await isFile(file))) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(file === undefined ? 'not found\n' : 'this app is not built: run `npm run build`\n');
    return;
  }
  const type = TYPES[extname(file)] ?? 'application/octet-stream';
  const immutable = file.includes(`${sep}assets${sep}`);
  res.writeHead(200, {
    'content-type': type,
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
