import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_RETENTION } from '../store/stores.contract.js';
import { sqliteStoresOptions } from '../store/store-retention.js';
import { openSqliteStores } from '../store/sqlite/sqlite-stores.js';
import type { UserChannelsStore } from '../store/user-channels-store.js';
import { StickyChannels } from './sticky-channels.js';

const dir = mkdtempSync(join(tmpdir(), 'tidings-sticky-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A real SQLite store, with its reads counted. */
function countedStore(name: string) {
  const stores = openSqliteStores(sqliteStoresOptions(join(dir, `${name}.db`), DEFAULT_RETENTION));
  const real = stores.userChannels;
  const reads: string[] = [];
  const store: UserChannelsStore = {
    add: (u, c, now) => real.add(u, c, now),
    remove: (u, c) => real.remove(u, c),
    list: (u) => (reads.push(u), real.list(u)),
    any: () => real.any(),
  };
  return { store, reads, close: async () => stores.database.close() };
}

describe('StickyChannels: the sticky-channel read at connect, skipped for users known to have none', () => {
  it('while no user has any, no connect reads the store; once one is added (changed), reads resume and a user found without any is read once', async () => {
    const s = countedStore('none');
    try {
      const sticky = new StickyChannels(s.store);
      await sticky.check();
      for (let i = 0; i < 3; i++) expect(await sticky.list('bob')).toEqual([]);
      // Before: one store query per connect (3 here).
      expect(s.reads).toEqual([]);
      // Added on some node: the store first, then steering tells every node.
      await s.store.add('carol', 'news:c', 1);
      sticky.changed('carol');
      expect(await sticky.list('carol')).toEqual(['news:c']);
      expect(await sticky.list('bob')).toEqual([]);
      expect(await sticky.list('bob')).toEqual([]);
      expect(s.reads).toEqual(['carol', 'bob']);
      // bob gets one later: his cached "none" goes with the change.
      await s.store.add('bob', 'news:b', 2);
      sticky.changed('bob');
      expect(await sticky.list('bob')).toEqual(['news:b']);
      expect(await sticky.list('carol')).toEqual(['news:c']);
    } finally {
      await s.close();
    }
  });

  it('a read under way when a change comes leaves no "none" behind', async () => {
    const s = countedStore('race');
    try {
      await s.store.add('someone', 'news:x', 1);
      const sticky = new StickyChannels(s.store);
      await sticky.check();
      // dave is read (empty) while a channel is added for him and the change arrives.
      const reading = sticky.list('dave');
      await s.store.add('dave', 'news:d', 2);
      sticky.changed('dave');
      expect(await reading).toEqual([]);
      expect(await sticky.list('dave')).toEqual(['news:d']);
    } finally {
      await s.close();
    }
  });
});
