/**
 * Each transport in a real browser: Debian's Chromium loads test/browser/transports.html,
 * which imports the built bundle (dist/tidings.browser.js, written by `npm run build`), and
 * the page's client is forced onto one transport in turn (`transports: [t]`): the browser's
 * own WebSocket, EventSource (SSE) and fetch (long-polling). Over each one the page connects,
 * receives server API publications, publishes to a Node client in the test process, sees
 * that client's presence and typing, and recovers, exactly once and in order, what was
 * published while the server had dropped its connection. Last, the page reaches the server
 * through a proxy that refuses WebSocket upgrades and falls back to SSE by itself; and an
 * event stream cut at the TCP level (through the same proxy) is resumed by the browser's own
 * EventSource with Last-Event-ID, on the same session, losing nothing.
 *
 * A failed test leaves a screenshot of the page (which shows the client's state and its
 * event log) and the page's console in test-artifacts/.
 *
 * Outside CI a missing Chromium skips this file with a message; with CI set it fails.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { Tidings, type PublicationContext, type TidingsOptions } from '@tidings/client';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { startBlockingProxy, type BlockingProxy } from '../../../test/support/blocking-proxy.js';
import { serveBundlePage } from './browser/bundle-page.js';
import { chromiumMissing, launchChromium, watchPage, within, type ChromiumSession, type FileServer, type PageWatch } from '../../../test/support/chromium.js';

const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
/** Longest wait for any one thing to happen. */
const WAIT = 5_000;
const TRANSPORTS = ['websocket', 'sse', 'polling'] as const;
type TransportName = (typeof TRANSPORTS)[number];

/** What the page's `harness.snapshot()` returns (see transports.html). */
interface Snapshot {
  state: string | null;
  transport: string | null;
  user: string | null;
  subscription: string | null;
  presence: string[];
  typing: string[];
  received: Array<{ data: unknown; offset?: number; recovered: boolean; from?: string }>;
  connected: Array<{ user: string; transport: string }>;
  connecting: Array<{ code: number; reason: string }>;
  disconnected: Array<{ code: number; reason: string }>;
  subscribed: Array<{ wasRecovering: boolean; recovered: boolean; offset?: number }>;
  typingEvents: Array<{ user: string; typing: boolean; typingUsers: string[] }>;
  errors: string[];
}

interface Started {
  state: string;
  user: string;
  transport: string;
  subscription: string;
}

/** `window.harness` of transports.html. */
interface Harness {
  start(args: { url: string; options: TidingsOptions; channel: string; wait: number }): Promise<Started>;
  publish(data: unknown, wait: number): Promise<{ offset?: number; epoch?: string }>;
  snapshot(): Snapshot;
  stop(): void;
}

interface PageGlobals {
  harness: Harness;
  tidingsLoaded?: boolean;
}

/** A loaded page and what it did on the network. */
interface OpenedPage {
  page: Page;
  watch: PageWatch;
  /** URLs of the WebSockets the browser opened. */
  sockets: string[];
  /** Requests the page made, as "<resource type> <method> <url>". */
  requests: string[];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe.skipIf(chromiumMissing())('transports in Chromium', () => {
  let files: FileServer;
  let server: TestNode;
  let browser: ChromiumSession;
  /** The current test's page, node clients and proxy, closed after each test. */
  let current: OpenedPage | undefined;
  let nodeClients: Tidings[] = [];
  let proxy: BlockingProxy | undefined;

  beforeAll(async () => {
    files = await serveBundlePage('/transports.html', 'transports.html');
    // The page's origin differs from the node's (another port): allow exactly that origin,
    // for the WebSocket handshake and for the CORS requests of SSE and polling.
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

  afterEach(async (ctx) => {
    const opened = current;
    current = undefined;
    if (opened && ctx.task.result?.state === 'fail') await saveArtifacts(ctx.task.fullTestName ?? ctx.task.name, opened);
    if (opened) {
      await within(opened.page.evaluate(() => (window as unknown as PageGlobals).harness?.stop()), WAIT, 'stopping the page client').catch(() => {});
      await within(opened.page.close(), WAIT, 'closing the page').catch(() => {});
    }
    for (const client of nodeClients.splice(0)) client.disconnect();
    const p = proxy;
    proxy = undefined;
    if (p) await within(p.close(), WAIT, 'closing the proxy').catch(() => {});
  }, 20_000);

  /** A screenshot of the page and its console, named after the test, in test-artifacts/. */
  async function saveArtifacts(testName: string, opened: OpenedPage): Promise<void> {
    const base = `${ARTIFACTS}${testName.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 150)}`;
    try {
      await mkdir(ARTIFACTS, { recursive: true });
      await within(opened.page.screenshot({ path: `${base}.png`, fullPage: true, timeout: WAIT }), WAIT + 1_000, 'taking a screenshot');
      await writeFile(`${base}.console.txt`, [...opened.watch.console, '', 'requests:', ...opened.requests].join('\n'));
      console.error(`browser-transports: saved ${base}.png`);
    } catch (err) {
      console.error(`browser-transports: could not save the artifacts of "${testName}": ${(err as Error).message}`);
    }
  }

  /** Opens the test page, with the bundle loaded; it is closed after the test. */
  async function openPage(): Promise<OpenedPage> {
    const page = await within(browser.newPage(), WAIT, 'opening a page');
    const opened: OpenedPage = { page, watch: watchPage(page), sockets: [], requests: [] };
    current = opened;
    page.on('websocket', (ws) => opened.sockets.push(ws.url()));
    page.on('request', (req) => opened.requests.push(`${req.resourceType()} ${req.method()} ${req.url()}`));
    await page.goto(`${files.origin}/transports.html`, { timeout: WAIT, waitUntil: 'load' });
    await page.waitForFunction(() => (window as unknown as PageGlobals).tidingsLoaded === true, null, { timeout: WAIT });
    return opened;
  }

  /** Starts the page's client as `user` with `options`, subscribed to `channel`. */
  async function startPageClient(page: Page, { url = server.wsUrl, user, channel, options }: { url?: string; user: string; channel: string; options: TidingsOptions }): Promise<Started> {
    const token = await server.token(user);
    return within(
      page.evaluate((args) => (window as unknown as PageGlobals).harness.start(args), { url, options: { ...options, token }, channel, wait: WAIT }),
      WAIT * 2 + 1_000,
      `starting the page client (${user} on ${channel})`,
    );
  }

  function snapshot(page: Page): Promise<Snapshot> {
    return within(
      page.evaluate(() => (window as unknown as PageGlobals).harness.snapshot()),
      WAIT,
      'reading the page snapshot',
    );
  }

  /** Polls the page until `check` holds; fails naming `what`, with the last snapshot. */
  async function eventually(page: Page, what: string, check: (s: Snapshot) => boolean, timeout = WAIT): Promise<Snapshot> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const s = await snapshot(page);
      if (check(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for the page: ${what}\nlast snapshot: ${JSON.stringify(s, null, 2)}`);
      await sleep(20);
    }
  }

  /** A Node client (the `ws` WebSocket) connected as `user`; disconnected after the test. */
  async function nodeClient(user: string, options: TidingsOptions = {}): Promise<Tidings> {
    const client = new Tidings(server.wsUrl, { token: await server.token(user), timeout: WAIT, ...options });
    nodeClients.push(client);
    await within(client.connect(), WAIT, `connecting the Node client ${user}`);
    return client;
  }

  /** Node-side bounded wait. */
  async function until(what: string, check: () => boolean, timeout = WAIT): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms: ${what}`);
      await sleep(10);
    }
  }

  async function publish(channel: string, data: unknown): Promise<number> {
    const res = await within(server.api('POST', '/publish', { channel, data }), WAIT, `POST /publish to ${channel}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.data.offset as number;
  }

  /**
   * The browser used its own machinery for `transport`, and no other one, for `sessions`
   * connections: its WebSocket, or a POST /open and then its EventSource or fetch long polls.
   */
  function expectBrowserTransport(opened: OpenedPage, transport: TransportName, origin: string, sessions = 1): void {
    const base = `${origin}/connection`;
    const seen = opened.requests.join('\n');
    const opens = opened.requests.filter((r) => r === `fetch POST ${base}/open`);
    const streams = opened.requests.filter((r) => r.startsWith(`eventsource GET ${base}/sse?ticket=`));
    const polls = opened.requests.filter((r) => r.startsWith(`fetch GET ${base}/poll/`));
    if (transport === 'websocket') {
      expect(opened.sockets).toEqual(Array.from({ length: sessions }, () => `${origin.replace(/^http/, 'ws')}/connection/websocket`));
      expect(opened.requests.filter((r) => r.includes('/connection/')), seen).toEqual([]);
      return;
    }
    expect(opened.sockets).toEqual([]);
    expect(opens, seen).toHaveLength(sessions);
    if (transport === 'sse') {
      expect(streams, seen).toHaveLength(sessions);
      expect(polls, seen).toEqual([]);
    } else {
      expect(polls.length, seen).toBeGreaterThanOrEqual(sessions);
      expect(streams, seen).toEqual([]);
    }
  }

  describe.each(TRANSPORTS)('over %s', (transport) => {
    const serverOrigin = () => `http://127.0.0.1:${server.port}`;

    test('connects, receives API publications, and publishes to a Node client', async () => {
      const pageUser = `page-${transport}-pub`;
      const channel = `chat:browser-${transport}-pub`;
      const opened = await openPage();
      const { page } = opened;
      const started = await startPageClient(page, { user: pageUser, channel, options: { transports: [transport] } });
      expect(started).toEqual({ state: 'connected', user: pageUser, transport, subscription: 'subscribed' });

      // A Node client in the test process, on the same channel.
      const node = await nodeClient(`node-${transport}-pub`);
      const nodeSub = node.subscribe<{ text: string }>(channel);
      await within(nodeSub.ready(WAIT), WAIT + 1_000, 'Node client subscribing');
      const seenByNode: PublicationContext<{ text: string }>[] = [];
      nodeSub.on('publication', (p) => seenByNode.push(p));

      // Server API publications reach the page, in order.
      const first = await publish(channel, { text: 'api 1 — ünïcödé ✓' });
      const second = await publish(channel, { text: 'api 2', nested: { list: [1, 'two', null] } });
      expect(second).toBe(first + 1);
      await eventually(page, 'two API publications', (s) => s.received.length >= 2);

      // The page publishes: the ack carries the next offset, and the Node client gets it from the page's user.
      const ack = await within(
        page.evaluate(([data, wait]) => (window as unknown as PageGlobals).harness.publish(data, wait), [{ text: `from the page over ${transport}` }, WAIT] as const),
        WAIT + 1_000,
        'publishing from the page',
      );
      expect(ack).toMatchObject({ offset: second + 1, epoch: expect.any(String) });
      await until('the Node client to see the page publication', () => seenByNode.length >= 3);
      expect(seenByNode.map((p) => ({ data: p.data, offset: p.offset, from: p.info?.user }))).toEqual([
        { data: { text: 'api 1 — ünïcödé ✓' }, offset: first, from: undefined },
        { data: { text: 'api 2', nested: { list: [1, 'two', null] } }, offset: second, from: undefined },
        { data: { text: `from the page over ${transport}` }, offset: second + 1, from: pageUser },
      ]);

      // The page got its own publication too, after the API ones: each exactly once.
      const s = await eventually(page, 'its own publication', (x) => x.received.length >= 3);
      expect(s.received).toEqual([
        { data: { text: 'api 1 — ünïcödé ✓' }, offset: first, recovered: false },
        { data: { text: 'api 2', nested: { list: [1, 'two', null] } }, offset: second, recovered: false },
        { data: { text: `from the page over ${transport}` }, offset: second + 1, recovered: false, from: pageUser },
      ]);
      expect(s.connected).toEqual([{ user: pageUser, transport }]);
      expect(s.transport).toBe(transport);
      expect(s.errors).toEqual([]);
      expectBrowserTransport(opened, transport, serverOrigin());
      expect(opened.watch.errors, `page console:\n${opened.watch.console.join('\n')}`).toEqual([]);
    });

    test('sees the presence and typing of a Node client', async () => {
      const pageUser = `page-${transport}-presence`;
      const nodeUser = `node-${transport}-presence`;
      const channel = `chat:browser-${transport}-presence`;
      const opened = await openPage();
      const { page } = opened;
      await startPageClient(page, { user: pageUser, channel, options: { transports: [transport] } });
      expect((await snapshot(page)).presence).toEqual([pageUser]);

      // The Node user joins: the page's presenceUsers() lists it; the Node client sees the page's user.
      const node = await nodeClient(nodeUser, { typing: { throttle: 100, idle: 400, timeout: 2_000 } });
      const nodeSub = node.subscribe(channel);
      await within(nodeSub.ready(WAIT), WAIT + 1_000, 'Node client subscribing');
      await eventually(page, `presence to list ${nodeUser}`, (s) => s.presence.includes(nodeUser));
      expect((await snapshot(page)).presence).toEqual([nodeUser, pageUser].sort());
      expect(nodeSub.presenceUsers().map((u) => u.user).sort()).toEqual([nodeUser, pageUser].sort());

      // The Node user types: the page's typingUsers() shows it, then (the Node client's idle
      // timer sends typing: false) clears it.
      nodeSub.setTyping(true);
      await eventually(page, `typingUsers() to show ${nodeUser}`, (s) => s.typing.includes(nodeUser));
      const cleared = await eventually(page, 'typingUsers() to clear', (s) => s.typingEvents.length >= 2 && s.typing.length === 0);
      expect(cleared.typingEvents).toEqual([
        { user: nodeUser, typing: true, typingUsers: [nodeUser] },
        { user: nodeUser, typing: false, typingUsers: [] },
      ]);

      // The Node user leaves (after the server's leave grace): the page's presence drops it.
      nodeSub.unsubscribe();
      const left = await eventually(page, `presence to drop ${nodeUser}`, (s) => !s.presence.includes(nodeUser));
      expect(left.presence).toEqual([pageUser]);
      expect(left.connected).toEqual([{ user: pageUser, transport }]);
      expect(left.errors).toEqual([]);
      expectBrowserTransport(opened, transport, serverOrigin());
      expect(opened.watch.errors, `page console:\n${opened.watch.console.join('\n')}`).toEqual([]);
    });

    test('dropped by the server, reconnects and recovers what it missed: every message once, in order', async () => {
      const pageUser = `page-${transport}-drop`;
      const channel = `chat:browser-${transport}-drop`;
      const opened = await openPage();
      const { page } = opened;
      // The reconnect waits 400 to 700 ms: time to publish while the page is away.
      await startPageClient(page, { user: pageUser, channel, options: { transports: [transport], minReconnectDelay: 400, maxReconnectDelay: 700 } });

      const offsets = [await publish(channel, { n: 1 })];
      await eventually(page, 'the first publication', (s) => s.received.length >= 1);

      const dropped = await within(server.api('POST', `/users/${pageUser}/disconnect`), WAIT, 'POST /users/:id/disconnect');
      expect(dropped.status).toBe(200);
      expect(dropped.body.data.disconnected).toBe(1);
      const away = await eventually(page, 'the page to lose its connection', (s) => s.connecting.length >= 2);
      expect(away.connected, 'published while the page is away, not after it is back').toHaveLength(1);
      for (let n = 2; n <= 4; n++) offsets.push(await publish(channel, { n }));

      await eventually(page, 'reconnected, resubscribed and recovered', (s) => s.connected.length >= 2 && s.subscription === 'subscribed' && s.received.length >= 4);
      // Live delivery goes on after the recovered ones. The last one is a marker: publications
      // arrive in order, so once it is in, any duplicate of an earlier one would be too.
      offsets.push(await publish(channel, { n: 5 }));
      offsets.push(await publish(channel, { n: 6 }));
      const s = await eventually(page, 'the live publications after the reconnect', (x) => x.received.some((r) => (r.data as { n: number }).n === 6));

      expect(s.received).toEqual([
        { data: { n: 1 }, offset: offsets[0], recovered: false },
        { data: { n: 2 }, offset: offsets[1], recovered: true },
        { data: { n: 3 }, offset: offsets[2], recovered: true },
        { data: { n: 4 }, offset: offsets[3], recovered: true },
        { data: { n: 5 }, offset: offsets[4], recovered: false },
        { data: { n: 6 }, offset: offsets[5], recovered: false },
      ]);
      expect(offsets).toEqual(Array.from({ length: 6 }, (_, i) => offsets[0]! + i));
      // Dropped with the reconnect code (4005), back over the same transport, recovered without a gap.
      expect(s.connecting.map((c) => c.code)).toEqual([0, 4005]);
      expect(s.connected).toEqual([
        { user: pageUser, transport },
        { user: pageUser, transport },
      ]);
      expect(s.subscribed).toEqual([
        { wasRecovering: false, recovered: false, offset: offsets[0]! - 1 },
        { wasRecovering: true, recovered: true, offset: offsets[3] },
      ]);
      expect(s.state).toBe('connected');
      expect(s.transport).toBe(transport);
      expect(s.disconnected).toEqual([]);
      expect(s.errors).toEqual([]);
      // Two connections, both over the browser's own transport.
      expectBrowserTransport(opened, transport, serverOrigin(), 2);
      expect(opened.watch.errors, `page console:\n${opened.watch.console.join('\n')}`).toEqual([]);
    });
  });

  test("EventSource's own reconnect: a stream cut at the TCP level resumes with Last-Event-ID on the same session, every message once, in order", async () => {
    proxy = await startBlockingProxy(server.port);
    const viaProxy = proxy.url(server.wsUrl);
    const proxyOrigin = `http://127.0.0.1:${proxy.port}`;
    const pageUser = 'page-sse-resume';
    const channel = 'chat:browser-sse-resume';
    const opened = await openPage();
    const { page } = opened;
    await startPageClient(page, { url: viaProxy, user: pageUser, channel, options: { transports: ['sse'] } });
    const offsets = [await publish(channel, { n: 1 })];
    await eventually(page, 'the first publication', (s) => s.received.length >= 1);
    expect(proxy.streamRequests()).toHaveLength(1);

    // Cut the event stream's TCP connections (browser side and server side); the session lives on.
    expect(proxy.cutStreams()).toBe(1);
    for (let n = 2; n <= 4; n++) offsets.push(await publish(channel, { n }));
    // Published while cut: EventSource waits the stream's `retry` (1000 ms) before resuming.
    expect(proxy.streamRequests(), 'the resume came before the publications').toHaveLength(1);
    await until('EventSource to resume', () => proxy!.streamRequests().length >= 2);
    await eventually(page, 'the publications sent while cut', (s) => s.received.length >= 4);
    offsets.push(await publish(channel, { n: 5 }));
    const s = await eventually(page, 'a live publication after the resume', (x) => x.received.some((r) => (r.data as { n: number }).n === 5));

    // Every message once, in order, as live frames (replayed by the server, not recovered by a resubscribe).
    expect(s.received).toEqual(offsets.map((offset, i) => ({ data: { n: i + 1 }, offset, recovered: false })));
    expect(offsets).toEqual(Array.from({ length: 5 }, (_, i) => offsets[0]! + i));
    // The same connection throughout: no reconnect, no second subscribe.
    expect(s.connecting.map((c) => c.code)).toEqual([0]);
    expect(s.connected).toEqual([{ user: pageUser, transport: 'sse' }]);
    expect(s.subscribed).toHaveLength(1);
    expect(s.state).toBe('connected');
    expect(s.errors).toEqual([]);
    // The browser's own EventSource resumed: the same ticket, with Last-Event-ID, and no new /open.
    const [first, resume] = proxy.streamRequests();
    expect(resume!.url).toBe(first!.url);
    expect(first!.lastEventId).toBeUndefined();
    expect(resume!.lastEventId).toMatch(/^\d+$/);
    const base = `${proxyOrigin}/connection`;
    expect(opened.requests.filter((r) => r === `fetch POST ${base}/open`)).toHaveLength(1);
    expect(opened.requests.filter((r) => r.startsWith(`eventsource GET ${base}/sse?ticket=`))).toHaveLength(2);
    expect(opened.sockets).toEqual([]);
    // The cut stream is the only error the browser reports.
    const unexpected = opened.watch.errors.filter((e) => !/net::ERR_|EventSource/.test(e));
    expect(unexpected, `page console:\n${opened.watch.console.join('\n')}`).toEqual([]);
  });

  test("EventSource cut before its first event: the preamble's id lets it resume with Last-Event-ID 0 on the same session, and the first event arrives", async () => {
    proxy = await startBlockingProxy(server.port);
    const base = `http://127.0.0.1:${proxy.port}/connection`;
    const opened = await openPage();
    const { page } = opened;
    const token = await server.token('page-sse-zero');
    // A bare EventSource in the page, on a session the page opens (same browser and address as the stream).
    const { session } = await within(
      page.evaluate(
        async ([base, token]) => {
          const res = await fetch(`${base}/open`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ transport: 'sse', token }) });
          const { session, ticket } = (await res.json()) as { session: string; ticket: string };
          const seen = { opens: 0, errors: 0, events: [] as Array<{ id: string; data: string }> };
          (window as unknown as { seen: typeof seen }).seen = seen;
          const es = new EventSource(`${base}/sse?ticket=${ticket}`);
          es.onopen = () => seen.opens++;
          es.onerror = () => seen.errors++;
          es.addEventListener('reply', (ev) => seen.events.push({ id: (ev as MessageEvent).lastEventId, data: (ev as MessageEvent).data as string }));
          return { session };
        },
        [base, token] as const,
      ),
      WAIT,
      'opening a session and its EventSource in the page',
    );
    type Seen = { opens: number; errors: number; events: Array<{ id: string; data: string }> };
    const seen = () => within(page.evaluate(() => (window as unknown as { seen: Seen }).seen), WAIT, 'reading the page');
    const deadline = Date.now() + WAIT;
    while ((await seen()).opens < 1 && Date.now() < deadline) await sleep(20);
    expect((await seen()).opens).toBe(1);
    await sleep(100);
    // Cut the stream: the browser has the preamble, and no event yet.
    expect(proxy.cutStreams()).toBe(1);
    // The connect reply waits in the session for the stream to come back.
    const res = await fetch(`http://127.0.0.1:${server.port}/connection/sse/${session}`, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: `Bearer ${token}` }, body: '{"id":1,"type":"connect"}' });
    expect(res.status).toBe(204);
    await until('EventSource to resume', () => proxy!.streamRequests().length >= 2);
    let s = await seen();
    for (const end = Date.now() + WAIT; s.events.length < 1 && Date.now() < end; s = await seen()) await sleep(20);
    expect(s.events).toHaveLength(1);
    expect(s.events[0]!.id).toBe('1');
    expect(JSON.parse(s.events[0]!.data)).toMatchObject({ id: 1, result: { user: 'page-sse-zero' } });
    const [first, resume] = proxy.streamRequests();
    expect(resume!.url).toBe(first!.url);
    expect(first!.lastEventId).toBeUndefined();
    expect(resume!.lastEventId).toBe('0');
    expect(s.opens).toBe(2);
  });

  test('through a proxy that refuses WebSocket upgrades, the default transports fall back to SSE', async () => {
    proxy = await startBlockingProxy(server.port);
    const viaProxy = proxy.url(server.wsUrl);
    expect(viaProxy).toBe(`ws://127.0.0.1:${proxy.port}/connection/websocket`);
    const pageUser = 'page-fallback';
    const channel = 'chat:browser-fallback';
    const opened = await openPage();
    const { page } = opened;
    // No `transports`: the default list, websocket first.
    const started = await startPageClient(page, { url: viaProxy, user: pageUser, channel, options: {} });
    expect(started).toEqual({ state: 'connected', user: pageUser, transport: 'sse', subscription: 'subscribed' });
    expect(proxy.refusedUpgrades()).toBeGreaterThanOrEqual(1);
    // The browser tried its WebSocket through the proxy, then used EventSource through it.
    expect(opened.sockets.length).toBeGreaterThanOrEqual(1);
    expect(new Set(opened.sockets)).toEqual(new Set([viaProxy]));
    expectBrowserTransport({ ...opened, sockets: [] }, 'sse', `http://127.0.0.1:${proxy.port}`);
    expect(opened.requests.filter((r) => r.includes(`127.0.0.1:${server.port}/`)), 'nothing bypassed the proxy').toEqual([]);

    const offset = await publish(channel, { text: 'through the proxy' });
    const s = await eventually(page, 'the publication through the proxy', (x) => x.received.length >= 1);
    expect(s.received).toEqual([{ data: { text: 'through the proxy' }, offset, recovered: false }]);
    expect(s.connected).toEqual([{ user: pageUser, transport: 'sse' }]);
    expect(s.transport).toBe('sse');
    expect(s.errors).toEqual([]);
    // The refused handshake is the only error the browser reports.
    const unexpected = opened.watch.errors.filter((e) => !/WebSocket connection to '.*' failed/.test(e));
    expect(unexpected, `page console:\n${opened.watch.console.join('\n')}`).toEqual([]);
  });
  test('a wrong path from another origin, WebSocket only: the endpoint probe sees the 404 (CORS headers on it) and the client stops with not_found', async () => {
    const opened = await openPage();
    const { page } = opened;
    const wrong = `ws://127.0.0.1:${server.port}/wrong/websocket`;
    const token = await server.token('page-wrong-path');
    // connect() rejects once the client stops; the page reports what it saw.
    const outcome = await within(
      page.evaluate(
        async (args) => {
          try {
            await (window as unknown as PageGlobals).harness.start(args);
            return 'connected';
          } catch (err) {
            return String((err as Error).message);
          }
        },
        { url: wrong, options: { transports: ['websocket'], token }, channel: 'chat:never', wait: 8_000 },
      ),
      10_000,
      'starting the page client on a wrong path',
    );
    expect(outcome).not.toBe('connected');
    const s = await eventually(page, 'the client stopped with not_found', (x) => x.state === 'disconnected', 8_000);
    expect(s.errors).toContain(`client: not_found: no Tidings endpoint at ${wrong} (HTTP 404)`);
    expect(s.connected).toEqual([]);
    // The probe was a plain GET of the WebSocket URL over http, from the page's origin.
    expect(opened.requests).toContain(`fetch GET http://127.0.0.1:${server.port}/wrong/websocket`);
    const tried = opened.sockets.length;
    expect(tried).toBeGreaterThanOrEqual(3);
    await sleep(600);
    expect(opened.sockets.length, 'no handshake after the stop').toBe(tried);
  });
});

