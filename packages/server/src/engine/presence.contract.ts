/**
 * The contract every PresenceManager implementation passes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PresenceManager } from './presence.js';

export type PresenceFactory = (options: { ttlMs: number }) => Promise<PresenceManager>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const freshChannel = () => `test:p${process.pid}-${Date.now()}-${++seq}`;

export function presenceContract(name: string, factory: PresenceFactory): void {
  describe(`PresenceManager contract: ${name}`, () => {
    const open: PresenceManager[] = [];
    async function make(ttlMs = 60_000) {
      const pm = await factory({ ttlMs });
      open.push(pm);
      return pm;
    }
    afterEach(async () => {
      await Promise.all(open.splice(0).map((p) => p.close()));
    });

    it('adds, lists and counts entries', async () => {
      const pm = await make();
      const c = freshChannel();
      await pm.add(c, { user: 'alice', client: 'c1', info: { name: 'Alice' } });
      await pm.add(c, { user: 'alice', client: 'c2' });
      await pm.add(c, { user: 'bob', client: 'c3' });
      expect(await pm.get(c)).toEqual({
        c1: { user: 'alice', client: 'c1', info: { name: 'Alice' } },
        c2: { user: 'alice', client: 'c2' },
        c3: { user: 'bob', client: 'c3' },
      });
      expect(await pm.stats(c)).toEqual({ clients: 3, users: 2 });
    });

    it('upserts by client id', async () => {
      const pm = await make();
      const c = freshChannel();
      await pm.add(c, { user: 'alice', client: 'c1', info: { v: 1 } });
      await pm.add(c, { user: 'alice', client: 'c1', info: { v: 2 } });
      expect(await pm.get(c)).toEqual({ c1: { user: 'alice', client: 'c1', info: { v: 2 } } });
      expect(await pm.stats(c)).toEqual({ clients: 1, users: 1 });
    });

    it('removes entries; removing an absent one is a no-op', async () => {
      const pm = await make();
      const c = freshChannel();
      await pm.add(c, { user: 'alice', client: 'c1' });
      await pm.remove(c, 'c1');
      await pm.remove(c, 'c1');
      await pm.remove(freshChannel(), 'nobody');
      expect(await pm.get(c)).toEqual({});
      expect(await pm.stats(c)).toEqual({ clients: 0, users: 0 });
    });

    it('keeps channels apart', async () => {
      const pm = await make();
      const a = freshChannel();
      const b = freshChannel();
      await pm.add(a, { user: 'alice', client: 'c1' });
      expect(await pm.get(b)).toEqual({});
    });

    it('drops entries not refreshed within the ttl, keeps refreshed ones', async () => {
      const pm = await make(300);
      const c = freshChannel();
      await pm.add(c, { user: 'alice', client: 'c1' });
      await pm.add(c, { user: 'bob', client: 'c2' });
      await sleep(200);
      await pm.add(c, { user: 'bob', client: 'c2' });
      await sleep(200);
      expect(Object.keys(await pm.get(c))).toEqual(['c2']);
      expect(await pm.stats(c)).toEqual({ clients: 1, users: 1 });
    });
  });
}
