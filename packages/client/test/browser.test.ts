/**
 * The browser bundle in a real browser: Debian's Chromium loads a page from a plain
 * node:http server, the page imports the built bundle (dist/tidings.browser.js, written by
 * `npm run build` before the tests), connects to a real Tidings node over the browser's own
 * WebSocket, subscribes, and receives what the server API publishes.
 *
 * Outside CI a missing Chromium skips this file with a message; with CI set it fails.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { WebSocket as PageWebSocket } from 'playwright-core';
import type { ConnectedContext, DisconnectContext, PublicationContext, Tidings } from '../src/index.js';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { serveBundlePage } from './browser/bundle-page.js';
import { chromiumMissing, launchChromium, watchPage, within, type ChromiumSession, type FileServer } from '../../../test/support/chromium.js';

const WAIT = 10_000;

/** What the page and the code evaluated in it keep on `window`. */
interface PageGlobals {
  Tidings: typeof Tidings;
  tidingsLoaded?: boolean;
  client: Tidings;
  received: Array<Pick<PublicationContext, 'channel' | 'data' | 'offset'>>;
  connected: Array<Pick<ConnectedContext, 'user' | 'transport'>>;
  disconnected: Array<Pick<DisconnectContext, 'code'>>;
}

describe.skipIf(chromiumMissing())('browser bundle in Chromium', () => {
  let files: FileServer;
  let server: TestNode;
  let browser: ChromiumSession;

  beforeAll(async () => {
    files = await serveBundlePage('/', 'index.html');
    // The page's origin differs from the node's (another port): allow exactly that origin.
    server = await startTestNode({ allowedOrigins: [files.origin] });
    browser = await launchChromium({ timeout: 30_000 });
    console.log(`browser test: Chromium ${browser.version}`);
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled([
      browser && within(browser.close(), 15_000, 'closing Chromium'),
      server && within(server.close(), 10_000, 'closing the test node'),
      files && within(files.close(), 5_000, 'closing the page server'),
    ]);
  }, 30_000);

  test('connects over the native WebSocket, subscribes, and receives a server API publication', async () => {
    const page = await browser.newPage();
    const watch = watchPage(page);
    const sockets: PageWebSocket[] = [];
    page.on('websocket', (ws) => sockets.push(ws));
    try {
      await page.goto(`${files.origin}/`, { timeout: WAIT, waitUntil: 'load' });
      await page.waitForFunction(() => (window as unknown as PageGlobals).tidingsLoaded === true, null, { timeout: WAIT });
      expect(files.requests).toContain('GET /tidings.js 200');

      const token = await server.token('browser-user');
      // Every wait in the page is bounded too: a hang fails with its name, not the test timeout.
      const connected = await within(
        page.evaluate(
          async ({ url, token, channel, wait }) => {
            const g = window as unknown as PageGlobals;
            const bounded = <T,>(promise: Promise<T>, what: string) =>
              Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`page: timed out after ${wait} ms: ${what}`)), wait))]);
            g.received = [];
            g.connected = [];
            g.disconnected = [];
            const client = new g.Tidings(url, { token });
            g.client = client;
            client.on('connected', (ctx) => g.connected.push({ user: ctx.user, transport: ctx.transport }));
            client.on('disconnected', (ctx) => g.disconnected.push({ code: ctx.code }));
            await bounded(client.connect(), 'connect');
            const sub = client.subscribe(channel);
            sub.on('publication', (p) => g.received.push({ channel: p.channel, data: p.data, offset: p.offset }));
            await bounded(sub.ready(), 'subscribe');
            return {
              state: client.state,
              user: client.user,
              transport: client.transport,
              connected: g.connected,
              nativeWebSocket: typeof WebSocket === 'function' && /\[native code\]/.test(Function.prototype.toString.call(WebSocket)),
            };
          },
          { url: server.wsUrl, token, channel: 'news:browser', wait: WAIT },
        ),
        WAIT + 5_000,
        'connecting and subscribing in the page',
      );
      expect(connected).toEqual({
        state: 'connected',
        user: 'browser-user',
        transport: 'websocket',
        connected: [{ user: 'browser-user', transport: 'websocket' }],
        nativeWebSocket: true,
      });
      // The browser itself opened exactly one WebSocket, to the node.
      expect(sockets.map((ws) => ws.url())).toEqual([server.wsUrl]);

      const data = { text: 'hello from the server API — ünïcödé ✓', n: 42, nested: { ok: true, list: [1, 'two', null] } };
      const published = await within(server.api('POST', '/publish', { channel: 'news:browser', data }), WAIT, 'POST /publish');
      expect(published.status).toBe(200);
      const offset = published.body.data.offset as number;
      expect(offset).toBeGreaterThan(0);
      await page.waitForFunction(() => (window as unknown as PageGlobals).received.length >= 1, null, { timeout: WAIT });

      // A second publication as a marker: once it arrived, anything else (a duplicate) would have too.
      const marker = await within(server.api('POST', '/publish', { channel: 'news:browser', data: { marker: true } }), WAIT, 'POST /publish (marker)');
      expect(marker.status).toBe(200);
      await page.waitForFunction(() => (window as unknown as PageGlobals).received.length >= 2, null, { timeout: WAIT });

      const received = await within(page.evaluate(() => (window as unknown as PageGlobals).received), WAIT, 'reading publications');
      expect(received[0]).toEqual({ channel: 'news:browser', data, offset });
      expect(received).toEqual([
        { channel: 'news:browser', data, offset },
        { channel: 'news:browser', data: { marker: true }, offset: offset + 1 },
      ]);

      const after = await within(
        page.evaluate(() => {
          const g = window as unknown as PageGlobals;
          g.client.disconnect();
          return { state: g.client.state, disconnected: g.disconnected };
        }),
        WAIT,
        'disconnecting in the page',
      );
      expect(after).toEqual({ state: 'disconnected', disconnected: [{ code: 1000 }] });

      expect(watch.errors, `page console:\n${watch.console.join('\n')}`).toEqual([]);
    } finally {
      await within(page.close(), WAIT, 'closing the page').catch(() => {});
    }
  }, 60_000);
});
