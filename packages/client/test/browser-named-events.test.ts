/**
 * Named events (issue 17) in a real browser: Debian's Chromium loads test/browser/named-events.html
 * beside the built bundle (dist/tidings.browser.js, `npm run build`) and receives publications
 * named `task:updated` over our SSE transport, with the browser's own EventSource:
 *
 * - by hand, as docs/protocol.md section 16 tells a client without the SDK: the publication's SSE
 *   event is named after it, so `addEventListener('task:updated')` gets it, and a name nobody
 *   listens to (`order:shipped`) is dropped by the browser;
 * - through the SDK forced onto SSE: `sub.on('task:updated')` gets the named ones, `publication`
 *   all of them, each with its `event`.
 *
 * Outside CI a missing Chromium skips this file with a message; with CI set it fails.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { serveBundlePage } from './browser/bundle-page.js';
import { chromiumMissing, launchChromium, watchPage, within, type ChromiumSession, type FileServer, type PageWatch } from '../../../test/support/chromium.js';

const WAIT = 5_000;

interface Recorded {
  raw: { named: Array<{ type: string; id: string; frame: { type: string; channel: string; offset: number; event?: string; data: unknown } }>; publications: Array<{ offset: number; event?: string; data: unknown }>; closes: string[]; errors: string[] };
  sdk: { named: Array<{ data: unknown; offset: number; event: string | null }>; publications: Array<{ data: unknown; offset: number; event: string | null }>; errors: string[] };
}

interface Harness {
  raw(args: { base: string; token: string; channel: string; wait: number }): Promise<{ user: string; offset: number }>;
  sdk(args: { url: string; token: string; channel: string; wait: number }): Promise<{ transport: string; state: string }>;
  snapshot(): Recorded;
  stop(): void;
}

interface PageGlobals {
  harness: Harness;
  tidingsLoaded?: boolean;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe.skipIf(chromiumMissing())('named events in Chromium over SSE', () => {
  let files: FileServer;
  let server: TestNode;
  let browser: ChromiumSession;
  let current: { page: Page; watch: PageWatch; requests: string[] } | undefined;

  beforeAll(async () => {
    files = await serveBundlePage('/named-events.html', 'named-events.html');
    server = await startTestNode({ allowedOrigins: [files.origin] });
    browser = await launchChromium({ timeout: 30_000 });
  }, 45_000);

  afterAll(async () => {
    await Promise.allSettled([
      browser && within(browser.close(), 15_000, 'closing Chromium'),
      server && within(server.close(), 10_000, 'closing the test node'),
      files && within(files.close(), 5_000, 'closing the page server'),
    ]);
  }, 30_000);

  afterEach(async () => {
    const opened = current;
    current = undefined;
    if (!opened) return;
    await within(opened.page.evaluate(() => (window as unknown as PageGlobals).harness?.stop()), WAIT, 'stopping the page').catch(() => {});
    await within(opened.page.close(), WAIT, 'closing the page').catch(() => {});
  });

  async function openPage() {
    const page = await within(browser.newPage(), WAIT, 'opening a page');
    const opened = { page, watch: watchPage(page), requests: [] as string[] };
    current = opened;
    page.on('request', (req) => opened.requests.push(`${req.resourceType()} ${req.method()} ${req.url()}`));
    await page.goto(`${files.origin}/named-events.html`, { timeout: WAIT, waitUntil: 'load' });
    await page.waitForFunction(() => (window as unknown as PageGlobals).tidingsLoaded === true, null, { timeout: WAIT });
    return opened;
  }

  async function eventually(page: Page, what: string, check: (r: Recorded) => boolean): Promise<Recorded> {
    const deadline = Date.now() + WAIT;
    for (;;) {
      const r = await within(page.evaluate(() => (window as unknown as PageGlobals).harness.snapshot()), WAIT, 'reading the page');
      if (check(r)) return r;
      if (Date.now() > deadline) throw new Error(`timed out waiting for the page: ${what}\nlast: ${JSON.stringify(r, null, 2)}`);
      await sleep(20);
    }
  }

  /** task:updated, order:shipped, an unnamed one, task:updated again: offsets 1-4. */
  async function publishFour(channel: string): Promise<void> {
    const bodies = [
      { channel, data: { id: 1, status: 'doing' }, event: 'task:updated' },
      { channel, data: { id: 2 }, event: 'order:shipped' },
      { channel, data: { id: 3 } },
      { channel, data: { id: 1, status: 'done' }, event: 'task:updated' },
    ];
    for (const body of bodies) {
      const res = await within(server.api('POST', '/publish', body), WAIT, 'POST /publish');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
  }

  test("a raw EventSource: addEventListener('task:updated') gets the named publications; a name without a listener is dropped", async () => {
    const { page, watch, requests } = await openPage();
    const channel = 'chat:named-raw';
    const token = await server.token('raw-page');
    const started = await within(
      page.evaluate((args) => (window as unknown as PageGlobals).harness.raw(args), { base: `http://127.0.0.1:${server.port}/connection`, token, channel, wait: WAIT }),
      WAIT * 2,
      'raw SSE session',
    );
    expect(started).toEqual({ user: 'raw-page', offset: 0 });
    await publishFour(channel);
    const r = await eventually(page, 'both task:updated events', (s) => s.raw.named.length >= 2);
    expect(r.raw.named.map((e) => e.type)).toEqual(['task:updated', 'task:updated']);
    expect(r.raw.named.map((e) => e.frame)).toEqual([
      { type: 'publication', channel, offset: 1, event: 'task:updated', data: { id: 1, status: 'doing' } },
      { type: 'publication', channel, offset: 4, event: 'task:updated', data: { id: 1, status: 'done' } },
    ]);
    // Each event has its sequence number as id.
    for (const e of r.raw.named) expect(e.id).toMatch(/^[1-9][0-9]*$/);
    // The unnamed one came as `publication`; order:shipped (offset 2, before offset 4) had no listener: dropped.
    expect(r.raw.publications).toEqual([{ type: 'publication', channel, offset: 3, data: { id: 3 } }]);
    expect(r.raw.closes).toEqual([]);
    expect(requests.filter((q) => q.startsWith('eventsource GET '))).toEqual([expect.stringMatching(/\/connection\/sse\?ticket=/)]);
    expect(watch.errors).toEqual([]);
  });

  test("the SDK over SSE: sub.on('task:updated') gets the named publications, `publication` every one with its event", async () => {
    const { page, watch, requests } = await openPage();
    const channel = 'chat:named-sdk';
    const token = await server.token('sdk-page');
    const started = await within(
      page.evaluate((args) => (window as unknown as PageGlobals).harness.sdk(args), { url: server.wsUrl, token, channel, wait: WAIT }),
      WAIT * 2,
      'SDK session',
    );
    expect(started).toEqual({ transport: 'sse', state: 'subscribed' });
    await publishFour(channel);
    const r = await eventually(page, 'four publications', (s) => s.sdk.publications.length >= 4 && s.sdk.named.length >= 2);
    expect(r.sdk.named).toEqual([
      { offset: 1, event: 'task:updated', data: { id: 1, status: 'doing' } },
      { offset: 4, event: 'task:updated', data: { id: 1, status: 'done' } },
    ]);
    expect(r.sdk.publications.map((p) => [p.offset, p.event])).toEqual([
      [1, 'task:updated'],
      [2, 'order:shipped'],
      [3, null],
      [4, 'task:updated'],
    ]);
    expect(r.sdk.errors).toEqual([]);
    // The browser's own EventSource carried them.
    expect(requests.filter((q) => q.startsWith('eventsource GET '))).toEqual([expect.stringMatching(/\/connection\/sse\?ticket=/)]);
    expect(watch.errors).toEqual([]);
  });
});
