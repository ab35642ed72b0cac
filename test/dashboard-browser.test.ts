/**
 * The admin dashboard in a real browser: Debian's Chromium (playwright-core, never a
 * downloaded browser) against a real `tidings dev` process on loopback, serving the
 * dashboard built from apps/dashboard/src into a temporary directory for this run.
 *
 * - A wrong key shows an error; the right key signs in (and is kept nowhere: not in the
 *   address, not in storage, and the session cookie is HttpOnly).
 * - The one-time sign-in link signs in once; used again it lands on `?signin=failed`,
 *   which the page explains.
 * - The live connection count on the overview (from `tidings-admin:stats`, through
 *   Tidings) is exactly the apps' open connections (the dashboard's own is shown apart,
 *   as "1 dashboard open"), and follows one closing.
 * - A channel's detail lists its viewers with their presence state and who is typing;
 *   its publish form reaches a subscribed Node client.
 * - The Overview, Users and Channels pages give the same connection, user and channel
 *   counts for a known set of connections (dashboards and their own channel left out).
 * - Users shows connections; one of a user's connections can be closed (the other stays),
 *   or all of them; activity arrives live; the audit log filters.
 * - The Activity page shows every scope's entries by default (the server's cross-scope
 *   listing), a scope nobody watches and the browser never saw included, live; the Scope
 *   field narrows it to one scope.
 * - The Webhooks page shows a dead letter (made in the server's own outbox file) with its
 *   endpoint, type, attempts and last failure, and Replay sends it back to pending.
 * - Repeated wrong keys are throttled, and the page says for how long.
 * - Screenshots at 1280×800 and 390×844 go to test-artifacts/screenshots/.
 *
 * Outside CI a missing Chromium skips this file with a message; with CI set it fails.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { Tidings, type Subscription } from '@tidings/client';
import { SqliteDatabase } from '../packages/server/src/store/sqlite/database.js';
import { SqliteWebhookOutbox } from '../packages/server/src/store/sqlite/sqlite-webhook-outbox.js';
import { chromiumMissing, launchChromium, watchPage, within, type ChromiumSession, type PageWatch } from './support/chromium.js';
import { startDevServer, type DevServer } from './support/dev-server.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DASHBOARD_APP = join(ROOT, 'apps/dashboard');
const VITE = join(ROOT, 'node_modules/vite/bin/vite.js');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const SCREENSHOTS = join(ARTIFACTS, 'screenshots');
/** Longest wait for any one thing in the page. Stats arrive once a second; some panels refresh every 3–5 s. */
const WAIT = 10_000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** Console errors the dashboard causes on purpose: Chromium logs every 4xx answer it gets. */
const EXPECTED_HTTP_ERRORS = /Failed to load resource: the server responded with a status of (401|429) /;

/** Builds the dashboard from its sources into `outDir` (the checkout's dist/ is left alone). */
async function buildDashboard(outDir: string): Promise<void> {
  const child = spawn(process.execPath, [VITE, 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], { cwd: DASHBOARD_APP, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await within(
    new Promise<number | null>((resolve) => child.once('exit', resolve)),
    90_000,
    'building the dashboard',
  ).catch((err: Error) => {
    child.kill('SIGKILL');
    throw err;
  });
  if (code !== 0) throw new Error(`vite build of apps/dashboard failed (${code}):\n${out}`);
}

describe.skipIf(chromiumMissing())('admin dashboard in Chromium', () => {
  let tmp: string;
  let server: DevServer;
  let browser: ChromiumSession;
  let page: Page;
  let watch: PageWatch;
  const clients: Tidings[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tidings-dashboard-test-'));
    const dist = join(tmp, 'dist');
    await buildDashboard(dist);
    server = await startDevServer({ TIDINGS_DASHBOARD__DIR: dist });
    browser = await launchChromium({ timeout: 30_000 });
    page = browser.page;
    watch = watchPage(page);
    await page.setViewportSize(DESKTOP);
  }, 150_000);

  afterAll(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await Promise.allSettled([browser && within(browser.close(), 15_000, 'closing Chromium'), server && within(server.stop(), 15_000, 'stopping tidings dev')]);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, 40_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail' || !page) return;
    const base = join(ARTIFACTS, `dashboard-${ctx.task.name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 100)}`);
    try {
      await mkdir(ARTIFACTS, { recursive: true });
      await within(page.screenshot({ path: `${base}.png`, fullPage: true }), WAIT, 'taking a failure screenshot');
      await writeFile(`${base}.console.txt`, [...watch.console, '', 'server:', server?.output() ?? ''].join('\n'));
      console.error(`dashboard-browser: saved ${base}.png`);
    } catch (err) {
      console.error(`dashboard-browser: could not save the artifacts: ${(err as Error).message}`);
    }
  }, 20_000);

  /** Page errors other than the 401/429 answers the dashboard expects. */
  const unexpectedErrors = () => watch.errors.filter((e) => !EXPECTED_HTTP_ERRORS.test(e));

  async function connectClient(user: string, info?: Record<string, unknown>): Promise<Tidings> {
    // The banner's TOKEN is user demo's; others are minted with the server's dev secret.
    const token = user === 'demo' ? server.token : await server.mintToken(user, info);
    const client = new Tidings(server.wsUrl, { token, timeout: WAIT });
    clients.push(client);
    await within(client.connect(), WAIT, `connecting ${user}`);
    return client;
  }

  async function subscribed(client: Tidings, channel: string): Promise<Subscription> {
    const sub = client.subscribe(channel);
    await within(sub.ready(), WAIT, `subscribing to ${channel}`);
    return sub;
  }

  const text = (selector: string) => page.locator(selector).first().innerText({ timeout: WAIT });

  /** Waits until the element's text (trimmed) is `expected`. */
  async function waitForText(selector: string, expected: string, what: string): Promise<void> {
    await within(
      page.waitForFunction(([s, e]) => document.querySelector(s!)?.textContent?.trim() === e, [selector, expected] as const, { timeout: WAIT, polling: 100 }),
      WAIT + 1_000,
      what,
    ).catch(async (err: Error) => {
      const now = await page.locator(selector).first().textContent({ timeout: 1_000 }).catch(() => '(missing)');
      throw new Error(`${err.message}: ${selector} shows ${JSON.stringify(now)}, want ${JSON.stringify(expected)}`);
    });
  }

  async function screenshot(name: string): Promise<void> {
    await mkdir(SCREENSHOTS, { recursive: true });
    // From the top (the header is sticky), once the charts drew the latest sample and the layout settled.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true, timeout: WAIT });
  }

  /** At phone width nothing may stick out sideways; on every page each control has a name. */
  async function phoneShot(name: string): Promise<void> {
    await page.setViewportSize(PHONE);
    try {
      await screenshot(name);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      expect(width, `${name}: the page is wider than the phone`).toBeLessThanOrEqual(PHONE.width);
    } finally {
      await page.setViewportSize(DESKTOP);
    }
  }

  async function expectLabelledControls(): Promise<void> {
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('input, select, textarea, button, a[href]')]
        .filter((el) => {
          const labels = (el as HTMLInputElement).labels;
          const named = (labels && labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (el.tagName !== 'INPUT' && el.textContent?.trim());
          return !named;
        })
        .map((el) => el.outerHTML.slice(0, 120)),
    );
    expect(unnamed).toEqual([]);
  }

  async function nav(label: string): Promise<void> {
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: label, exact: true }).click({ timeout: WAIT });
    await page.getByRole('heading', { level: 1 }).waitFor({ timeout: WAIT });
  }

  test('a wrong key is refused with an error, and nothing is signed in', async () => {
    await page.goto(server.dashboardUrl, { timeout: WAIT });
    const key = page.getByLabel('Admin API key');
    await key.waitFor({ timeout: WAIT });
    await screenshot('dashboard-sign-in-desktop');
    await key.fill('not-the-key-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const error = page.getByTestId('signin-error');
    await error.waitFor({ timeout: WAIT });
    expect(await error.innerText()).toContain('That key was not accepted');
    expect(await key.getAttribute('aria-invalid')).toBe('true');
    // Still signed out.
    const me = await page.request.get(`${server.origin}/dashboard/api/me`);
    expect(me.status()).toBe(401);
    expect(unexpectedErrors()).toEqual([]);
  }, 30_000);

  test('the admin key signs in, and is kept nowhere in the browser', async () => {
    await page.goto(server.dashboardUrl, { timeout: WAIT });
    await page.getByLabel('Admin API key').fill(server.apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await waitForText('[data-testid="signed-in-as"]', 'dev', 'signed in as the dev key');
    await waitForText('[data-testid="connection-indicator"] .indicator-label', 'Live', 'the connection indicator goes Live');

    expect(page.url()).not.toContain(server.apiKey);
    const stored = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie, html: document.documentElement.outerHTML }));
    expect(stored.local).toBe(0);
    expect(stored.session).toBe(0);
    expect(stored.cookie).toBe(''); // the session cookie is HttpOnly
    expect(stored.html).not.toContain(server.apiKey);
    const cookies = await browser.context.cookies(server.origin);
    expect(cookies.find((c) => c.name === 'tidings_dashboard')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(unexpectedErrors()).toEqual([]);
  }, 30_000);

  test('the overview shows the live connection count and follows it', async () => {
    const demo = await connectClient('demo');
    const alice = await connectClient('alice', { name: 'Alice' });
    const bob = await connectClient('bob', { name: 'Bob' });
    await subscribed(demo, 'chat:lobby');
    await subscribed(alice, 'chat:lobby');
    // Some traffic, so the charts have something to draw: 4 publications a second, 2 deliveries each.
    let n = 0;
    const traffic = setInterval(() => void server.api('POST', '/publish', { channel: 'chat:lobby', data: { text: `message ${++n}` } }).catch(() => {}), 250);
    try {
      await nav('Overview');
      // The three Node clients: the dashboard's own connection is counted apart.
      await waitForText('[data-testid="stat-connections-value"]', '3', 'the connection count shows 3');
      await waitForText('[data-testid="stat-users-value"]', '3', 'the user count shows 3 (demo, alice, bob)');
      await waitForText('[data-testid="stat-dashboards"]', '1 dashboard open', 'the dashboard counts itself apart');
      // The node's own figure does include the dashboard.
      const stats = await server.api('GET', '/stats');
      expect(stats.body.data.connectedSockets).toBe(4);

      // A few refused subscribes (errors by code), then bob leaves (a disconnect by code).
      for (let i = 0; i < 3; i++) await expect(within(bob.subscribe(`nope:${i}`).ready(), WAIT, 'a refused subscribe')).rejects.toThrow();
      bob.disconnect();
      clients.splice(clients.indexOf(bob), 1);
      await waitForText('[data-testid="stat-connections-value"]', '2', 'the connection count drops to 2');
      expect(demo.state).toBe('connected');

      // Charts exist and have drawn (uPlot canvases), with the legend's latest values.
      expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(5);
      expect(await text('.chart .chart-legend')).toMatch(/connections\s+2/);
      await page.waitForFunction(() => /in \/ s\s+[1-9]/.test(document.querySelectorAll('.chart .chart-legend')[1]?.textContent ?? ''), null, { timeout: WAIT });
      await page.waitForTimeout(4_000); // a few more samples for the screenshots
      await screenshot('dashboard-overview-desktop');
      await phoneShot('dashboard-overview-phone');
      await expectLabelledControls();
    } finally {
      clearInterval(traffic);
    }
    expect(unexpectedErrors()).toEqual([]);
  }, 60_000);

  test('a channel detail lists its viewers, their state and who is typing, and publishes', async () => {
    const [demo, alice] = clients;
    if (!demo || !alice) throw new Error('the Node clients of the overview test are missing');
    const demoSub = await subscribed(demo, 'task:42');
    const aliceSub = await subscribed(alice, 'task:42');
    await aliceSub.setState({ section: 'comments' });
    const received: unknown[] = [];
    demoSub.on('publication', ({ data }) => received.push(data));
    // Keep demo typing while the page looks (the indicator times out after a few seconds of silence).
    demoSub.setTyping(true);
    const typing = setInterval(() => demoSub.setTyping(true), 1_000);
    try {
      await nav('Channels');
      await page.getByLabel('Search channels').fill('task:');
      const link = page.getByTestId('channel-table').getByRole('link', { name: 'task:42', exact: true });
      await link.waitFor({ timeout: WAIT });
      await link.click();
      await waitForText('h1', 'task:42', 'the channel page opens');
      expect(new URL(page.url()).pathname).toBe('/dashboard/channels/task%3A42');

      const viewers = page.getByTestId('viewers');
      await viewers.locator('[data-user="alice"]').waitFor({ timeout: WAIT });
      await viewers.locator('[data-user="demo"]').waitFor({ timeout: WAIT });
      expect(await viewers.locator('li').count()).toBe(2);
      expect(await viewers.locator('[data-user="alice"]').innerText()).toContain('Alice');
      expect(await viewers.locator('[data-user="alice"]').innerText()).toContain('{"section":"comments"}');
      await page.getByTestId('typing').filter({ hasText: 'Demo is typing' }).waitFor({ timeout: WAIT });
      await waitForText('[data-testid="channel-subscribers"] .card-value', '2', 'two subscribers');

      await page.getByLabel('Data (JSON)').fill('{"text":"from the dashboard test"}');
      await page.getByRole('button', { name: 'Publish', exact: true }).click();
      await page.getByRole('status').filter({ hasText: /Published at offset \d+/ }).waitFor({ timeout: WAIT });
      await within(
        (async () => {
          while (!received.some((d) => (d as { text?: string }).text === 'from the dashboard test')) await new Promise((r) => setTimeout(r, 50));
        })(),
        WAIT,
        'the subscribed Node client receives the test message',
      );
      await page.getByTestId('history').filter({ hasText: 'from the dashboard test' }).waitFor({ timeout: WAIT });
      await screenshot('dashboard-channel-desktop');
      await phoneShot('dashboard-channel-phone');
      await expectLabelledControls();
    } finally {
      clearInterval(typing);
      demoSub.setTyping(false);
    }
    expect(unexpectedErrors()).toEqual([]);
  }, 60_000);

  test('the overview, users and channels pages count the same connections', async () => {
    // Known set: demo and alice from the test before, and carol with two connections.
    const carol1 = await connectClient('carol', { name: 'Carol' });
    const carol2 = await connectClient('carol', { name: 'Carol' });
    await subscribed(carol1, 'chat:counts');
    try {
      await nav('Overview');
      await waitForText('[data-testid="stat-connections-value"]', '4', 'the overview counts 4 connections (demo, alice, carol twice)');
      await waitForText('[data-testid="stat-users-value"]', '3', 'the overview counts 3 users (demo, alice, carol)');
      const listing = await server.api('GET', '/channels?limit=1000');
      const appChannels = (listing.body.data.channels as { channel: string }[]).filter((c) => !c.channel.startsWith('tidings-admin:')).length;
      // The listing also has the dashboard's own stats channel, which neither page counts.
      expect(listing.body.data.channels.length).toBe(appChannels + 1);
      await waitForText('[data-testid="stat-subscriptions-sub"]', `${appChannels} channels`, 'the overview counts the channels');

      await nav('Users');
      await waitForText('[data-testid="users-count-users"]', '3', 'users counts the same 3 users');
      await waitForText('[data-testid="users-count-connections"]', '4', 'users counts the same 4 connections');
      expect(await text('[data-testid="users-summary"]')).toContain('dashboards’ 1 connection not counted');
      await waitForText('#online-users-title', '3 users online or away, on any node', 'the list title leaves the dashboard out too');

      await nav('Channels');
      await waitForText('[data-testid="channel-count"]', String(appChannels), 'channels counts the overview’s channels');
      await page.getByTestId('channel-table').locator('tr', { hasText: 'tidings-admin:stats' }).filter({ hasText: 'dashboard, not counted' }).waitFor({ timeout: WAIT });
    } finally {
      for (const c of [carol1, carol2]) {
        c.disconnect();
        clients.splice(clients.indexOf(c), 1);
      }
    }
    expect(unexpectedErrors()).toEqual([]);
  }, 45_000);

  test('users lists connections; one of a user’s connections closes alone, then all of them', async () => {
    const alice = clients[1];
    if (!alice) throw new Error('the Node clients of the overview test are missing');
    const second = await connectClient('alice', { name: 'Alice' });
    const secondId = second.clientId!;
    const aliceId = alice.clientId!;
    await nav('Users');
    const row = page.getByTestId('user-list').locator('[data-user="alice"]');
    await row.locator(`tr[data-client="${secondId}"]`).waitFor({ timeout: WAIT });
    await row.locator(`tr[data-client="${aliceId}"]`).waitFor({ timeout: WAIT });
    expect(await row.innerText()).toContain('websocket');
    expect(await row.innerText()).toContain('127.0.0.1');
    expect(await row.innerText()).toContain('2 connections');
    await page.getByTestId('user-list').locator('[data-user^="dashboard."]').filter({ hasText: 'this dashboard' }).waitFor({ timeout: WAIT });
    await screenshot('dashboard-users-desktop');
    await phoneShot('dashboard-users-phone');
    await expectLabelledControls();

    // One connection, terminal: it stays away, and alice's other connection is untouched.
    let aliceDropped = false;
    const offAlice = alice.on('connecting', () => (aliceDropped = true));
    const secondClosed = new Promise<{ code: number }>((resolve) => second.once('disconnected', (e) => resolve(e)));
    const short = secondId.slice(0, 8);
    const conn = row.locator(`tr[data-client="${secondId}"]`);
    await conn.getByRole('button', { name: `Disconnect connection ${short}` }).click();
    const confirm = conn.getByRole('group', { name: `Disconnect connection ${short}` });
    await confirm.getByLabel('Do not let them reconnect (terminal)').check();
    await confirm.getByRole('button', { name: 'Disconnect', exact: true }).click();
    await page.getByRole('status').filter({ hasText: `Alice: connection ${short} closed, told not to reconnect` }).waitFor({ timeout: WAIT });
    expect((await within(secondClosed, WAIT, 'the second connection closes')).code).toBe(4503);
    await conn.waitFor({ state: 'detached', timeout: WAIT });
    expect(await row.innerText()).toContain('1 connection');
    const left = await server.api('GET', '/connections?user=alice');
    expect(left.body.data.connections.map((c: { client: string }) => c.client)).toEqual([aliceId]);
    expect(alice.state).toBe('connected');
    expect(aliceDropped).toBe(false);
    offAlice();
    clients.splice(clients.indexOf(second), 1);
    // Gone now: the endpoint says so.
    expect((await server.api('POST', `/connections/${secondId}/disconnect`, {})).status).toBe(404);

    // All of the user's connections (one left): a reconnect close, so the client comes back by itself.
    const closed = new Promise<{ code: number }>((resolve) => alice.once('connecting', (e) => resolve(e)));
    await row.getByRole('button', { name: 'Disconnect all of Alice’s connections' }).click();
    await row.getByRole('group', { name: 'Disconnect all of Alice’s connections' }).getByRole('button', { name: 'Disconnect', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Alice: 1 connection closed' }).waitFor({ timeout: WAIT });
    const event = await within(closed, WAIT, 'alice is disconnected');
    expect(event.code).toBe(4005); // force reconnect: the client comes back by itself
    await within(alice.ready(WAIT), WAIT + 1_000, 'alice reconnects');
    expect(unexpectedErrors()).toEqual([]);
  }, 45_000);

  test('keyboard: skip link, then the section links move focus to the new page', async () => {
    await page.goto(`${server.origin}/dashboard/`, { timeout: WAIT });
    await page.getByTestId('signed-in-as').waitFor({ timeout: WAIT });
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    // Tab through to the "Notifications" section link and follow it with Enter.
    let found = false;
    for (let i = 0; i < 15 && !found; i++) {
      await page.keyboard.press('Tab');
      found = await page.evaluate(() => document.activeElement?.textContent === 'Notifications' && document.activeElement.tagName === 'A');
    }
    expect(found).toBe(true);
    await page.keyboard.press('Enter');
    await waitForText('h1', 'Notifications', 'the notifications page opens');
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.labels?.[0]?.textContent)).toBe('Recipient (user id)');
    expect(unexpectedErrors()).toEqual([]);
  }, 30_000);

  test('activity arrives live, and the audit log filters by type', async () => {
    await nav('Activity & audit');
    await page.getByTestId('activity-live').waitFor({ timeout: WAIT });
    const posted = await server.api('POST', '/activity', { type: 'task', action: 'moved', actor: { id: 'alice', name: 'Alice' }, target: 'Dashboard test task' });
    expect(posted.status).toBe(200);
    await page.getByTestId('activity-feed').filter({ hasText: 'Dashboard test task' }).waitFor({ timeout: WAIT });

    await page.getByLabel('Type').selectOption('auth_failure');
    await page.getByRole('button', { name: 'Apply' }).click();
    const table = page.getByTestId('audit-table');
    await table.filter({ hasText: 'unknown API key' }).waitFor({ timeout: WAIT });
    const types = await table.locator('tbody tr td:nth-child(2)').allInnerTexts();
    expect(types.length).toBeGreaterThan(0);
    expect(new Set(types.map((t) => t.trim()))).toEqual(new Set(['auth_failure']));
    await screenshot('dashboard-activity-desktop');
    await phoneShot('dashboard-activity-phone');
    await expectLabelledControls();
    expect(unexpectedErrors()).toEqual([]);
  }, 40_000);

  test('the Activity page shows every scope by default, a scope nobody watches and this browser never saw included, and the Scope field narrows it', async () => {
    // As the demo board does: entries in scope "board", whose channel a browser watches.
    const demo = clients[0];
    if (!demo) throw new Error('the Node client demo is missing');
    const watching = await subscribed(demo, 'activity:board');
    try {
      // A fresh browser profile for this page: no scope remembered from earlier tests.
      await page.evaluate(() => localStorage.clear());
      const first = await server.api('POST', '/activity', { scope: 'board', type: 'task', action: 'created', actor: { id: 'ada', name: 'Ada' }, target: { id: 't_1', title: 'Board task one' } });
      expect(first.status).toBe(200);
      // Nobody subscribes to activity:team-x and this browser never showed it.
      expect((await server.api('POST', '/activity', { scope: 'team-x', type: 'task', action: 'created', target: 'Task of an unwatched scope' })).status).toBe(200);
      await page.goto(`${server.origin}/dashboard/`, { timeout: WAIT });
      await nav('Activity & audit');
      const feed = page.getByTestId('activity-feed');
      await feed.filter({ hasText: 'Board task one' }).filter({ hasText: 'Task of an unwatched scope' }).waitFor({ timeout: WAIT });
      expect(await feed.getByTestId('activity-scope').allInnerTexts()).toEqual(expect.arrayContaining(['board', 'team-x']));
      // Live, in app scopes too.
      await page.getByTestId('activity-scopes').filter({ hasText: 'board' }).waitFor({ timeout: WAIT });
      await page.getByTestId('activity-live').waitFor({ timeout: WAIT });
      await server.api('POST', '/activity', { scope: 'board', type: 'task', action: 'moved', actor: { id: 'ada', name: 'Ada' }, target: { id: 't_1', title: 'Board task two' } });
      await feed.filter({ hasText: 'Board task two' }).waitFor({ timeout: WAIT });
      // A scope that appears after the page was opened shows up without a reload.
      await server.api('POST', '/activity', { scope: 'team-y', type: 'task', action: 'created', target: 'Task of a new scope' });
      await feed.filter({ hasText: 'Task of a new scope' }).waitFor({ timeout: WAIT });

      // The Scope field narrows the feed to one scope; "All scopes" widens it again.
      await page.getByLabel('Scope', { exact: true }).fill('team-x');
      await page.getByRole('button', { name: 'Show', exact: true }).click();
      await page.getByTestId('activity-scopes').filter({ hasText: 'Scope team-x only' }).waitFor({ timeout: WAIT });
      await feed.filter({ hasText: 'Task of an unwatched scope' }).waitFor({ timeout: WAIT });
      expect(await feed.innerText()).not.toContain('Board task');
      expect(new Set(await feed.getByTestId('activity-scope').allInnerTexts())).toEqual(new Set(['team-x']));
      await page.getByRole('button', { name: 'All scopes', exact: true }).click();
      await feed.filter({ hasText: 'Board task two' }).filter({ hasText: 'Task of an unwatched scope' }).waitFor({ timeout: WAIT });
      await expectLabelledControls();
    } finally {
      watching.unsubscribe();
    }
    expect(unexpectedErrors()).toEqual([]);
  }, 40_000);

  test('notifications: the form sends one and the recipient’s list shows it', async () => {
    await nav('Notifications');
    await page.getByLabel('Recipient (user id)').fill('alice');
    await page.getByLabel('Type').selectOption('mention');
    await page.getByLabel('Title').fill('Dashboard test notification');
    await page.getByRole('button', { name: 'Send notification' }).click();
    await page.getByTestId('notify-result').filter({ hasText: 'Sent to alice' }).waitFor({ timeout: WAIT });
    await page.getByTestId('notification-list').filter({ hasText: 'Dashboard test notification' }).waitFor({ timeout: WAIT });
    const stored = await server.api('GET', '/users/alice/notifications');
    expect(stored.body.data.notifications.map((n: { title: string }) => n.title)).toContain('Dashboard test notification');
    expect(unexpectedErrors()).toEqual([]);
  }, 30_000);

  test('webhooks: a dead letter is listed with its endpoint, type, attempts and failure, and Replay makes it pending again', async () => {
    // The dev server's own database file, opened beside it (WAL): the dead letter is made as delivery makes one.
    const db = new SqliteDatabase({ path: join(server.dataDir, 'tidings.db') });
    let seq: number;
    try {
      const outbox = new SqliteWebhookOutbox(db);
      const now = Date.now();
      await outbox.enqueue([{ eventId: `evt_dashboard_${now}`, endpoint: 'billing-test', type: 'user.offline', orderKey: 'user:alice', payload: '{"type":"user.offline"}', createdAt: now }]);
      const [row] = await outbox.claim('dashboard-test', now, 60_000, 1);
      seq = row!.seq;
      expect(await outbox.markDead(seq, 'dashboard-test', { status: 500, error: 'HTTP 500', now })).toBe(true);
    } finally {
      db.close();
    }
    await nav('Webhooks');
    const deadRow = page.getByTestId('dead-letters').locator(`tr[data-seq="${seq}"]`);
    await deadRow.filter({ hasText: 'billing-test' }).filter({ hasText: 'user.offline' }).filter({ hasText: 'HTTP 500' }).waitFor({ timeout: WAIT });
    expect(await deadRow.locator('td[data-label="Attempts"]').innerText()).toBe('1');
    expect(Number(await text('[data-testid="webhooks-dead"]'))).toBeGreaterThanOrEqual(1);
    await screenshot('dashboard-webhooks');
    await expectLabelledControls();
    await deadRow.getByRole('button', { name: /^Replay user\.offline to billing-test/ }).click();
    await page.getByTestId('replay-result').filter({ hasText: 'Replayed 1 dead letter' }).waitFor({ timeout: WAIT });
    await deadRow.waitFor({ state: 'detached', timeout: WAIT });
    const dead = await server.api('GET', '/webhooks/dead?endpoint=billing-test');
    expect(dead.body.data.deadLetters.map((d: { seq: number }) => d.seq)).not.toContain(seq);
    expect(unexpectedErrors()).toEqual([]);
  }, 30_000);

  test('signing out ends the session; the one-time link signs in once', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByTestId('signin-notice').filter({ hasText: 'Signed out' }).waitFor({ timeout: WAIT });
    expect((await page.request.get(`${server.origin}/dashboard/api/me`)).status()).toBe(401);
    expect((await page.request.get(`${server.origin}/api/v1/stats`, { headers: { 'x-tidings-dashboard': '1' } })).status()).toBe(401);

    await page.goto(server.dashboardSignIn, { timeout: WAIT });
    await waitForText('[data-testid="signed-in-as"]', 'dev', 'the sign-in link signs in');
    expect(new URL(page.url()).pathname).toBe('/dashboard/');
    expect(page.url()).not.toContain('code=');
    await waitForText('[data-testid="connection-indicator"] .indicator-label', 'Live', 'Live after the link');

    // The same link again, from a browser without the session: refused, and explained.
    await browser.context.clearCookies();
    await page.goto(server.dashboardSignIn, { timeout: WAIT });
    await page.getByTestId('signin-notice').filter({ hasText: 'That sign-in link did not work' }).waitFor({ timeout: WAIT });
    expect(page.url()).not.toContain('signin=failed'); // taken out of the address once read
    await phoneShot('dashboard-sign-in-failed-phone');
    await expectLabelledControls();
    expect(unexpectedErrors()).toEqual([]);
  }, 40_000);

  // Last: it leaves this address throttled for a minute.
  test('repeated wrong keys are throttled, and the page says how long to wait', async () => {
    await page.goto(server.dashboardUrl, { timeout: WAIT });
    const key = page.getByLabel('Admin API key');
    const submit = page.getByRole('button', { name: /Sign in|Wait/ });
    let throttled = false;
    for (let attempt = 0; attempt < 8 && !throttled; attempt++) {
      await key.fill(`wrong-key-${attempt}-0123456789`);
      await submit.click({ timeout: WAIT });
      await page.getByTestId('signin-error').waitFor({ timeout: WAIT });
      await page.waitForFunction(() => !document.querySelector('button[type=submit]')?.textContent?.includes('Signing in'), null, { timeout: WAIT });
      throttled = (await page.getByTestId('signin-error').innerText()).includes('Too many failed attempts');
    }
    expect(throttled).toBe(true);
    const seconds = Number(await text('[data-testid="retry-seconds"]'));
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(60);
    expect(await page.locator('button[type=submit]').isDisabled()).toBe(true);
    expect(unexpectedErrors()).toEqual([]);
  }, 60_000);
});
