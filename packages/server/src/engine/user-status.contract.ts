/**
 * The contract every UserStatusStore implementation passes.
 */
import { describe, expect, it } from 'vitest';
import { closesAfterEach, sleep, unique } from './contract-support.js';
import type { UserStatusStore } from './user-status.js';

export type UserStatusFactory = (options: { ttlMs: number; lastSeenTtlMs: number }) => Promise<UserStatusStore>;

/** Two nodes' handles to one shared user status state (for memory: the same instance twice). */
export interface TwoUserStatusNodes {
  a: UserStatusStore;
  b: UserStatusStore;
  /** Closes both handles and the shared state. */
  close(): Promise<void>;
}
export type TwoNodeUserStatusFactory = (options: { ttlMs: number; lastSeenTtlMs: number }) => Promise<TwoUserStatusNodes>;

const freshUser = (name: string) => unique(`${name}-`);

export function userStatusContract(name: string, factory: UserStatusFactory): void {
  describe(`UserStatusStore contract: ${name}`, () => {
    const track = closesAfterEach<UserStatusStore>();
    const make = async (ttlMs = 60_000, lastSeenTtlMs = 3_600_000) => track(await factory({ ttlMs, lastSeenTtlMs }));

    it('aggregates connections: online if any is online, away if all are away', async () => {
      const s = await make();
      const u = freshUser('alice');
      const first = await s.addConnection(u, 'c1', 'online', { name: 'Alice' }, 0);
      expect(first).toMatchObject({ accepted: true, connections: 1, changed: { user: u, status: 'online', info: { name: 'Alice' } } });
      expect(await s.addConnection(u, 'c2', 'away', undefined, 0)).toEqual({ accepted: true, connections: 2 });
      expect(await s.setStatus(u, 'c2', 'online')).toBeUndefined();
      expect(await s.setStatus(u, 'c1', 'away')).toBeUndefined();
      expect(await s.setStatus(u, 'c2', 'away')).toMatchObject({ status: 'away' });
      expect(await s.get(u)).toMatchObject({ user: u, status: 'away', connections: 2, info: { name: 'Alice' } });
      expect(await s.setStatus(u, 'nope', 'online')).toBeUndefined();
    });

    it('enforces the per-user connection limit atomically', async () => {
      const s = await make();
      const u = freshUser('bob');
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => s.addConnection(u, `c${i}`, 'online', undefined, 3)));
      expect(results.filter((r) => r.accepted).length).toBe(3);
      expect((await s.get(u)).connections).toBe(3);
      // Re-adding a present connection is a refresh, not a new one.
      const present = results.findIndex((r) => r.accepted);
      expect((await s.addConnection(u, `c${present}`, 'online', undefined, 3)).accepted).toBe(true);
    });

    it('goes offline only after the grace period, once, and keeps lastSeen', async () => {
      const s = await make();
      const u = freshUser('carol');
      await s.addConnection(u, 'c1', 'online', undefined, 0);
      expect(await s.removeConnection(u, 'c1')).toEqual({ lastConnection: true });
      expect((await s.get(u)).status).toBe('online');
      // Came back within the grace period: no offline.
      expect((await s.addConnection(u, 'c2', 'online', undefined, 0)).changed).toBeUndefined();
      expect(await s.settleOffline(u)).toBeUndefined();
      expect(await s.removeConnection(u, 'c2')).toEqual({ lastConnection: true });
      const off = await s.settleOffline(u);
      expect(off).toMatchObject({ user: u, status: 'offline', connections: 0 });
      expect(off!.lastSeen).toBeGreaterThan(Date.now() - 5000);
      expect(await s.settleOffline(u)).toBeUndefined();
      expect(await s.get(u)).toMatchObject({ status: 'offline', lastSeen: off!.lastSeen });
      expect(await s.removeConnection(u, 'c2')).toEqual({ lastConnection: false });
    });

    it('reports unknown users as offline without lastSeen', async () => {
      const s = await make();
      const u = freshUser('nobody');
      expect(await s.get(u)).toEqual({ user: u, status: 'offline', connections: 0 });
    });

    it('lists online and away users with a cursor, and counts them', async () => {
      const s = await make();
      const prefix = freshUser('list');
      const ids = ['a', 'b', 'c', 'd', 'e'].map((x) => `${prefix}-${x}`);
      for (const id of ids) await s.addConnection(id, 'c', id.endsWith('b') ? 'away' : 'online', undefined, 0);
      await s.removeConnection(ids[4]!, 'c');
      await s.settleOffline(ids[4]!);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 10; i++) {
        const page = await s.listOnline({ limit: 2, ...(cursor ? { cursor } : {}) });
        seen.push(...page.users.map((u) => u.user));
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      const mine = seen.filter((id) => id.startsWith(prefix));
      expect(mine).toEqual(ids.slice(0, 4));
      expect(new Set(seen).size).toBe(seen.length);
      expect(await s.countOnline()).toBeGreaterThanOrEqual(4);
    });

    it('countUsers counts users online or away as connected, and those seen within lastSeenTtl as known', async () => {
      // TTL 300 ms, lastSeen kept 600 ms: the left user is known right after leaving and forgotten
      // by ~750 ms, while the touched one stays connected.
      const s = await make(300, 600);
      expect(await s.countUsers()).toEqual({ connected: 0, known: 0 });
      const [on, away, left] = ['cu-on', 'cu-away', 'cu-left'].map(freshUser) as [string, string, string];
      await s.addConnection(on, 'c1', 'online', undefined, 0);
      await s.addConnection(on, 'c2', 'online', undefined, 0);
      await s.addConnection(away, 'c1', 'away', undefined, 0);
      await s.addConnection(left, 'c1', 'online', undefined, 0);
      expect(await s.countUsers()).toEqual({ connected: 3, known: 3 });
      await s.removeConnection(left, 'c1');
      // Within its grace period the user still shows online: connected.
      expect(await s.countUsers()).toEqual({ connected: 3, known: 3 });
      await s.settleOffline(left);
      await s.get(freshUser('never-seen'));
      expect(await s.countUsers()).toEqual({ connected: 2, known: 3 });
      for (let i = 0; i < 3; i++) {
        await sleep(250);
        await s.touch([{ user: on, client: 'c1' }]);
      }
      // away's connection expired (its node stopped touching), left's lastSeen is past 600 ms.
      expect(await s.countUsers()).toEqual({ connected: 1, known: 1 });
    });

    it('drops connections not refreshed within the ttl', async () => {
      const s = await make(300);
      const u = freshUser('dave');
      const v = freshUser('erin');
      await s.addConnection(u, 'c1', 'online', undefined, 0);
      await s.addConnection(v, 'c1', 'online', undefined, 0);
      await sleep(200);
      await s.touch([{ user: v, client: 'c1' }]);
      await sleep(200);
      expect(await s.get(u)).toMatchObject({ status: 'offline', connections: 0 });
      expect(await s.get(v)).toMatchObject({ status: 'online', connections: 1 });
    });

    it('touch keeps many connections alive in one call, moves lastSeen, and skips connections not held', async () => {
      // TTL 800 ms: touched at ~500 ms, checked at ~1000 ms (past the TTL from the adds, well within it
      // from the touch), with 300 ms of slack either side for a loaded machine.
      const s = await make(800);
      const u = freshUser('fay');
      const v = freshUser('gus');
      await s.addConnection(u, 'c1', 'online', undefined, 0);
      await s.addConnection(u, 'c2', 'away', undefined, 0);
      await s.addConnection(v, 'c1', 'away', undefined, 0);
      const seen = (await s.get(v)).lastSeen!;
      await sleep(500);
      await s.touch([
        { user: u, client: 'c1' },
        { user: u, client: 'c2' },
        { user: v, client: 'c1' },
        { user: v, client: 'never-added' },
      ]);
      expect((await s.get(v)).lastSeen).toBeGreaterThan(seen);
      await sleep(500);
      expect(await s.get(u)).toMatchObject({ status: 'online', connections: 2 });
      expect(await s.get(v)).toMatchObject({ status: 'away', connections: 1 });
      // A removed connection is not put back by a touch that raced its removal.
      await s.removeConnection(v, 'c1');
      await s.touch([{ user: v, client: 'c1' }]);
      expect((await s.get(v)).connections).toBe(0);
      await s.touch([]);
    });

    it('sweepExpired reports once what expiry did: offline with lastSeen, away, a grace period never settled; never a refreshed connection', async () => {
      const s = await make(300);
      const [gone, halfway, kept, abandoned, back] = ['lea', 'max', 'ned', 'ola', 'pia'].map(freshUser) as [string, string, string, string, string];
      await s.addConnection(gone, 'c1', 'online', { name: 'Lea' }, 0);
      await s.addConnection(halfway, 'c1', 'online', undefined, 0);
      await s.addConnection(halfway, 'c2', 'away', undefined, 0);
      await s.addConnection(kept, 'c1', 'online', undefined, 0);
      await s.addConnection(abandoned, 'c1', 'away', undefined, 0);
      expect(await s.removeConnection(abandoned, 'c1')).toEqual({ lastConnection: true });
      await s.addConnection(back, 'c1', 'online', undefined, 0);
      await sleep(200);
      await s.touch([{ user: halfway, client: 'c2' }, { user: kept, client: 'c1' }]);
      await sleep(200);
      // A read sees the expiry at once; the sweep still reports it. One user came back first.
      expect(await s.get(gone)).toMatchObject({ status: 'offline', connections: 0 });
      expect(await s.addConnection(back, 'c2', 'online', undefined, 0)).toMatchObject({ accepted: true });
      const swept = await s.sweepExpired(100);
      expect(swept.more).toBe(false);
      const mine = swept.changed.filter((e) => [gone, halfway, kept, abandoned, back].includes(e.user)).sort((x, y) => (x.user < y.user ? -1 : 1));
      expect(mine).toEqual([
        { user: gone, status: 'offline', connections: 0, lastSeen: expect.any(Number), info: { name: 'Lea' }, wentOffline: true },
        { user: halfway, status: 'away', connections: 1, lastSeen: expect.any(Number) },
        { user: abandoned, status: 'offline', connections: 0, lastSeen: expect.any(Number), wentOffline: true },
      ].sort((x, y) => (x.user < y.user ? -1 : 1)));
      expect((await s.sweepExpired(100)).changed).toEqual([]);
      expect(await s.settleOffline(abandoned)).toBeUndefined();
      expect(await s.get(kept)).toMatchObject({ status: 'online', connections: 1 });
    });
  });
}

/** The same guarantees seen from two nodes sharing one state (a user with connections on both). */
export function userStatusTwoNodeContract(name: string, factory: TwoNodeUserStatusFactory): void {
  describe(`UserStatusStore two-node contract: ${name}`, () => {
    const track = closesAfterEach<TwoUserStatusNodes>();
    const make = async (ttlMs = 60_000, lastSeenTtlMs = 3_600_000) => track(await factory({ ttlMs, lastSeenTtlMs }));

    it('a user is online while either node holds a connection, and goes offline once after both left', async () => {
      const { a, b } = await make();
      const u = freshUser('hal');
      expect(await a.addConnection(u, 'a1', 'online', { name: 'Hal' }, 0)).toMatchObject({ accepted: true, connections: 1, changed: { status: 'online' } });
      expect(await b.addConnection(u, 'b1', 'online', undefined, 0)).toEqual({ accepted: true, connections: 2 });
      for (const node of [a, b]) expect(await node.get(u)).toMatchObject({ status: 'online', connections: 2, info: { name: 'Hal' } });
      expect(await a.removeConnection(u, 'a1')).toEqual({ lastConnection: false });
      expect(await a.settleOffline(u)).toBeUndefined();
      expect(await a.get(u)).toMatchObject({ status: 'online', connections: 1 });
      expect(await b.setStatus(u, 'b1', 'away')).toMatchObject({ status: 'away' });
      expect(await a.countOnline()).toBeGreaterThanOrEqual(1);
      expect((await a.listOnline({ limit: 1000, cursor: u.slice(0, -1) })).users.map((e) => e.user)).toContain(u);
      expect(await b.removeConnection(u, 'b1')).toEqual({ lastConnection: true });
      expect(await a.settleOffline(u)).toMatchObject({ user: u, status: 'offline', connections: 0 });
      expect(await b.settleOffline(u)).toBeUndefined();
      expect((await b.get(u)).status).toBe('offline');
    });

    it('countUsers counts a user connected to both nodes once, and a user that left as known, from either node', async () => {
      const { a, b } = await make();
      const [both, left] = ['cu-both', 'cu-left'].map(freshUser) as [string, string];
      await a.addConnection(both, 'a1', 'online', undefined, 0);
      await b.addConnection(both, 'b1', 'away', undefined, 0);
      await b.addConnection(left, 'b2', 'online', undefined, 0);
      expect(await a.countUsers()).toEqual({ connected: 2, known: 2 });
      expect(await b.removeConnection(left, 'b2')).toEqual({ lastConnection: true });
      expect(await a.settleOffline(left)).toMatchObject({ status: 'offline' });
      for (const node of [a, b]) expect(await node.countUsers()).toEqual({ connected: 1, known: 2 });
      await a.removeConnection(both, 'a1');
      expect(await b.countUsers()).toEqual({ connected: 1, known: 2 });
      await b.removeConnection(both, 'b1');
      await b.settleOffline(both);
      for (const node of [a, b]) expect(await node.countUsers()).toEqual({ connected: 0, known: 2 });
    });

    it('the per-user limit counts connections on both nodes, atomically', async () => {
      const { a, b } = await make();
      const u = freshUser('ivy');
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? b : a).addConnection(u, `c${i}`, 'online', undefined, 3)));
      expect(results.filter((r) => r.accepted)).toHaveLength(3);
      expect((await a.get(u)).connections).toBe(3);
      expect((await b.get(u)).connections).toBe(3);
    });

    it('a node that stops refreshing ages out after the ttl while the other keeps its connections with touch', async () => {
      const { a, b } = await make(300);
      const u = freshUser('jo');
      const v = freshUser('kai');
      await a.addConnection(u, 'a1', 'online', undefined, 0);
      await b.addConnection(u, 'b1', 'away', undefined, 0);
      await a.addConnection(v, 'a2', 'online', undefined, 0);
      await sleep(200);
      await b.touch([{ user: u, client: 'b1' }]);
      await sleep(200);
      // Node a stopped: its online connection is gone, b's away one holds the user.
      expect(await a.get(u)).toMatchObject({ status: 'away', connections: 1 });
      expect(await b.get(v)).toMatchObject({ status: 'offline', connections: 0 });
    });

    it('two nodes sweeping at once report each expiry exactly once; a refreshed connection is never swept', async () => {
      const { a, b } = await make(300);
      const users = Array.from({ length: 12 }, (_, i) => freshUser(`q${i}`));
      const kept = freshUser('rex');
      for (const u of users) await a.addConnection(u, 'a1', 'online', undefined, 0);
      await b.addConnection(kept, 'b1', 'online', undefined, 0);
      await sleep(200);
      await b.touch([{ user: kept, client: 'b1' }]);
      await sleep(200);
      const [x, y] = await Promise.all([a.sweepExpired(100), b.sweepExpired(100)]);
      const all = [...x.changed, ...y.changed];
      expect(all.map((e) => e.user).sort()).toEqual([...users].sort());
      expect(all.every((e) => e.status === 'offline')).toBe(true);
      expect([...(await a.sweepExpired(100)).changed, ...(await b.sweepExpired(100)).changed]).toEqual([]);
      expect(await a.get(kept)).toMatchObject({ status: 'online', connections: 1 });
    });

    it('cameOnline and wentOffline alternate, once across both nodes: none for a return within the grace period or for online/away', async () => {
      const { a, b } = await make();
      const u = freshUser('edge');
      const edges: string[] = [];
      const add = async (node: UserStatusStore, c: string, status: 'online' | 'away' = 'online') => {
        if ((await node.addConnection(u, c, status, undefined, 0)).cameOnline) edges.push('on');
      };
      const settle = async () => {
        const settled = await Promise.all([a.settleOffline(u), b.settleOffline(u)]);
        for (const e of settled) if (e?.wentOffline) edges.push('off');
      };
      // A storm of adds from both nodes: one cameOnline.
      await Promise.all(Array.from({ length: 20 }, (_, i) => add(i % 2 ? b : a, `s${i}`, i % 3 ? 'online' : 'away')));
      expect(edges).toEqual(['on']);
      for (let i = 0; i < 20; i++) await (i % 2 ? b : a).removeConnection(u, `s${i}`);
      // Back within the grace period (away this time): nothing, and the settle finds a connection.
      await add(b, 'b1', 'away');
      await settle();
      expect(edges).toEqual(['on']);
      expect(await b.setStatus(u, 'b1', 'online')).toMatchObject({ status: 'online' });
      expect(await b.removeConnection(u, 'b1')).toEqual({ lastConnection: true });
      await settle();
      expect(edges).toEqual(['on', 'off']);
      await add(a, 'a1');
      expect(edges).toEqual(['on', 'off', 'on']);
    });

    it('an expiry reports wentOffline once from a sweep, and nothing when a connection came back before the sweep', async () => {
      const { a, b } = await make(300);
      const gone = freshUser('gone');
      const back = freshUser('back');
      expect((await a.addConnection(gone, 'a1', 'online', undefined, 0)).cameOnline).toBe(true);
      expect((await a.addConnection(back, 'a2', 'online', undefined, 0)).cameOnline).toBe(true);
      await sleep(400);
      // Node a died; back reconnects on b before anyone swept: no edge either way.
      expect((await b.addConnection(back, 'b1', 'online', undefined, 0)).cameOnline).toBeUndefined();
      const [x, y] = await Promise.all([a.sweepExpired(100), b.sweepExpired(100)]);
      const swept = [...x.changed, ...y.changed];
      expect(swept.filter((e) => e.wentOffline).map((e) => e.user)).toEqual([gone]);
      expect(swept.filter((e) => e.user === back)).toEqual([]);
      expect((await b.addConnection(gone, 'b2', 'online', undefined, 0)).cameOnline).toBe(true);
    });
  });
}
