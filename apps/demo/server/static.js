/**
 * Serves the built demo (apps/demo/dist) under its prefix: files as they are, and
 * index.html for every other path so that the app's own routes (`/demo/tasks/t_1`)
 * survive a reload. Hashed assets are cached for good; index.html never is.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page talks to its own origin only (the API and Tidings' WebSocket), and nothing
 * may frame it.
 */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/**
 * @param {string} dir  the built app
 * @param {string} prefix  e.g. `/demo`
 */
export function createStaticFiles(dir, prefix) {
  const root = normalize(dir);

  /**
   * @param {string} path
   * @returns {Promise<{ file: string, size: number, mtime: Date } | undefined>}
   */
  async function find(path) {
    const file = normalize(join(root, path));
    // A path that climbs out of the directory is not a file of the app.
    if (file !== root && !file.startsWith(root + sep)) return undefined;
    try {
      const info = await stat(file);
      return info.isFile() ? { file, size: info.size, mtime: info.mtime } : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Answers GET and HEAD for `path` (below the prefix, starting with `/`).
   *
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @param {string} path
   */
  async function serve(req, res, path) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed');
      return;
    }
    let decoded;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('bad path');
      return;
    }
    const asset = decoded !== '/' && !decoded.includes('\0') ? await find(decoded) : undefined;
    // A missing file with an extension is a 404, not the app: a stale asset URL must not load HTML as script.
    if (!asset && extname(decoded) !== '' && !decoded.endsWith('.html')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('not found');
      return;
    }
    const found = asset ?? (await find('/index.html'));
    if (!found) {
      res
        .writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
        .end(`The demo app is not built (no ${join(root, 'index.html')}).\nBuild it with: npm run build -w @tidings/demo\n`);
      return;
    }
    const type = TYPES[/** @type {keyof typeof TYPES} */ (extname(found.file))] ?? 'application/octet-stream';
    const immutable = asset !== undefined && decoded.startsWith('/assets/');
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': type,
      'content-length': found.size,
      'last-modified': found.mtime.toUTCString(),
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(found.file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  return { serve, prefix };
}
