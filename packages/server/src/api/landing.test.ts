import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTidings, type Tidings } from '../node.js';
import { DOCS_URL, escapeHtml } from './landing.js';

function start(options: Parameters<Tidings['listen']>[2], config: Parameters<typeof createTidings>[0] = {}) {
  const node = createTidings({ logLevel: 'silent', auth: { allowAnonymous: true }, store: { path: ':memory:' }, ...config });
  return node.listen(0, '127.0.0.1', options).then((a) => ({ node, base: `http://127.0.0.1:${a.port}` }));
}

describe('landing page at GET / (listen with `landing`, as `tidings dev` does)', () => {
  let node: Tidings;
  let base: string;
  beforeAll(async () => {
    ({ node, base } = await start({
      landing: { links: [{ href: '/demo/', label: 'Team board demo' }] },
      onRequest: (req, res) => {
        res.writeHead(req.url === '/demo/' ? 200 : 404, { 'content-type': 'text/plain' });
        res.end(req.url === '/demo/' ? 'demo' : 'app 404');
      },
    }));
  });
  afterAll(() => node.close());

  it('answers a browser with a small static HTML page linking the demo, dashboard, health and docs', async () => {
    const res = await fetch(`${base}/`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs).toEqual(['/demo/', '/dashboard/', '/api/v1/health', DOCS_URL]);
    expect(html).toContain('<code>/connection/websocket</code>');
    // No external assets: no script, stylesheet link or image.
    expect(html).not.toMatch(/<script|<link|<img|src=/);
    // Every local link it shows answers.
    for (const href of ['/demo/', '/dashboard/', '/api/v1/health']) expect((await fetch(`${base}${href}`)).status, href).toBe(200);
  });

  it('answers curl (Accept: */*) with the page, HEAD without a body', async () => {
    expect((await fetch(`${base}/`, { headers: { accept: '*/*' } })).headers.get('content-type')).toContain('text/html');
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('leaves JSON clients, other methods and other paths to the usual handlers', async () => {
    const json = await fetch(`${base}/`, { headers: { accept: 'application/json' } });
    expect([json.status, await json.text()]).toEqual([404, 'app 404']);
    const post = await fetch(`${base}/`, { method: 'POST', body: 'x' });
    expect([post.status, await post.text()]).toEqual([404, 'app 404']);
    expect(await (await fetch(`${base}/index.html`)).text()).toBe('app 404');
  });
});

describe('landing page elsewhere', () => {
  it('without onRequest: the page for HTML clients, JSON not_found for JSON clients and other paths', async () => {
    const { node, base } = await start({ landing: {} }, { dashboard: { enabled: false } });
    try {
      const html = await (await fetch(`${base}/`, { headers: { accept: 'text/html' } })).text();
      expect([...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1])).toEqual(['/api/v1/health', DOCS_URL]);
      for (const [path, accept] of [['/', 'application/json'], ['/nothing', 'text/html']] as const) {
        const res = await fetch(`${base}${path}`, { headers: { accept } });
        expect(res.status).toBe(404);
        expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
      }
    } finally {
      await node.close();
    }
  });

  it('is off by default (createTidings().listen) and never on an attached app server', async () => {
    const { node, base } = await start({});
    try {
      const res = await fetch(`${base}/`, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
    } finally {
      await node.close();
    }
    const app = createServer((_req, res) => res.end('the app'));
    const attached = createTidings({ logLevel: 'silent', auth: { allowAnonymous: true }, store: { path: ':memory:' } }).attach(app);
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(app.address() as AddressInfo).port}/`, { headers: { accept: 'text/html' } });
      expect(await res.text()).toBe('the app');
    } finally {
      await attached.close();
      app.closeAllConnections();
      await new Promise((r) => app.close(r));
    }
  });

  it('escapes the values it shows', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
