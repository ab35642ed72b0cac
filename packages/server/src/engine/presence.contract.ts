/**
 * The contract every PresenceManager implementation passes.
 */
import { describe, expect, it } from 'vitest';
import type { PresenceClient } from '@tidings/protocol';
import { closesAfterEach, sleep, unique } from './contract-support.js';
import type { PresenceManager } from './presence.js';

export type PresenceFactory = (options: { ttlMs: number }) => Promise<PresenceManager>;

/** Two nodes' handles to one shared presence state (for memory: the same instance twice). */
export interface TwoPresenceNodes {
  a: PresenceManager;
  b: PresenceManager;
  /** Closes both handles and the shared state. */
  close(): Promise<void>;
}
export type TwoNodePresenceFactory = (options: { ttlMs: number }) => Promise<TwoPresenceNodes>;

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

    it('add returns the channel presence it left, the added connection included, unchanged by later writes', async () => {
      const pm = await make();
      const c = freshChannel();
      expect((await pm.add(c, client('bob', 'b1', { status: 'away' }))).snapshot).toEqual({ clients: { b1: { user: 'bob', client: 'b1', status: 'away' } }, users: [expect.objectContaining({ user: 'bob', clients: 1 })] });
      await pm.add(c, client('carol', 'k1'));
      await pm.remove(c, 'k1');
      const r = await pm.add(c, client('alice', 'a1', { info: { name: 'Alice' } }));
      expect(Object.keys(r.snapshot.clients).sort()).toEqual(['a1', 'b1']);
      // carol waits out her leave grace period: listed with no connection, as users() lists her.
      expect(r.snapshot.users.map((u) => [u.user, u.clients])).toEqual([['alice', 1], ['bob', 1], ['carol', 0]]);
      expect(r.snapshot).toEqual({ clients: await pm.clients(c), users: await pm.users(c) });
      await pm.update(c, 'a1', { status: 'away', state: { t: 1 } });
      await pm.add(c, client('dave', 'd1'));
      expect(r.snapshot.clients.a1).toEqual({ user: 'alice', client: 'a1', status: 'online', info: { name: 'Alice' } });
      expect(r.snapshot.users.map((u) => u.user)).toEqual(['alice', 'bob', 'carol']);
    });

    it('touch keeps many entries of several channels alive in one call, reports nothing, puts back an expired one', async () => {
      const pm = await make(300);
      const a = freshChannel();
      const b = freshChannel();
      await pm.add(a, client('alice', 'c1', { state: { x: 1 } }));
      await pm.add(b, client('alice', 'c2'));
      await pm.add(a, client('bob', 'c3'));
      await sleep(200);
      await pm.touch([
        { channel: a, client: client('alice', 'c1', { status: 'away' }) },
        { channel: b, client: client('alice', 'c2') },
      ]);
      await sleep(200);
      expect(await pm.clients(a)).toEqual({ c1: { user: 'alice', client: 'c1', status: 'away', state: { x: 1 } } });
      expect(await pm.stats(b)).toEqual({ clients: 1, users: 1 });
      // bob's entry expired: a touch puts it back (his node is alive after all), no join to report.
      await pm.touch([{ channel: a, client: client('bob', 'c3') }]);
      expect(await pm.add(a, client('bob', 'c4'))).toMatchObject({ userJoined: false });
      expect(await pm.stats(a)).toEqual({ clients: 3, users: 2 });
      await pm.touch([]);
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

    it('sweepExpired reports once what expiry did: a user gone, a user whose aggregate changed; never a refreshed entry', async () => {
      const pm = await make(300);
      const c = freshChannel();
      await pm.add(c, client('alice', 'a1', { info: { name: 'Alice' } }));
      await pm.add(c, client('bob', 'b1'));
      await pm.add(c, client('bob', 'b2', { status: 'away' }));
      await pm.add(c, client('carol', 'k1'));
      await sleep(200);
      await pm.touch([
        { channel: c, client: client('bob', 'b2', { status: 'away' }) },
        { channel: c, client: client('carol', 'k1') },
      ]);
      await sleep(200);
      // A read drops the expired entries at once; the sweep still reports what that did.
      expect((await pm.users(c)).map((u) => [u.user, u.status])).toEqual([['bob', 'away'], ['carol', 'online']]);
      const swept = await pm.sweepExpired(100);
      expect(swept.more).toBe(false);
      const byUser = swept.expired.sort((x, y) => (x.info.user < y.info.user ? -1 : 1));
      expect(byUser).toEqual([
        { channel: c, userLeft: true, info: { user: 'alice', client: 'a1', info: { name: 'Alice' } } },
        { channel: c, userLeft: false, info: { user: 'bob', client: 'b1' }, user: expect.objectContaining({ user: 'bob', status: 'away', clients: 1 }) },
      ]);
      expect((await pm.sweepExpired(100)).expired).toEqual([]);
      expect(await pm.stats(c)).toEqual({ clients: 2, users: 2 });
    });

    it('sweepExpired: a user back before the sweep is not reported gone; a grace period never settled ends as a leave', async () => {
      const pm = await make(300);
      const c = freshChannel();
      await pm.add(c, client('alice', 'a1'));
      await pm.add(c, client('bob', 'b1'));
      expect(await pm.remove(c, 'b1')).toMatchObject({ lastClient: true });
      await sleep(400);
      expect(await pm.stats(c)).toEqual({ clients: 0, users: 0 });
      await pm.add(c, client('alice', 'a2'));
      expect((await pm.sweepExpired(100)).expired).toEqual([{ channel: c, userLeft: true, info: { user: 'bob', client: 'b1' } }]);
      expect(await pm.settleLeave(c, 'bob')).toBe(false);
      expect((await pm.sweepExpired(100)).expired).toEqual([]);
      expect((await pm.users(c)).map((u) => u.user)).toEqual(['alice']);
    });

    it('sweepExpired takes at most limit channels per call and says when more are due', async () => {
      const pm = await make(300);
      const channels = [freshChannel(), freshChannel(), freshChannel()];
      for (const c of channels) await pm.add(c, client('alice', `in-${c}`));
      await sleep(400);
      const first = await pm.sweepExpired(2);
      expect(first.more).toBe(true);
      expect(first.expired).toHaveLength(2);
      const second = await pm.sweepExpired(2);
      expect(second.more).toBe(false);
      expect([...first.expired, ...second.expired].map((e) => e.channel).sort()).toEqual([...channels].sort());
      expect([...first.expired, ...second.expired].every((e) => e.userLeft)).toBe(true);
    });
  });
}

/** The same guarantees seen from two nodes sharing one state (presence of a user with devices on both). */
export function presenceTwoNodeContract(name: string, factory: TwoNodePresenceFactory): void {
  describe(`PresenceManager two-node contract: ${name}`, () => {
    const track = closesAfterEach<TwoPresenceNodes>();
    const make = async (ttlMs = 60_000) => track(await factory({ ttlMs }));

    it('a user with devices on both nodes is one user, joins once and leaves only after both left', async () => {
      const { a, b } = await make();
      const c = freshChannel();
      expect(await a.add(c, client('alice', 'laptop', { info: { name: 'Alice' } }))).toMatchObject({ userJoined: true });
      const phone = await b.add(c, client('alice', 'phone', { status: 'away' }));
      expect(phone).toMatchObject({ userJoined: false, changed: false, user: { user: 'alice', status: 'online', clients: 2 } });
      expect(Object.keys(phone.snapshot.clients).sort()).toEqual(['laptop', 'phone']);
      for (const node of [a, b]) {
        expect((await node.users(c)).map((u) => [u.user, u.status, u.clients])).toEqual([['alice', 'online', 2]]);
        expect(await node.stats(c)).toEqual({ clients: 2, users: 1 });
      }
      // A change made through one node is seen, and reported once, through either.
      expect(await b.update(c, 'phone', { state: { typing: 'x' } })).toMatchObject({ changed: true });
      expect((await a.users(c))[0]!.state).toEqual({ typing: 'x' });
      expect(await a.remove(c, 'laptop')).toMatchObject({ lastClient: false, changed: true, user: { status: 'away', clients: 1 } });
      expect(await b.settleLeave(c, 'alice')).toBe(false);
      expect(await b.remove(c, 'phone')).toMatchObject({ lastClient: true });
      expect(await a.settleLeave(c, 'alice')).toBe(true);
      expect(await b.settleLeave(c, 'alice')).toBe(false);
      expect(await b.users(c)).toEqual([]);
    });

    it('concurrent adds through both nodes are ordered: each snapshot holds exactly the adds before it and its own', async () => {
      const { a, b } = await make();
      const c = freshChannel();
      const ids = Array.from({ length: 12 }, (_, i) => `c${i}`);
      const results = await Promise.all(ids.map((id, i) => (i % 2 ? b : a).add(c, client(`u${i % 5}`, id))));
      const sets = results.map((r, i) => ({ own: ids[i]!, clients: Object.keys(r.snapshot.clients) }));
      sets.sort((x, y) => x.clients.length - y.clients.length);
      expect(sets.map((s) => s.clients.length)).toEqual(ids.map((_, i) => i + 1));
      for (const [i, s] of sets.entries()) {
        expect(s.clients).toContain(s.own);
        if (i > 0) expect(s.clients).toEqual(expect.arrayContaining(sets[i - 1]!.clients));
      }
      // Each user joined exactly once, whichever node its first connection came through.
      expect(results.filter((r) => r.userJoined)).toHaveLength(5);
    });

    it('a node that stops refreshing ages out after the ttl while the other keeps its entries with touch', async () => {
      const { a, b } = await make(300);
      const c = freshChannel();
      const d = freshChannel();
      await a.add(c, client('alice', 'a1'));
      await b.add(c, client('alice', 'b1'));
      await b.add(c, client('bob', 'b2'));
      await b.add(d, client('bob', 'b3'));
      await sleep(200);
      await b.touch([
        { channel: c, client: client('alice', 'b1') },
        { channel: c, client: client('bob', 'b2') },
        { channel: d, client: client('bob', 'b3') },
      ]);
      await sleep(200);
      expect(Object.keys(await a.clients(c)).sort()).toEqual(['b1', 'b2']);
      expect((await a.users(c)).map((u) => [u.user, u.clients])).toEqual([['alice', 1], ['bob', 1]]);
      expect(await a.stats(d)).toEqual({ clients: 1, users: 1 });
      await sleep(350);
      expect(await a.stats(c)).toEqual({ clients: 0, users: 0 });
      expect(await b.users(d)).toEqual([]);
    });

    it('two nodes sweeping at once report each expiry exactly once; a refreshed entry is never swept', async () => {
      const { a, b } = await make(300);
      const channels = Array.from({ length: 12 }, () => freshChannel());
      for (const [i, c] of channels.entries()) {
        await a.add(c, client(`u${i}`, `a${i}`));
        await b.add(c, client('bob', `b${i}`));
      }
      await sleep(200);
      await b.touch(channels.map((c, i) => ({ channel: c, client: client('bob', `b${i}`) })));
      await sleep(200);
      const [x, y] = await Promise.all([a.sweepExpired(100), b.sweepExpired(100)]);
      const all = [...x.expired, ...y.expired];
      expect(all.map((e) => e.channel).sort()).toEqual([...channels].sort());
      expect(all.every((e, _, list) => e.userLeft && e.info.user !== 'bob' && list.filter((o) => o.channel === e.channel).length === 1)).toBe(true);
      expect([...(await a.sweepExpired(100)).expired, ...(await b.sweepExpired(100)).expired]).toEqual([]);
      for (const c of channels) expect((await a.users(c)).map((u) => u.user)).toEqual(['bob']);
    });
  });
}
