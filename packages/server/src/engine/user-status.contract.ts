/**
 * The contract every UserStatusStore implementation passes.
 */
import { describe, expect, it } from 'vitest';
import { closesAfterEach, sleep, unique } from './contract-support.js';
import type { UserStatusStore } from './user-status.js';

export type UserStatusFactory = (options: { ttlMs: number; lastSeenTtlMs: number }) => Promise<UserStatusStore>;

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

    it('drops connections not refreshed within the ttl', async () => {
      const s = await make(300);
      const u = freshUser('dave');
      const v = freshUser('erin');
      await s.addConnection(u, 'c1', 'online', undefined, 0);
      await s.addConnection(v, 'c1', 'online', undefined, 0);
      await sleep(200);
      await s.refresh(v, 'c1');
      await sleep(200);
      expect(await s.get(u)).toMatchObject({ status: 'offline', connections: 0 });
      expect(await s.get(v)).toMatchObject({ status: 'online', connections: 1 });
    });
  });
}
