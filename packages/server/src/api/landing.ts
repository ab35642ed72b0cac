/**
 * The page `GET /` answers on a server Tidings owns when asked to (`tidings dev` does):
 * a small static HTML page (no external assets) that links the dashboard, the demo,
 * the health endpoint and the docs, and names the WebSocket endpoint. A client asking for
 * JSON (`Accept: application/json` without `text/html`) is not answered here and gets the
 * usual JSON `not_found`. It never runs on an app's own server (`attach`), so an embedding
 * app's `/` is never shadowed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TidingsConfig } from '../config/schema.js';
import { safePath } from '../log.js';
import { VERSION } from '../version.js';

/** Where the package READMEs send readers for the documentation. */
export const DOCS_URL = 'https://github.com/tidings-dev/tidings/blob/main/docs/README.md';

export interface LandingLink {
  href: string;
  label: string;
  /** A short line under the link. */
  note?: string;
}

export interface LandingOptions {
  /** Links shown before the built-in ones (e.g. the dev server's demo). */
  links?: LandingLink[];
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** True when the request prefers HTML: browsers and `curl` (any Accept), not a JSON client. */
function wantsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept.includes('text/html') || !accept.includes('json');
}

/** The links of the page: the caller's, then the dashboard (when enabled), health and docs. */
export function landingLinks(config: TidingsConfig, options: LandingOptions): LandingLink[] {
  const links = [...(options.links ?? [])];
  if (config.dashboard.enabled) links.push({ href: `${config.dashboard.path}/`, label: 'Dashboard', note: 'connections, channels, users and activity of this node' });
  links.push({ href: `${config.api.prefix}/health`, label: 'Health', note: 'JSON health of this node (what a load balancer checks)' });
  links.push({ href: DOCS_URL, label: 'Documentation', note: 'client SDK, protocol, configuration, operations' });
  return links;
}

export function landingHtml(config: TidingsConfig, options: LandingOptions): string {
  const items = landingLinks(config, options)
    .map((l) => `<li><a href="${escapeHtml(l.href)}">${escapeHtml(l.label)}</a>${l.note ? ` <small>${escapeHtml(l.note)}</small>` : ''}</li>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tidings ${escapeHtml(VERSION)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}small{color:#666;display:block}li{margin:.6rem 0}code{background:#f3f3f3;padding:0 .2rem}</style>
</head><body>
<h1>Tidings ${escapeHtml(VERSION)}</h1>
<p>This node is running. Clients connect to <code>${escapeHtml(config.websocket.path)}</code> (WebSocket), or through the SSE and long-polling transports.</p>
<ul>
${items}
</ul>
</body></html>
`;
}

/** A request handler that answers `GET`/`HEAD /` with the page; false for anything else. */
export function createLandingPage(config: TidingsConfig, options: LandingOptions = {}): (req: IncomingMessage, res: ServerResponse) => boolean {
  let html: string | undefined;
  return (req, res) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || safePath(req.url) !== '/' || !wantsHtml(req)) return false;
    html ??= landingHtml(config, options);
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(html),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    });
    res.end(req.method === 'HEAD' ? undefined : html);
    return true;
  };
}
