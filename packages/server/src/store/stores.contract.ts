/**
 * Contract suites of the durable stores: every implementation of NotificationStore,
 * ActivityStore and AuditStore runs them (sqlite/sqlite-stores.test.ts for SQLite).
 * `open()` returns fresh stores with the retention settings given; `reopen()` opens the
 * same data again as a restarted process would.
 */
import { describe, expect, test } from 'vitest';
import type { ActivityStore } from './activity-store.js';
import type { AuditStore } from './audit-store.js';
import { BadCursorError, type NewNotification, type NotificationStore } from './notification-store.js';
import type { StoreRetention } from './store-retention.js';

/** What `open()` is given (store-retention.ts, which the IPC test peer shares). */
export type { StoreRetention };

export interface StoreSet {
  notifications: NotificationStore;
  activity: ActivityStore;
  audit: AuditStore;
  /** The same data as a restarted process sees it. */
  reopen(): Promise<StoreSet>;
  close(): Promise<void>;
}

export const DEFAULT_RETENTION: StoreRetention = {
  maxPerUser: 1000,
  notificationMaxAgeMs: 0,
  idempotencyWindowMs: 60_000,
  maxPerScope: 1000,
  activityMaxAgeMs: 0,
  auditRetentionMs: 86_400_000,
  auditMaxRows: 0,
};

const T0 = 1_767_225_600_000;

function note(users: string[], extra: Partial<NewNotification> = {}): NewNotification {
  return { users, type: 'info', title: 'hello', priority: 'normal', ...extra };
}

export function storeContract(name: string, open: (retention: StoreRetention) => Promise<StoreSet>): void {
  const withStores = async (retention: Partial<StoreRetention>, body: (s: StoreSet) => Promise<void>) => {
    const stores = await open({ ...DEFAULT_RETENTION, ...retention });
    try {
      await body(stores);
    } finally {
      await stores.close();
    }
  };

  describe(`${name}: NotificationStore`, () => {
    test('create stores one notification per user with every field, and reads them back', async () => {
      await withStores({}, async ({ notifications: store }) => {
        const input = note(['alice', 'bob'], {
          type: 'mention',
          title: 'Bob mentioned you',
          message: 'see task',
          data: { taskId: 't1', nested: [1, null, 'x'] },
          actions: [{ label: 'View', action: 'open', style: 'primary' }],
          priority: 'high',
          expiresAt: T0 + 3_600_000,
        });
        const created = await store.create(input, T0);
        expect(created.deduplicated).toBe(false);
        expect(created.notifications.map((n) => n.user)).toEqual(['alice', 'bob']);
        const [a, b] = created.notifications;
        expect(a!.id).not.toBe(b!.id);
        expect(a).toEqual({
          id: expect.stringMatching(/^n_[A-Za-z0-9_-]{16}$/),
          user: 'alice',
          type: 'mention',
          title: 'Bob mentioned you',
          message: 'see task',
          data: { taskId: 't1', nested: [1, null, 'x'] },
          actions: [{ label: 'View', action: 'open', style: 'primary' }],
          priority: 'high',
          createdAt: T0,
          expiresAt: T0 + 3_600_000,
          read: false,
        });
        expect((await store.list('alice', { limit: 10 }, T0)).notifications).toEqual([a]);
        expect((await store.list('bob', { limit: 10 }, T0)).notifications).toEqual([b]);
        expect(await store.counts('alice', T0)).toEqual({ unread: 1, total: 1, unreadByType: { mention: 1 } });
        expect(await store.counts('carol', T0)).toEqual({ unread: 0, total: 0, unreadByType: {} });
      });
    });

    test('pages newest first with a stable cursor, and filters unread', async () => {
      await withStores({}, async ({ notifications: store }) => {
        const ids: string[] = [];
        for (let i = 0; i < 25; i++) ids.push((await store.create(note(['u'], { title: `n${i}` }), T0 + i)).notifications[0]!.id);
        const p1 = await store.list('u', { limit: 10 }, T0 + 100);
        expect(p1.notifications.map((n) => n.title)).toEqual(Array.from({ length: 10 }, (_, i) => `n${24 - i}`));
        // Newer ones arriving do not shift the next page.
        await store.create(note(['u'], { title: 'late' }), T0 + 50);
        const p2 = await store.list('u', { limit: 10, cursor: p1.nextCursor! }, T0 + 100);
        expect(p2.notifications.map((n) => n.title)).toEqual(Array.from({ length: 10 }, (_, i) => `n${14 - i}`));
        const p3 = await store.list('u', { limit: 10, cursor: p2.nextCursor! }, T0 + 100);
        expect(p3.notifications.map((n) => n.title)).toEqual(['n4', 'n3', 'n2', 'n1', 'n0']);
        expect(p3.nextCursor).toBeUndefined();

        expect(await store.markRead('u', [ids[0]!, ids[2]!, 'n_unknown'], T0 + 200)).toEqual(expect.arrayContaining([ids[0], ids[2]]));
        const unread = await store.list('u', { limit: 100, unread: true }, T0 + 300);
        expect(unread.notifications).toHaveLength(24);
        expect(unread.notifications.some((n) => n.id === ids[0] || n.id === ids[2])).toBe(false);
        const all = await store.list('u', { limit: 100 }, T0 + 300);
        const first = all.notifications.find((n) => n.id === ids[0])!;
        expect(first).toMatchObject({ read: true, readAt: T0 + 200 });
        expect(await store.counts('u', T0 + 300)).toEqual({ unread: 24, total: 26, unreadByType: { info: 24 } });
        expect((await store.list('u', { limit: 0 }, T0)).notifications).toEqual([]);
      });
    });

    test('unread counts per type: only types with unread ones, following reads, deletes and expiry; any type name is a plain key', async () => {
      await withStores({}, async ({ notifications: store }) => {
        const make = async (type: string, extra: Partial<NewNotification> = {}) => (await store.create(note(['u'], { type, ...extra }), T0)).notifications[0]!.id;
        const a1 = await make('task.assigned');
        await make('task.assigned');
        const c1 = await make('comment');
        await make('order:shipped', { expiresAt: T0 + 1000 });
        await make('__proto__');
        await make('constructor');
        await store.create(note(['other'], { type: 'comment' }), T0);
        const counts = await store.counts('u', T0);
        expect(counts).toEqual({ unread: 6, total: 6, unreadByType: { 'task.assigned': 2, comment: 1, 'order:shipped': 1, ['__proto__']: 1, constructor: 1 } });
        expect(Object.keys(counts.unreadByType).sort()).toEqual(['__proto__', 'comment', 'constructor', 'order:shipped', 'task.assigned']);
        expect(JSON.parse(JSON.stringify(counts.unreadByType))).toEqual({ 'task.assigned': 2, comment: 1, 'order:shipped': 1, ['__proto__']: 1, constructor: 1 });
        await store.markRead('u', [a1, c1], T0 + 1);
        await store.remove('u', [(await store.list('u', { limit: 100 }, T0)).notifications.find((n) => n.type === 'constructor')!.id]);
        // Read ones count in the total only; an expired one in neither; a type with none unread is absent.
        expect(await store.counts('u', T0 + 1000)).toEqual({ unread: 2, total: 4, unreadByType: { 'task.assigned': 1, ['__proto__']: 1 } });
        await store.markRead('u', 'all', T0 + 2);
        expect(await store.counts('u', T0 + 3)).toEqual({ unread: 0, total: 5, unreadByType: {} });
        expect(await store.counts('other', T0)).toEqual({ unread: 1, total: 1, unreadByType: { comment: 1 } });
      });
    });

    test('a bad cursor is refused', async () => {
      await withStores({}, async ({ notifications: store }) => {
        for (const cursor of ['', 'abc', '-1', '0', '1.5', '99999999999999999999', 'a_1']) {
          await expect(store.list('u', { limit: 5, cursor }, T0), cursor).rejects.toBeInstanceOf(BadCursorError);
        }
      });
    });

    test('markRead and remove touch only the given user; all marks every unread one once', async () => {
      await withStores({}, async ({ notifications: store }) => {
        const { notifications } = await store.create(note(['a', 'b']), T0);
        const [na, nb] = notifications;
        await store.create(note(['a']), T0 + 1);
        expect(await store.markRead('b', [na!.id], T0)).toEqual([]);
        expect(await store.remove('b', [na!.id])).toEqual([]);
        expect((await store.markRead('a', 'all', T0 + 5)).length).toBe(2);
        expect(await store.markRead('a', 'all', T0 + 6)).toEqual([]);
        expect(await store.counts('a', T0)).toEqual({ unread: 0, total: 2, unreadByType: {} });
        expect(await store.counts('b', T0)).toEqual({ unread: 1, total: 1, unreadByType: { info: 1 } });
        expect(await store.remove('b', [nb!.id, 'n_nope'])).toEqual([nb!.id]);
        expect(await store.counts('b', T0)).toEqual({ unread: 0, total: 0, unreadByType: {} });
      });
    });

    test('expired notifications are never listed or counted, and prune deletes them', async () => {
      await withStores({}, async ({ notifications: store }) => {
        await store.create(note(['u'], { title: 'short', expiresAt: T0 + 1000 }), T0);
        await store.create(note(['u'], { title: 'long' }), T0);
        expect(await store.counts('u', T0 + 999)).toEqual({ unread: 2, total: 2, unreadByType: { info: 2 } });
        expect(await store.counts('u', T0 + 1000)).toEqual({ unread: 1, total: 1, unreadByType: { info: 1 } });
        expect((await store.list('u', { limit: 10 }, T0 + 1000)).notifications.map((n) => n.title)).toEqual(['long']);
        expect(await store.markRead('u', 'all', T0 + 2000)).toHaveLength(1);
        expect(await store.prune(T0 + 2000)).toBeGreaterThanOrEqual(1);
        expect(await store.counts('u', 0)).toEqual({ unread: 0, total: 1, unreadByType: {} });
      });
    });

    test('retention keeps the newest maxPerUser per user; maxAge prunes old ones', async () => {
      await withStores({ maxPerUser: 5, notificationMaxAgeMs: 10_000 }, async ({ notifications: store }) => {
        for (let i = 0; i < 8; i++) await store.create(note(['u', i < 2 ? 'v' : 'w'], { title: `n${i}` }), T0 + i * 1000);
        expect((await store.list('u', { limit: 100 }, T0)).notifications.map((n) => n.title)).toEqual(['n7', 'n6', 'n5', 'n4', 'n3']);
        expect(await store.counts('v', T0)).toEqual({ unread: 2, total: 2, unreadByType: { info: 2 } });
        await store.prune(T0 + 14_500);
        expect((await store.list('u', { limit: 100 }, T0)).notifications.map((n) => n.title)).toEqual(['n7', 'n6', 'n5']);
        expect(await store.counts('v', T0)).toEqual({ unread: 0, total: 0, unreadByType: {} });
      });
    });

    test('the same idempotency key stores once within the window, and again after it', async () => {
      await withStores({ idempotencyWindowMs: 10_000 }, async ({ notifications: store }) => {
        const first = await store.create(note(['a', 'b'], { idempotencyKey: 'k1' }), T0);
        const again = await store.create(note(['a', 'b'], { idempotencyKey: 'k1', title: 'changed' }), T0 + 5000);
        expect(again).toEqual({ notifications: first.notifications, deduplicated: true });
        expect(await store.counts('a', T0)).toEqual({ unread: 1, total: 1, unreadByType: { info: 1 } });
        // Concurrent requests with one key, in the same turn: one stored.
        const racing = await Promise.all([store.create(note(['c'], { idempotencyKey: 'k2' }), T0), store.create(note(['c'], { idempotencyKey: 'k2' }), T0)]);
        expect(racing.map((r) => r.deduplicated).sort()).toEqual([false, true]);
        expect(await store.counts('c', T0)).toEqual({ unread: 1, total: 1, unreadByType: { info: 1 } });
        await store.prune(T0 + 10_001);
        const later = await store.create(note(['a'], { idempotencyKey: 'k1' }), T0 + 10_001);
        expect(later.deduplicated).toBe(false);
        expect(await store.counts('a', T0)).toEqual({ unread: 2, total: 2, unreadByType: { info: 2 } });
      });
    });

    test('everything survives a reopen', async () => {
      const stores = await open(DEFAULT_RETENTION);
      const { notifications } = await stores.notifications.create(note(['p'], { idempotencyKey: 'persist' }), T0);
      await stores.notifications.markRead('p', [notifications[0]!.id], T0 + 1);
      const act = await stores.activity.append({ scope: 'global', type: 'task', action: 'created' }, T0);
      await stores.audit.append([{ time: T0, type: 'connect', user: 'p', client: 'c1' }]);
      const again = await stores.reopen();
      try {
        expect((await again.notifications.list('p', { limit: 5 }, T0 + 2)).notifications).toEqual([{ ...notifications[0], read: true, readAt: T0 + 1 }]);
        expect((await again.notifications.create(note(['p'], { idempotencyKey: 'persist' }), T0 + 3)).deduplicated).toBe(true);
        expect((await again.activity.list('global', { limit: 5 })).activities).toEqual([act]);
        expect((await again.audit.query({ limit: 5 })).events).toMatchObject([{ type: 'connect', user: 'p', client: 'c1', time: T0 }]);
      } finally {
        await again.close();
      }
    });
  });

  describe(`${name}: ActivityStore`, () => {
    test('appends per scope, pages newest first, and keeps maxPerScope', async () => {
      await withStores({ maxPerScope: 30 }, async ({ activity }) => {
        const made = [];
        for (let i = 0; i < 35; i++) {
          made.push(await activity.append({ scope: i % 5 === 0 ? 'other' : 'p1', type: 'task', actor: { id: 'u', name: 'U' }, action: `a${i}`, target: 't', data: { i } }, T0 + i));
        }
        expect(made[1]).toEqual({ id: expect.stringMatching(/^a_\d{13}$/), scope: 'p1', type: 'task', actor: { id: 'u', name: 'U' }, action: 'a1', target: 't', data: { i: 1 }, createdAt: T0 + 1 });
        const ids = made.map((m) => m.id);
        expect([...ids].sort()).toEqual(ids);
        const p1 = await activity.list('p1', { limit: 20 });
        const p1Actions = made.filter((m) => m.scope === 'p1').map((m) => m.action).reverse();
        expect(p1.activities.map((a) => a.action)).toEqual(p1Actions.slice(0, 20));
        const p2 = await activity.list('p1', { limit: 20, cursor: p1.nextCursor! });
        expect(p2.activities.map((a) => a.action)).toEqual(p1Actions.slice(20));
        expect(p2.nextCursor).toBeUndefined();
        expect((await activity.list('other', { limit: 100 })).activities).toHaveLength(7);
        await expect(activity.list('p1', { limit: 5, cursor: 'bogus' })).rejects.toBeInstanceOf(BadCursorError);
      });
      await withStores({ maxPerScope: 3 }, async ({ activity }) => {
        for (let i = 0; i < 5; i++) await activity.append({ scope: 's', type: 't', action: `a${i}` }, T0);
        expect((await activity.list('s', { limit: 10 })).activities.map((a) => a.action)).toEqual(['a4', 'a3', 'a2']);
      });
    });

    test('recent lists every scope newest first, each entry with its scope, in pages that continue by cursor', async () => {
      await withStores({ maxPerScope: 4 }, async ({ activity }) => {
        const scopes = ['global', 'board', 'p1'];
        const made = [];
        for (let i = 0; i < 12; i++) made.push(await activity.append({ scope: scopes[i % 3]!, type: 'task', action: `a${i}`, data: { i } }, T0 + i));
        // Same time for the last two, other scopes: append order still decides.
        made.push(await activity.append({ scope: 'quiet', type: 'task', action: 'a12' }, T0 + 20));
        made.push(await activity.append({ scope: 'board', type: 'task', action: 'a13' }, T0 + 20));
        const newestFirst = [...made].reverse();
        const first = await activity.recent({ limit: 5 });
        expect(first.activities).toEqual(newestFirst.slice(0, 5));
        expect(first.activities.map((a) => a.scope)).toEqual(['board', 'quiet', 'p1', 'board', 'global']);
        const seen = [...first.activities];
        let cursor = first.nextCursor;
        for (let pages = 0; cursor !== undefined && pages < 10; pages++) {
          const next = await activity.recent({ limit: 5, cursor });
          seen.push(...next.activities);
          cursor = next.nextCursor;
        }
        // maxPerScope trimmed board (5 appended) to its 4 newest; the rest of every scope is listed once.
        const kept = newestFirst.filter((a) => a.action !== 'a1');
        expect(seen).toEqual(kept);
        expect(seen).toHaveLength(13);
        // A cursor from one scope's page continues the cross-scope listing below that entry.
        const p1 = await activity.list('p1', { limit: 1 });
        const below = await activity.recent({ limit: 2, cursor: p1.nextCursor! });
        expect(below.activities.map((a) => a.action)).toEqual(['a10', 'a9']);
        await expect(activity.recent({ limit: 5, cursor: 'bogus' })).rejects.toBeInstanceOf(BadCursorError);
      });
      await withStores({}, async ({ activity }) => {
        expect(await activity.recent({ limit: 5 })).toEqual({ activities: [] });
      });
    });

    test('prune drops entries past maxAge', async () => {
      await withStores({ activityMaxAgeMs: 1000 }, async ({ activity }) => {
        await activity.append({ scope: 's', type: 't', action: 'old' }, T0);
        await activity.append({ scope: 's', type: 't', action: 'new' }, T0 + 900);
        expect(await activity.prune(T0 + 1500)).toBe(1);
        expect((await activity.list('s', { limit: 10 })).activities.map((a) => a.action)).toEqual(['new']);
      });
    });
  });

  describe(`${name}: AuditStore`, () => {
    test('filters by user, type and time range, newest first with cursors; prune applies retention and maxRows', async () => {
      await withStores({ auditRetentionMs: 10_000, auditMaxRows: 0 }, async ({ audit }) => {
        const batch = [];
        for (let i = 0; i < 30; i++) {
          batch.push({ time: T0 + i * 100, type: i % 3 === 0 ? 'disconnect' : 'connect', user: i % 2 === 0 ? 'alice' : 'bob', client: `c${i}`, ...(i % 3 === 0 ? { code: 4005, reason: 'force reconnect' } : {}) });
        }
        await audit.append(batch);
        await audit.append([{ time: T0 + 5000, type: 'api_call', keyId: 'admin', method: 'POST', route: '/notify', status: 200, requestId: 'r1' }]);
        const all = await audit.query({ limit: 100 });
        expect(all.events).toHaveLength(31);
        expect(all.events[0]).toEqual({ id: expect.any(Number), time: T0 + 5000, type: 'api_call', keyId: 'admin', method: 'POST', route: '/notify', status: 200, requestId: 'r1' });
        const alice = await audit.query({ user: 'alice', type: 'disconnect', limit: 100 });
        expect(alice.events.map((e) => e.client)).toEqual(['c24', 'c18', 'c12', 'c6', 'c0']);
        expect(alice.events[0]).toMatchObject({ code: 4005, reason: 'force reconnect', user: 'alice' });
        const range = await audit.query({ since: T0 + 1000, until: T0 + 1500, limit: 100 });
        expect(range.events.map((e) => e.client)).toEqual(['c14', 'c13', 'c12', 'c11', 'c10']);
        const p1 = await audit.query({ user: 'bob', limit: 4 });
        const p2 = await audit.query({ user: 'bob', limit: 4, cursor: p1.nextCursor! });
        expect([...p1.events, ...p2.events].map((e) => e.client)).toEqual(['c29', 'c27', 'c25', 'c23', 'c21', 'c19', 'c17', 'c15']);
        await expect(audit.query({ limit: 4, cursor: 'x' })).rejects.toBeInstanceOf(BadCursorError);
        expect(await audit.prune(T0 + 12_000)).toBe(20);
        expect((await audit.query({ limit: 100 })).events).toHaveLength(11);
      });
      await withStores({ auditMaxRows: 5 }, async ({ audit }) => {
        await audit.append(Array.from({ length: 12 }, (_, i) => ({ time: T0, type: 'connect', client: `c${i}` })));
        await audit.prune(T0);
        expect((await audit.query({ limit: 100 })).events.map((e) => e.client)).toEqual(['c11', 'c10', 'c9', 'c8', 'c7']);
      });
    });
  });
}
