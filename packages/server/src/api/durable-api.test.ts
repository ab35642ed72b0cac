/**
 * Notifications, activity feeds, the audit log and job progress through the server
 * API and real WebSocket connections (protocol level; the SDK has its own tests).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Notification } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_API_KEY, type TestNode } from '../test-support/test-node.js';

let t: TestNode;
const open: TestClient[] = [];
let seq = 0;
const uniqueUser = (name: string) => `${name}-${++seq}`;

beforeAll(async () => {
  t = await startTestNode({ audit: { flushInterval: 20 }, namespaces: { project: { private: true }, chat: { presence: true } } as never });
});
afterAll(async () => {
  for (const c of open) c.close();
  await t.close();
});

async function connect(user: string): Promise<TestClient> {
  const { client } = await TestClient.connect(t.wsUrl, await t.token(user));
  open.push(client);
  return client;
}

const notify = (body: unknown) => t.api('POST', '/notify', body);

describe('notifications', () => {
  test('POST /notify stores for each recipient and pushes live to every connection, with the unread count', async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const [phone, laptop, bobC] = [await connect(alice), await connect(alice), await connect(bob)];
    const res = await notify({
      users: [alice, bob],
      type: 'mention',
      title: 'You were mentioned',
      message: 'in task 1',
      data: { taskId: 't1' },
      actions: [{ label: 'View', action: 'open-task', style: 'primary' }],
      priority: 'high',
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(res.status).toBe(200);
    expect(res.body.data.deduplicated).toBe(false);
    const created = res.body.data.notifications as Notification[];
    expect(created.map((n) => n.user)).toEqual([alice, bob]);
    expect(created[0]).toMatchObject({ type: 'mention', title: 'You were mentioned', priority: 'high', read: false, data: { taskId: 't1' } });
    for (const c of [phone, laptop]) {
      const push = await c.waitForPush((p) => p.type === 'notification');
      expect(push).toEqual({ type: 'notification', notification: created[0], unread: 1, unreadByType: { mention: 1 } });
    }
    expect(await bobC.waitForPush((p) => p.type === 'notification')).toEqual({ type: 'notification', notification: created[1], unread: 1, unreadByType: { mention: 1 } });
  });

  test('a recipient offline at the time reads it when it connects', async () => {
    const carol = uniqueUser('carol');
    const res = await notify({ user: carol, type: 'assignment', title: 'Task assigned' });
    expect(res.status).toBe(200);
    const c = await connect(carol);
    const page = await c.ok('notifications', { limit: 10 });
    expect(page).toEqual({ notifications: [res.body.data.notifications[0]], unread: 1 });
    expect(await c.ok('notification_count')).toEqual({ unread: 1, total: 1, unreadByType: { assignment: 1 } });
  });

  test('unread counts per type: on the notification push, the notification_count reply and GET /users/:id/notifications', async () => {
    const kim = uniqueUser('kim');
    const c = await connect(kim);
    const ids: string[] = [];
    for (const type of ['task.assigned', 'task.assigned', 'comment', 'order:shipped']) ids.push((await notify({ user: kim, type, title: type })).body.data.notifications[0].id);
    for (let i = 0; i < 200 && c.pushes.filter((p) => p.type === 'notification').length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    const pushes = c.pushes.filter((p) => p.type === 'notification') as { unread: number; unreadByType: Record<string, number> }[];
    expect(pushes.map((p) => p.unread)).toEqual([1, 2, 3, 4]);
    expect(pushes[3]!.unreadByType).toEqual({ 'task.assigned': 2, comment: 1, 'order:shipped': 1 });
    expect(pushes[0]!.unreadByType).toEqual({ 'task.assigned': 1 });
    await c.ok('notification_read', { ids: [ids[0], ids[2]] });
    expect(await c.ok('notification_count')).toEqual({ unread: 2, total: 4, unreadByType: { 'task.assigned': 1, 'order:shipped': 1 } });
    const api = await t.api('GET', `/users/${kim}/notifications?limit=1`);
    expect(api.status).toBe(200);
    expect(api.body.data).toMatchObject({ unread: 2, total: 4, unreadByType: { 'task.assigned': 1, 'order:shipped': 1 } });
    await c.ok('notification_read', { all: true });
    expect((await t.api('GET', `/users/${kim}/notifications`)).body.data).toMatchObject({ unread: 0, total: 4, unreadByType: {} });
  });

  test('read state syncs across devices; delete too; another user cannot touch them', async () => {
    const dana = uniqueUser('dana');
    const [phone, laptop] = [await connect(dana), await connect(dana)];
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await notify({ user: dana, type: 'comment', title: `c${i}` })).body.data.notifications[0].id);
    await laptop.waitForPush((p) => p.type === 'notification' && p.unread === 3);

    expect(await phone.ok('notification_read', { ids: [ids[0]] })).toEqual({ updated: 1, unread: 2 });
    expect(await laptop.waitForPush((p) => p.type === 'notification_update')).toEqual({ type: 'notification_update', change: 'read', ids: [ids[0]], unread: 2 });
    // Read twice: nothing changes, nothing is pushed.
    expect(await phone.ok('notification_read', { ids: [ids[0]] })).toEqual({ updated: 0, unread: 2 });

    const intruder = await connect(uniqueUser('mallory'));
    expect(await intruder.ok('notification_read', { ids: [ids[1]] })).toEqual({ updated: 0, unread: 0 });
    expect(await intruder.ok('notification_delete', { ids: [ids[1]] })).toEqual({ deleted: 0, unread: 0 });

    expect(await laptop.ok('notification_delete', { ids: [ids[1]] })).toEqual({ deleted: 1, unread: 1 });
    expect(await phone.waitForPush((p) => p.type === 'notification_update' && p.change === 'deleted')).toEqual({ type: 'notification_update', change: 'deleted', ids: [ids[1]], unread: 1 });

    expect(await phone.ok('notification_read', { all: true })).toEqual({ updated: 1, unread: 0 });
    expect(await laptop.waitForPush((p) => p.type === 'notification_update' && p.all === true)).toEqual({ type: 'notification_update', change: 'read', all: true, unread: 0 });
    const after = await laptop.ok('notifications', {});
    expect(after.notifications.map((n: Notification) => [n.title, n.read])).toEqual([
      ['c2', true],
      ['c0', true],
    ]);
    const bad = await phone.call('notification_read', {});
    expect(bad).toMatchObject({ error: { code: 'bad_request', message: 'notification_read: give either "ids" or "all": true' } });
  });

  test('pagination with cursors and the unread filter, through the client and the API', async () => {
    const erin = uniqueUser('erin');
    for (let i = 0; i < 7; i++) await notify({ user: erin, type: 'info', title: `n${i}` });
    const c = await connect(erin);
    const p1 = await c.ok('notifications', { limit: 3 });
    expect(p1.notifications.map((n: Notification) => n.title)).toEqual(['n6', 'n5', 'n4']);
    const p2 = await c.ok('notifications', { limit: 3, cursor: p1.nextCursor });
    expect(p2.notifications.map((n: Notification) => n.title)).toEqual(['n3', 'n2', 'n1']);
    await c.ok('notification_read', { ids: [p2.notifications[0].id] });
    const unread = await c.ok('notifications', { limit: 100, unread: true });
    expect(unread.notifications.map((n: Notification) => n.title)).toEqual(['n6', 'n5', 'n4', 'n2', 'n1', 'n0']);
    expect(unread.nextCursor).toBeUndefined();

    const api1 = await t.api('GET', `/users/${erin}/notifications?limit=4`);
    expect(api1.status).toBe(200);
    expect(api1.body.data).toMatchObject({ unread: 6, total: 7 });
    expect(api1.body.data.notifications.map((n: Notification) => n.title)).toEqual(['n6', 'n5', 'n4', 'n3']);
    const api2 = await t.api('GET', `/users/${erin}/notifications?limit=4&cursor=${api1.body.data.nextCursor}&unread=true`);
    expect(api2.body.data.notifications.map((n: Notification) => n.title)).toEqual(['n2', 'n1', 'n0']);

    expect((await c.call('notifications', { cursor: 'not-a-cursor' })) as object).toMatchObject({ error: { code: 'bad_request', message: expect.stringMatching(/^cursor: /) } });
    expect(await t.api('GET', `/users/${erin}/notifications?cursor=zzz`)).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(await t.api('GET', `/users/${erin}/notifications?unread=maybe`)).toMatchObject({ status: 400 });
  });

  test('the server API deletes one notification, and 404s for one that is not there', async () => {
    const fay = uniqueUser('fay');
    const c = await connect(fay);
    const id = (await notify({ user: fay, type: 'system', title: 'maintenance' })).body.data.notifications[0].id;
    const del = await t.api('DELETE', `/users/${fay}/notifications/${id}`);
    expect(del).toMatchObject({ status: 200, body: { data: { deleted: 1, unread: 0 } } });
    expect(await c.waitForPush((p) => p.type === 'notification_update')).toMatchObject({ change: 'deleted', ids: [id], unread: 0 });
    expect(await t.api('DELETE', `/users/${fay}/notifications/${id}`)).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await t.api('DELETE', `/users/someone-else/notifications/${id}`)).toMatchObject({ status: 404 });
    const read = await t.api('POST', `/users/${fay}/notifications/read`, { all: true });
    expect(read).toMatchObject({ status: 200, body: { data: { updated: 0, unread: 0 } } });
  });

  test('the same idempotency key twice stores one notification', async () => {
    const gus = uniqueUser('gus');
    const c = await connect(gus);
    const body = { user: gus, type: 'update', title: 'once', idempotencyKey: `key-${gus}` };
    const [a, b] = await Promise.all([notify(body), notify(body)]);
    const c3 = await notify(body);
    expect([a, b, c3].map((r) => r.status)).toEqual([200, 200, 200]);
    expect([a, b, c3].map((r) => r.body.data.deduplicated).sort()).toEqual([false, true, true]);
    const ids = new Set([a, b, c3].map((r) => r.body.data.notifications[0].id));
    expect(ids.size).toBe(1);
    expect(await c.ok('notification_count')).toEqual({ unread: 1, total: 1, unreadByType: { update: 1 } });
    // Keys belong to the caller: another API key (another backend) with the same key stores its own.
    const other = await t.api('POST', '/notify', body, { authorization: `Bearer ${TEST_API_KEY}-pub` });
    expect(other.body.data.deduplicated).toBe(false);
    expect(await c.ok('notification_count')).toEqual({ unread: 2, total: 2, unreadByType: { update: 2 } });
    await new Promise((r) => setTimeout(r, 100));
    expect(c.pushes.filter((p) => p.type === 'notification')).toHaveLength(2);
  });

  test('expired notifications disappear', async () => {
    const hal = uniqueUser('hal');
    await notify({ user: hal, type: 'deadline', title: 'soon gone', expiresAt: Date.now() + 300 });
    await notify({ user: hal, type: 'deadline', title: 'stays' });
    const c = await connect(hal);
    expect(await c.ok('notification_count')).toEqual({ unread: 2, total: 2, unreadByType: { deadline: 2 } });
    await new Promise((r) => setTimeout(r, 400));
    expect(await c.ok('notification_count')).toEqual({ unread: 1, total: 1, unreadByType: { deadline: 1 } });
    expect((await c.ok('notifications', {})).notifications.map((n: Notification) => n.title)).toEqual(['stays']);
  });

  test('bad input gets a clear 4xx and stores nothing', async () => {
    const ivy = uniqueUser('ivy');
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ user: ivy, type: 'not a type!', title: 'x' }, 400, 'bad_request', /^type: /],
      [{ user: ivy, type: 'info', title: 'x'.repeat(201) }, 400, 'bad_request', /^title: /],
      [{ user: ivy, type: 'info', title: '' }, 400, 'bad_request', /^title: /],
      [{ user: ivy, type: 'info', title: 'x', message: 'm'.repeat(2001) }, 400, 'bad_request', /^message: /],
      [{ user: ivy, type: 'info', title: 'x', data: { blob: 'd'.repeat(17_000) } }, 413, 'payload_too_large', /^data: /],
      [{ type: 'info', title: 'x' }, 400, 'bad_request', /^user: give exactly one of "user" and "users"/],
      [{ user: ivy, users: [ivy], type: 'info', title: 'x' }, 400, 'bad_request', /^user: give exactly one/],
      [{ users: [], type: 'info', title: 'x' }, 400, 'bad_request', /^users: /],
      [{ user: '', type: 'info', title: 'x' }, 400, 'bad_request', /^user: /],
      [{ user: ivy, type: 'info', title: 'x', priority: 'mega' }, 400, 'bad_request', /^priority: /],
      [{ user: ivy, type: 'info', title: 'x', expiresAt: Date.now() - 1000 }, 400, 'bad_request', /^expiresAt: must be in the future/],
      [{ user: ivy, type: 'info', title: 'x', expiresAt: 'tomorrow' }, 400, 'bad_request', /^expiresAt: /],
      [{ user: ivy, type: 'info', title: 'x', actions: [{ label: 'Go' }] }, 400, 'bad_request', /^actions\.0\.action: /],
      [{ user: ivy, type: 'info', title: 'x', color: 'red' }, 400, 'bad_request', /unknown field "color"/],
      ['not json', 400, 'bad_request', /not valid JSON/],
    ];
    for (const [body, status, code, message] of cases) {
      const res = await notify(body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.message).toMatch(message);
    }
    const wrongType = await t.api('POST', '/notify', JSON.stringify({ user: ivy, type: 'info', title: 'x' }), { 'content-type': 'text/plain' });
    expect(wrongType.status).toBe(415);
    const noKey = await fetch(`${t.apiUrl}/notify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: ivy, type: 'info', title: 'x' }) });
    expect(noKey.status).toBe(401);
    expect((await t.api('GET', `/users/${ivy}/notifications`)).body.data).toMatchObject({ notifications: [], unread: 0, total: 0 });
  });

  test('anonymous connections have no inbox', async () => {
    const anon = await startTestNode({ auth: { secret: 'test-secret-0123456789-abcdefghijklmnop', allowAnonymous: true } });
    try {
      const client = await TestClient.open(anon.wsUrl);
      await client.ok('connect', {});
      expect(await client.call('notifications', {})).toMatchObject({ error: { code: 'permission_denied' } });
      expect(await client.call('progress', {})).toMatchObject({ error: { code: 'permission_denied' } });
      client.close();
    } finally {
      await anon.close();
    }
  });
});

describe('activity feed', () => {
  test('POST /activity appends durably and streams live to subscribers of the scope', async () => {
    const scope = `p${++seq}`;
    const viewer = await connect(uniqueUser('viewer'));
    await viewer.ok('subscribe', { channel: `activity:${scope}` });
    const res = await t.api('POST', '/activity', { scope, type: 'task', actor: { id: 'bob', name: 'Bob' }, action: 'created', target: 'API Integration', data: { taskId: 't9' } });
    expect(res.status).toBe(200);
    const entry = res.body.data;
    expect(entry).toEqual({ id: expect.stringMatching(/^a_\d{13}$/), scope, type: 'task', actor: { id: 'bob', name: 'Bob' }, action: 'created', target: 'API Integration', data: { taskId: 't9' }, createdAt: expect.any(Number) });
    const pub = await viewer.waitForPush((p) => p.type === 'publication' && p.channel === `activity:${scope}`);
    expect(pub).toMatchObject({ data: entry });
    const global = await t.api('POST', '/activity', { type: 'user', action: 'joined', actor: 'zoe' });
    expect(global.body.data.scope).toBe('global');
  });

  test('pages newest first through the client command and the API', async () => {
    const scope = `q${++seq}`;
    for (let i = 0; i < 5; i++) expect((await t.api('POST', '/activity', { scope, type: 'task', action: `a${i}` })).status).toBe(200);
    const c = await connect(uniqueUser('reader'));
    const p1 = await c.ok('activity', { scope, limit: 2 });
    expect(p1.activities.map((a: { action: string }) => a.action)).toEqual(['a4', 'a3']);
    const p2 = await c.ok('activity', { scope, limit: 10, cursor: p1.nextCursor });
    expect(p2.activities.map((a: { action: string }) => a.action)).toEqual(['a2', 'a1', 'a0']);
    expect(p2.nextCursor).toBeUndefined();
    const api = await t.api('GET', `/activity?scope=${scope}&limit=3`);
    expect(api.body.data.activities.map((a: { action: string }) => a.action)).toEqual(['a4', 'a3', 'a2']);
    expect(await c.call('activity', { scope, cursor: 'x' })).toMatchObject({ error: { code: 'bad_request' } });
    expect(await c.call('activity', { scope: 'bad scope!' })).toMatchObject({ error: { code: 'bad_request', message: expect.stringMatching(/^activity\.scope: /) } });
  });

  test('reading a feed needs what subscribing to its channel needs', async () => {
    const secret = await startTestNode({ namespaces: { activity: { private: true } } as never });
    try {
      await secret.api('POST', '/activity', { scope: 'team-a', type: 'task', action: 'created' });
      const { client } = await TestClient.connect(secret.wsUrl, await secret.token('outsider'));
      expect(await client.call('activity', { scope: 'team-a' })).toMatchObject({ error: { code: 'permission_denied' } });
      expect(await client.call('subscribe', { channel: 'activity:team-a' })).toMatchObject({ error: { code: 'permission_denied' } });
      const { mintToken } = await import('../auth/token-mint.js');
      const subToken = await mintToken('test-secret-0123456789-abcdefghijklmnop', { sub: 'outsider', channel: 'activity:team-a', ttlSeconds: 60 });
      expect((await client.ok('activity', { scope: 'team-a', token: subToken })).activities).toHaveLength(1);
      // The app's onSubscribe hooks decide too, as for a subscribe.
      secret.node.onSubscribe(({ channel }) => {
        if (channel === 'activity:team-a') throw new TidingsError('permission_denied', 'not in team a');
      });
      expect(await client.call('activity', { scope: 'team-a', token: subToken })).toMatchObject({ error: { code: 'permission_denied', message: 'not in team a' } });
      client.close();
    } finally {
      await secret.close();
    }
  });

  test('GET /activity?scope=* lists every scope newest first, in pages, for admin and read keys only; clients cannot ask for it', async () => {
    const own = await startTestNode();
    try {
      const made = [];
      for (const [i, scope] of ['global', 'board', 'nobody-watches', 'board', 'p-9'].entries()) {
        made.push((await own.api('POST', '/activity', { scope, type: 'task', action: `a${i}` })).body.data);
      }
      const newestFirst = [...made].reverse();
      const first = await own.api('GET', '/activity?scope=*&limit=3');
      expect(first.status).toBe(200);
      expect(first.body.data.activities).toEqual(newestFirst.slice(0, 3));
      expect(first.body.data.activities.map((a: { scope: string }) => a.scope)).toEqual(['p-9', 'board', 'nobody-watches']);
      const second = await own.api('GET', `/activity?scope=*&limit=3&cursor=${first.body.data.nextCursor}`);
      expect(second.body.data).toEqual({ activities: newestFirst.slice(3) });
      // A read key may; the dashboard's session is an admin key (covered by the browser test).
      const asReader = await own.api('GET', '/activity?scope=*', undefined, { authorization: `Bearer ${TEST_API_KEY}-read` });
      expect(asReader.status).toBe(200);
      expect(asReader.body.data.activities).toEqual(newestFirst);
      // A publish-only key may not, as for any listing.
      const asPublisher = await own.api('GET', '/activity?scope=*', undefined, { authorization: `Bearer ${TEST_API_KEY}-pub` });
      expect(asPublisher.status).toBe(403);
      expect(asPublisher.body.error.code).toBe('forbidden');
      expect((await own.api('GET', '/activity?scope=*&cursor=nope')).status).toBe(400);
      expect((await own.api('GET', '/activity?scope=*&limit=101')).status).toBe(400);
      // Over the protocol a client reads one scope at a time: `*` is no scope.
      const { client } = await TestClient.connect(own.wsUrl, await own.token('curious'));
      expect(await client.call('activity', { scope: '*' })).toMatchObject({ error: { code: 'bad_request', message: expect.stringMatching(/^activity\.scope: /) } });
      client.close();
    } finally {
      await own.close();
    }
  });

  test('bad input is refused', async () => {
    for (const [body, status] of [
      [{ type: 'task' }, 400],
      [{ type: 'task', action: 'x', scope: 'has space' }, 400],
      [{ type: 'task', action: 'x', scope: 'a#b' }, 400],
      [{ type: 'task', action: 'x', data: 'd'.repeat(17_000) }, 413],
      [{ type: 'task', action: 'x', extra: 1 }, 400],
    ] as const) {
      expect((await t.api('POST', '/activity', body)).status, JSON.stringify(body).slice(0, 60)).toBe(status);
    }
    expect((await t.api('GET', '/activity?scope=global&cursor=nope')).status).toBe(400);
  });
});

describe('job progress', () => {
  test('pushes to the user, keeps the latest state for a late joiner, and ends with done', async () => {
    const jo = uniqueUser('jo');
    const early = await connect(jo);
    const job = `summary-${seq}`;
    expect((await t.api('POST', '/progress', { user: jo, jobId: job, percent: 10, stage: 'reading' })).status).toBe(200);
    expect(await early.waitForPush((p) => p.type === 'progress')).toMatchObject({ job: { jobId: job, percent: 10, stage: 'reading', done: false } });
    await t.api('POST', '/progress', { user: jo, jobId: job, percent: 55 });
    // A late joiner asks for the current state at once.
    const late = await connect(jo);
    expect(await late.ok('progress', { jobId: job })).toEqual({ jobs: [{ jobId: job, percent: 55, stage: 'reading', done: false, updatedAt: expect.any(Number) }] });
    const done = await t.api('POST', '/progress', { user: jo, jobId: job, done: true, data: { summaryId: 's1' } });
    expect(done.body.data).toMatchObject({ percent: 100, done: true, data: { summaryId: 's1' } });
    expect(await late.waitForPush((p) => p.type === 'progress' && p.job.done)).toMatchObject({ job: { jobId: job, percent: 100, done: true } });
    const failed = await t.api('POST', '/progress', { user: jo, jobId: `${job}-b`, percent: 30, error: 'model timed out' });
    expect(failed.body.data).toMatchObject({ percent: 30, done: true, error: 'model timed out' });
    expect((await late.ok('progress', {})).jobs.map((j: { jobId: string }) => j.jobId)).toEqual([`${job}-b`, job]);
    expect((await t.api('GET', `/users/${jo}/progress`)).body.data.jobs).toHaveLength(2);
    // Another user sees none of it.
    expect(await (await connect(uniqueUser('other'))).ok('progress', {})).toEqual({ jobs: [] });
    for (const bad of [{ jobId: 'x', percent: 5 }, { user: jo, jobId: 'x', percent: 101 }, { user: jo, percent: 5 }, { user: jo, jobId: 'x', done: 'yes' }]) {
      expect((await t.api('POST', '/progress', bad)).status, JSON.stringify(bad)).toBe(400);
    }
  });
});

describe('audit log', () => {
  /** Audit events are written in batches (every 20 ms here): polls until `count` match. */
  async function auditUntil(query: string, count: number): Promise<Array<Record<string, any>>> {
    const deadline = Date.now() + 3000;
    for (;;) {
      const events = (await t.api('GET', `/audit?${query}`)).body.data.events as Array<Record<string, any>>;
      if (events.length >= count || Date.now() > deadline) return events;
      await new Promise((r) => setTimeout(r, 30));
    }
  }

  test('stores connects, disconnects with code, auth failures and API calls; filters by user, type and time', async () => {
    const since = Date.now();
    const kim = uniqueUser('kim');
    const c = await connect(kim);
    c.close();
    await c.closed;
    await fetch(`${t.apiUrl}/stats`, { headers: { authorization: 'Bearer wrong-key-0123456789' } });
    const bogus = await TestClient.open(t.wsUrl);
    await bogus.call('connect', { token: 'not-a-jwt' });
    await bogus.closed;
    await t.api('GET', '/stats');
    const events = await auditUntil(`user=${kim}`, 2);
    expect(events.map((e) => e.type)).toEqual(['disconnect', 'connect']);
    expect(events[0]).toMatchObject({ user: kim, code: 1005 });
    expect(events[1]).toMatchObject({ user: kim, transport: 'websocket', ip: '127.0.0.1' });
    const failures = await auditUntil(`type=auth_failure&since=${since}`, 2);
    expect(failures.map((e: { transport: string }) => e.transport).sort()).toEqual(['api', 'websocket']);
    const calls = await auditUntil(`type=api_call&since=${new Date(since).toISOString()}&limit=1000`, 1);
    expect(calls.some((e: { route: string; keyId: string }) => e.route === '/stats' && e.keyId === 'admin')).toBe(true);
    expect((await t.api('GET', `/audit?user=${kim}&until=${since}`)).body.data.events).toEqual([]);
    const p1 = await t.api('GET', `/audit?limit=1&since=${since}`);
    const p2 = await t.api('GET', `/audit?limit=1&since=${since}&cursor=${p1.body.data.nextCursor}`);
    expect(p2.body.data.events[0].id).toBeLessThan(p1.body.data.events[0].id);
    for (const q of ['limit=0', 'since=yesterday', 'cursor=abc', 'user=']) expect((await t.api('GET', `/audit?${q}`)).status, q).toBe(400);
    const reader = await fetch(`${t.apiUrl}/audit`, { headers: { authorization: 'Bearer test-api-key-0123456789abcdef-read' } });
    expect(reader.status).toBe(403);
  });
});
