/**
 * The contract every PresenceManager implementation passes.
 */
import { describe, expect, it } from 'vitest';
import type { PresenceClient } from '@tidings/protocol';
import { closesAfterEach, sleep, unique } from './contract-support.js';
import type { PresenceManager } from './presence.js';

export type PresenceFactory = (options: { ttlMs: number }) => Promise<PresenceManager>;

const freshChannel = () => unique('test:p');
const client = (user: string, id: string, extra: Partial<PresenceClient> = {}): PresenceClient => ({ user, client: id, status: 'online', ...extra });

export function presenceContract(name: string, factory: PresenceFactory): void {
  describe(`PresenceManager contract: ${name}`, () => {
    const track = closesAfterEach<PresenceManager>();
    const make = async (ttlMs = 60_000) => track(await factory({ ttlMs }));

    it('lists connections and aggregates them per user', async () => {
      const pm = await make();
      const c = freshChannel();
      await pm.add(c, client('alice', 'c1', { info: { name: 'Alice' } }));
      await pm.add(c, client('alice', 'c2', { status: 'away' }));
      await pm.add(c, client('bob', 'c3', { status: 'away' }));
      expect(Object.keys(await pm.clients(c)).sort()).toEqual(['c1', 'c2', 'c3']);
      expect((await pm.clients(c)).c2).toEqual({ user: 'alice', client: 'c2', status: 'away' });
      const users = await pm.users(c);
      expect(users.map((u) => [u.user, u.status, u.clients])).toEqual([
        ['alice', 'online', 2],
        ['bob', 'away', 1],
      ]);
      expect(users[0]!.info).toEqual({ name: 'Alice' });
      expect(users[0]!.lastSeen).toBeGreaterThan(Date.now() - 5000);
      expect(await pm.stats(c)).toEqual({ clients: 3, users: 2 });
    });

    it('reports a join only for the first connection of a user', async () => {
      const pm = await make();
      const c = freshChannel();
      expect(await pm.add(c, client('alice', 'laptop'))).toMatchObject({ userJoined: true, changed: false });
      expect(await pm.add(c, client('alice', 'phone'))).toMatchObject({ userJoined: false, changed: false });
      expect(await pm.add(c, client('alice', 'phone'))).toMatchObject({ userJoined: false, changed: false });
      expect(await pm.add(c, client('bob', 'b1'))).toMatchObject({ userJoined: true });
    });

    it('does not flap when one of two devices reconnects', async () => {
      const pm = await make();
      const c = freshChannel();
      await pm.add(c, client('alice', 'laptop'));
      await pm.add(c, client('alice', 'phone'));
      expect(await pm.remove(c, 'phone')).toMatchObject({ lastClient: false, changed: false });
      expect(await pm.add(c, client('alice', 'phone-2'))).toMatchObject({ userJoined: false });
      expect(await pm.settleLeave(c, 'alice')).toBe(false);
    });

    it('leaves after the grace period unless a connection came back', async () => {
      const pm = await make();
      const c = freshChannel();
      await pm.add(c, client('alice', 'c1', { state: { task: 't1' } }));
      expect(await pm.remove(c, 'c1')).toMatchObject({ lastClient: true });
      // During the grace period the user is still listed, with no connection.
      expect(await pm.users(c)).toEqual([expect.objectContaining({ user: 'alice', clients: 0, state: { task: 't1' } })]);
      expect(await pm.stats(c)).toEqual({ clients: 0, users: 1 });
      // A page reload: back within the grace period, no join.
      expect(await pm.add(c, client('alice', 'c2'))).toMatchObject({ userJoined: false });
      expect(await pm.settleLeave(c, 'alice')).toBe(false);
      expect(await pm.remove(c, 'c2')).toMatchObject({ lastClient: true });
      expect(await pm.settleLeave(c, 'alice')).toBe(true);
      expect(await pm.settleLeave(c, 'alice')).toBe(false);
      expect(await pm.users(c)).toEqual([]);
      expect(await pm.add(c, client('alice', 'c3'))).toMatchObject({ userJoined: true });
    });

    it('updates status and state, reporting real changes only', async () => {
      const pm = await make();
      const c = freshChannel();
      await pm.add(c, client('alice', 'c1'));
      await pm.add(c, client('alice', 'c2'));
      const away1 = await pm.update(c, 'c1', { status: 'away' });
      expect(away1).toMatchObject({ changed: false, user: { status: 'online' } });
      const away2 = await pm.update(c, 'c2', { status: 'away' });
      expect(away2).toMatchObject({ changed: true, user: { user: 'alice', status: 'away', clients: 2 } });
      const st = await pm.update(c, 'c1', { state: { currentTask: 't-9' } });
      expect(st).toMatchObject({ changed: true, user: { state: { currentTask: 't-9' } } });
      expect(await pm.update(c, 'c1', { state: { currentTask: 't-9' } })).toMatchObject({ changed: false });
      await sleep(5);
      expect(await pm.update(c, 'c2', { state: { currentTask: 't-10' } })).toMatchObject({ changed: true, user: { state: { currentTask: 't-10' } } });
      // Refreshing a connection (add again) keeps its status and state.
      await pm.add(c, client('alice', 'c2', { status: 'away' }));
      expect((await pm.clients(c)).c2).toMatchObject({ status: 'away', state: { currentTask: 't-10' } });
      const cleared = await pm.update(c, 'c2', { state: null });
      expect(cleared.user!.state).toEqual({ currentTask: 't-9' });
      expect(await pm.update(c, 'nobody', { status: 'away' })).toEqual({ user: undefined, changed: false });
    });

    it('reports aggregate changes made by adding or removing a device', async () => {
      const pm = await make();
      const c = freshChannel();
      await pm.add(c, client('alice', 'away-tab', { status: 'away' }));
      const online = await pm.add(c, client('alice', 'online-tab'));
      expect(online).toMatchObject({ userJoined: false, changed: true, user: { user: 'alice', status: 'online', clients: 2 } });
      const gone = await pm.remove(c, 'online-tab');
      expect(gone).toMatchObject({ lastClient: false, changed: true, user: { status: 'away', clients: 1 } });
      await pm.add(c, client('alice', 'away-2', { status: 'away' }));
      expect(await pm.remove(c, 'away-2')).toMatchObject({ lastClient: false, changed: false });
    });

    it('keeps channels apart; removing an absent entry is a no-op', async () => {
      const pm = await make();
      const a = freshChannel();
      const b = freshChannel();
      await pm.add(a, client('alice', 'c1'));
      expect(await pm.clients(b)).toEqual({});
      expect(await pm.remove(b, 'c1')).toEqual({ lastClient: false, changed: false });
      expect(await pm.settleLeave(b, 'alice')).toBe(false);
    });

    it('drops connections not refreshed within the ttl, with no leave', async () => {
      const pm = await make(300);
      const c = freshChannel();
      await pm.add(c, client('alice', 'c1'));
      await pm.add(c, client('bob', 'c2'));
      await sleep(200);
      await pm.add(c, client('bob', 'c2'));
      await sleep(200);
      expect(Object.keys(await pm.clients(c))).toEqual(['c2']);
      expect((await pm.users(c)).map((u) => u.user)).toEqual(['bob']);
      expect(await pm.stats(c)).toEqual({ clients: 1, users: 1 });
    });
  });
}
