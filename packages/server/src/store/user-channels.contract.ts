/**
 * Contract of UserChannelsStore: SQLite (sqlite/sqlite-stores.test.ts) and PostgreSQL
 * (postgres/postgres-stores.test.ts) run it. `open()` gives a fresh store; `reopen()` the same
 * data as a restarted process sees it.
 */
import { expect, test } from 'vitest';
import type { UserChannelsStore } from './user-channels-store.js';

export interface UserChannelsSet {
  store: UserChannelsStore;
  reopen(): Promise<UserChannelsSet>;
  close(): Promise<void>;
}

export function userChannelsContract(name: string, open: () => Promise<UserChannelsSet>): void {
  test(`${name} user channels: add, list sorted, repeat adds nothing, remove, per user`, async () => {
    const s = await open();
    try {
      expect(await s.store.list('u1')).toEqual([]);
      expect(await s.store.any()).toBe(false);
      expect(await s.store.add('u1', 'team:b', 1)).toBe(true);
      expect(await s.store.any()).toBe(true);
      expect(await s.store.add('u1', 'team:a', 2)).toBe(true);
      expect(await s.store.add('u1', 'team:b', 3)).toBe(false);
      expect(await s.store.add('u2', 'team:a', 4)).toBe(true);
      expect(await s.store.list('u1')).toEqual(['team:a', 'team:b']);
      expect(await s.store.remove('u1', 'team:a')).toBe(true);
      expect(await s.store.remove('u1', 'team:a')).toBe(false);
      expect(await s.store.list('u1')).toEqual(['team:b']);
      expect(await s.store.list('u2')).toEqual(['team:a']);
    } finally {
      await s.close();
    }
  });

  test(`${name} user channels: what was added and not removed survives a reopen`, async () => {
    const s = await open();
    await s.store.add('u1', 'team:x', 1);
    await s.store.add('u1', 'team:y', 1);
    await s.store.remove('u1', 'team:x');
    const again = await s.reopen();
    try {
      expect(await again.store.list('u1')).toEqual(['team:y']);
    } finally {
      await again.close();
    }
  });
}
