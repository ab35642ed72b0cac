/**
 * The durable features through the SDK, against a real node, over each transport: the
 * notification inbox (offline recipients, re-sync after a reconnect, two devices in step,
 * pagination, delete), activity feeds (live stream, pagination, re-read after a
 * reconnect) and job progress (live, and a late joiner that sees the current percent).
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Activity, JobProgress, Notification, Tidings } from '@tidings/client';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, TRANSPORTS, recording, sleep, until, type TransportName } from './support.js';

let server: TestNode;
const clients = new Clients();
let seq = 0;
/** A user of its own per test: the node's store is shared by the tests of one file run. */
const unique = (name: string) => `${name}-${++seq}`;

beforeEach(async () => {
  server = await startTestNode();
});
afterEach(async () => {
  clients.closeAll();
  await server.close();
});

async function notify(user: string, title: string, extra: Record<string, unknown> = {}): Promise<Notification> {
  const res = await server.api('POST', '/notify', { user, type: 'info', title, ...extra });
  expect(res.status).toBe(200);
  return res.body.data.notifications[0] as Notification;
}

describe.each(TRANSPORTS)('over %s', (transport: TransportName) => {
  const T = { ...FAST, transports: [transport] };
  async function connected(user: string, options: ConstructorParameters<typeof Tidings>[1] = {}): Promise<Tidings> {
    const client = clients.make(server.wsUrl, { ...T, token: await server.token(user), ...options });
    await client.connect();
    return client;
  }

  describe('notifications', () => {
    test('a recipient offline when it was sent finds it, with the unread count, once connected', async () => {
      const carol = unique('carol');
      const sent = await notify(carol, 'Task assigned', { type: 'assignment', actions: [{ label: 'Open', action: 'open-task', style: 'primary' }], data: { taskId: 't1' } });
      const client = await connected(carol);
      const inbox = client.notifications;
      await until(() => !inbox.loading, 'inbox loaded');
      expect(inbox.items).toEqual([sent]);
      expect(inbox.items[0]!.actions).toEqual([{ label: 'Open', action: 'open-task', style: 'primary' }]);
      expect(inbox.unread).toBe(1);
      expect(inbox.error).toBeNull();
      expect(await inbox.count()).toEqual({ unread: 1, total: 1, unreadByType: { assignment: 1 } });
    });

    test('live notifications arrive with events; one sent while the connection was down shows up after the reconnect', async () => {
      const dan = unique('dan');
      const wire = recording(transport);
      const client = await connected(dan, { transports: [wire.factory], minReconnectDelay: 300, maxReconnectDelay: 400 });
      const inbox = client.notifications;
      await until(() => !inbox.loading, 'inbox loaded');
      const events: string[] = [];
      inbox.on('notification', ({ notification, unread }) => events.push(`notification:${notification.title}:${unread}`));
      inbox.on('unread', ({ unread }) => events.push(`unread:${unread}`));
      await notify(dan, 'live');
      await until(() => inbox.items.length === 1, 'live one');
      expect(events).toEqual(['unread:1', 'notification:live:1']);
      wire.cut();
      await until(() => client.state === 'connecting', 'connecting');
      await notify(dan, 'while away');
      await until(() => client.state === 'connected' && inbox.items.length === 2, () => `${client.state} ${inbox.items.length}`);
      expect(inbox.items.map((n) => n.title)).toEqual(['while away', 'live']);
      expect(inbox.unread).toBe(2);
      expect(events.at(-1)).toBe('unread:2');
      // Loaded once at first, once after the reconnect.
      expect(wire.sent.filter((f) => f.type === 'notifications')).toHaveLength(2);
    });

    test('two devices of one user stay in step on read state, deletes and the unread count', async () => {
      const erin = unique('erin');
      const [phone, laptop] = [await connected(erin), await connected(erin, { transports: ['websocket'] })];
      const [p, l] = [phone.notifications, laptop.notifications];
      await until(() => !p.loading && !l.loading, 'loaded');
      const sent: Notification[] = [];
      for (let i = 0; i < 3; i++) sent.push(await notify(erin, `n${i}`));
      await until(() => p.unread === 3 && l.unread === 3 && p.items.length === 3 && l.items.length === 3, 'both have three');
      const updates: string[] = [];
      l.on('update', (u) => updates.push(`${u.change}:${u.all ? 'all' : u.ids!.join()}:${u.unread}`));

      expect(await p.markRead(sent[0]!.id)).toEqual({ updated: 1, unread: 2 });
      expect(p.items.find((n) => n.id === sent[0]!.id)?.read).toBe(true);
      await until(() => l.unread === 2 && l.items.find((n) => n.id === sent[0]!.id)?.read === true, 'read on the laptop');

      expect(await l.remove(sent[1]!.id)).toEqual({ deleted: 1, unread: 1 });
      await until(() => p.unread === 1 && !p.items.some((n) => n.id === sent[1]!.id), 'deleted on the phone');

      await p.markAllRead();
      await until(() => l.unread === 0 && l.items.every((n) => n.read), 'all read on the laptop');
      expect(l.items.map((n) => n.title)).toEqual(['n2', 'n0']);
      expect(p.items.map((n) => [n.title, n.read])).toEqual([
        ['n2', true],
        ['n0', true],
      ]);
      await sleep(50);
      // One event per change, though the laptop hears of its own delete twice (reply and push).
      expect(updates).toEqual([`read:${sent[0]!.id}:2`, `deleted:${sent[1]!.id}:1`, 'read:all:0']);
    });

    test('pages: the first 20 at once, more with loadMore(), and list() for any page', async () => {
      const fay = unique('fay');
      for (let i = 0; i < 25; i++) await notify(fay, `n${i}`);
      const client = await connected(fay);
      const inbox = client.notifications;
      await until(() => !inbox.loading, 'loaded');
      expect(inbox.items).toHaveLength(20);
      expect(inbox.items[0]!.title).toBe('n24');
      expect(inbox.hasMore).toBe(true);
      expect(await inbox.loadMore()).toBe(false);
      expect(inbox.items.map((n) => n.title)).toEqual(Array.from({ length: 25 }, (_, i) => `n${24 - i}`));
      expect(await inbox.loadMore()).toBe(false);
      await inbox.markRead([inbox.items[0]!.id, inbox.items[1]!.id]);
      const page = await inbox.list({ limit: 5, unread: true });
      expect(page.notifications.map((n) => n.title)).toEqual(['n22', 'n21', 'n20', 'n19', 'n18']);
      expect(page.unread).toBe(23);
      const next = await inbox.list({ limit: 5, unread: true, cursor: page.nextCursor! });
      expect(next.notifications[0]!.title).toBe('n17');
      // A live one and a refresh: no duplicates.
      await notify(fay, 'fresh');
      await until(() => inbox.items[0]?.title === 'fresh', 'fresh');
      await inbox.refresh();
      expect(new Set(inbox.items.map((n) => n.id)).size).toBe(inbox.items.length);
    });

    test('a delete through the server API reaches the inbox', async () => {
      const gus = unique('gus');
      const client = await connected(gus);
      const inbox = client.notifications;
      const sent = await notify(gus, 'gone soon');
      await until(() => inbox.items.length === 1, 'arrived');
      expect((await server.api('DELETE', `/users/${gus}/notifications/${sent.id}`)).status).toBe(200);
      await until(() => inbox.items.length === 0 && inbox.unread === 0, 'deleted');
    });
  });

  describe('activity feed', () => {
    const append = async (scope: string, action: string) => {
      const res = await server.api('POST', '/activity', { scope, type: 'task', actor: { id: 'bob', name: 'Bob' }, action, target: 'Task 1' });
      expect(res.status).toBe(200);
      return res.body.data as Activity;
    };

    test('the newest page at once, new entries live at the top, older pages on demand', async () => {
      const scope = unique('proj');
      for (let i = 0; i < 25; i++) await append(scope, `a${i}`);
      const client = await connected(unique('viewer'));
      const feed = client.activity(scope, { limit: 10 });
      expect(feed.channel).toBe(`activity:${scope}`);
      await until(() => !feed.loading, 'first page');
      expect(feed.items.map((a) => a.action)).toEqual(Array.from({ length: 10 }, (_, i) => `a${24 - i}`));
      expect(feed.hasMore).toBe(true);
      const live: string[] = [];
      feed.on('activity', (a) => live.push(a.action));
      const entry = await append(scope, 'live');
      await until(() => feed.items[0]?.id === entry.id, 'live entry');
      expect(feed.items[0]).toEqual(entry);
      expect(live).toEqual(['live']);
      expect(await feed.loadMore()).toBe(true);
      expect(await feed.loadMore()).toBe(false);
      expect(feed.items.map((a) => a.action)).toEqual(['live', ...Array.from({ length: 25 }, (_, i) => `a${24 - i}`)]);
      feed.close();
      await append(scope, 'after close');
      await sleep(100);
      expect(feed.items).toHaveLength(26);
      expect(client.getSubscription(`activity:${scope}`)).toBeUndefined();
    });

    test('entries appended while the connection was down appear after the reconnect', async () => {
      const scope = unique('proj');
      await append(scope, 'before');
      const wire = recording(transport);
      const client = await connected(unique('viewer'), { transports: [wire.factory], minReconnectDelay: 300, maxReconnectDelay: 400 });
      const feed = client.activity(scope);
      await until(() => feed.items.length === 1, 'first page');
      wire.cut();
      await until(() => client.state === 'connecting', 'connecting');
      await append(scope, 'while away');
      await until(() => feed.items.length === 2, 'after the reconnect', 5_000);
      expect(feed.items.map((a) => a.action)).toEqual(['while away', 'before']);
    });

    test('two feeds of one scope share the channel: closing one keeps the other live', async () => {
      const scope = unique('proj');
      const client = await connected(unique('viewer'));
      const [a, b] = [client.activity(scope), client.activity(scope)];
      await until(() => !a.loading && !b.loading, 'loaded');
      a.close();
      await append(scope, 'still live');
      await until(() => b.items.length === 1, 'b still live');
      b.close();
      expect(client.getSubscription(`activity:${scope}`)).toBeUndefined();
    });
  });

  describe('job progress', () => {
    test('live updates, done, and a late joiner that sees the current percent at once', async () => {
      const jo = unique('jo');
      const early = await connected(jo);
      const job = early.progress('summary-1');
      await until(() => !job.loading, 'read');
      expect(job.job).toBeUndefined();
      const seen: number[] = [];
      job.on('progress', (p) => seen.push(p.percent));
      const done: JobProgress[] = [];
      job.on('done', (p) => done.push(p));
      await server.api('POST', '/progress', { user: jo, jobId: 'summary-1', percent: 10, stage: 'reading' });
      await server.api('POST', '/progress', { user: jo, jobId: 'summary-2', percent: 99 });
      await server.api('POST', '/progress', { user: jo, jobId: 'summary-1', percent: 55 });
      await until(() => job.job?.percent === 55, () => JSON.stringify(job.job));
      expect(seen).toEqual([10, 55]);
      expect(job.job).toMatchObject({ stage: 'reading', done: false });

      // A page opened mid-job: the current state comes with the first read, no push needed.
      const late = clients.make(server.wsUrl, { ...T, token: await server.token(jo) });
      const lateJob = late.progress('summary-1');
      expect(lateJob.loading).toBe(true);
      await late.connect();
      await until(() => !lateJob.loading, 'late read');
      expect(lateJob.job).toMatchObject({ jobId: 'summary-1', percent: 55, stage: 'reading', done: false });

      await server.api('POST', '/progress', { user: jo, jobId: 'summary-1', done: true, data: { summaryId: 's1' } });
      await until(() => done.length === 1 && lateJob.job?.done === true, 'done');
      expect(done[0]).toMatchObject({ percent: 100, done: true, data: { summaryId: 's1' } });
      lateJob.close();
      job.close();
      await server.api('POST', '/progress', { user: jo, jobId: 'summary-1', percent: 1 });
      await sleep(100);
      expect(seen).toEqual([10, 55, 100]);
    });

    test('a failed job ends with its error', async () => {
      const kim = unique('kim');
      const client = await connected(kim);
      const job = client.progress('render');
      const done = new Promise<JobProgress>((resolve) => job.on('done', resolve));
      await server.api('POST', '/progress', { user: kim, jobId: 'render', percent: 30, error: 'model timed out' });
      expect(await done).toMatchObject({ percent: 30, done: true, error: 'model timed out' });
    });
  });
});
