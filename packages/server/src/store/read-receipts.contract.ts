/**
 * Contract of ReadReceiptsStore: SQLite (sqlite/sqlite-stores.test.ts), PostgreSQL
 * (postgres/postgres-stores.test.ts) and the IPC proxy (engine/ipc/ipc-stores.test.ts) run it.
 * `open()` gives a fresh store; `reopen()` the same data as a restarted process sees it.
 */
import { expect, test } from 'vitest';
import type { ReadReceiptsStore, StoredReceipt } from './read-receipts-store.js';

export interface ReadReceiptsSet {
  store: ReadReceiptsStore;
  reopen(): Promise<ReadReceiptsSet>;
  close(): Promise<void>;
}

const byChannel = (rs: StoredReceipt[]) => [...rs].sort((a, b) => (a.channel < b.channel ? -1 : 1));

export function readReceiptsContract(name: string, open: () => Promise<ReadReceiptsSet>): void {
  test(`${name} read receipts: a receipt only moves forward in its epoch, and at changes only when it moves`, async () => {
    const s = await open();
    try {
      expect(await s.store.mark('u1', 'chat:a', 'E1', 5, 1000)).toEqual({ offset: 5, at: 1000, moved: true });
      expect(await s.store.mark('u1', 'chat:a', 'E1', 3, 2000)).toEqual({ offset: 5, at: 1000, moved: false });
      expect(await s.store.mark('u1', 'chat:a', 'E1', 5, 3000)).toEqual({ offset: 5, at: 1000, moved: false });
      expect(await s.store.mark('u1', 'chat:a', 'E1', 9, 4000)).toEqual({ offset: 9, at: 4000, moved: true });
      // Per user and per channel.
      expect(await s.store.mark('u2', 'chat:a', 'E1', 2, 5000)).toEqual({ offset: 2, at: 5000, moved: true });
      expect(await s.store.mark('u1', 'chat:b', 'E7', 1, 6000)).toEqual({ offset: 1, at: 6000, moved: true });
      expect(byChannel(await s.store.get('u1', ['chat:a', 'chat:b', 'chat:none']))).toEqual([
        { channel: 'chat:a', user: 'u1', epoch: 'E1', offset: 9, at: 4000 },
        { channel: 'chat:b', user: 'u1', epoch: 'E7', offset: 1, at: 6000 },
      ]);
      expect(await s.store.get('u3', ['chat:a'])).toEqual([]);
      expect(await s.store.get('u1', [])).toEqual([]);
    } finally {
      await s.close();
    }
  });

  test(`${name} read receipts: a mark in another epoch replaces the receipt, even with a lower offset; list reads one epoch`, async () => {
    const s = await open();
    try {
      await s.store.mark('u1', 'chat:a', 'E1', 40, 1000);
      await s.store.mark('u2', 'chat:a', 'E1', 30, 1000);
      expect(await s.store.mark('u1', 'chat:a', 'E2', 2, 2000)).toEqual({ offset: 2, at: 2000, moved: true });
      expect(await s.store.get('u1', ['chat:a'])).toEqual([{ channel: 'chat:a', user: 'u1', epoch: 'E2', offset: 2, at: 2000 }]);
      expect(await s.store.list('chat:a', 'E2', 10)).toEqual([{ channel: 'chat:a', user: 'u1', epoch: 'E2', offset: 2, at: 2000 }]);
      expect(await s.store.list('chat:a', 'E1', 10)).toEqual([{ channel: 'chat:a', user: 'u2', epoch: 'E1', offset: 30, at: 1000 }]);
      expect(await s.store.list('chat:other', 'E1', 10)).toEqual([]);
    } finally {
      await s.close();
    }
  });

  test(`${name} read receipts: list is highest offset first, then most recent, then by user, up to limit`, async () => {
    const s = await open();
    try {
      await s.store.mark('carol', 'room:1', 'E', 7, 100);
      await s.store.mark('bob', 'room:1', 'E', 7, 100);
      await s.store.mark('alice', 'room:1', 'E', 3, 500);
      await s.store.mark('dave', 'room:1', 'E', 7, 300);
      await s.store.mark('erin', 'room:1', 'E', 12, 50);
      const users = (rs: StoredReceipt[]) => rs.map((r) => `${r.user}:${r.offset}`);
      expect(users(await s.store.list('room:1', 'E', 10))).toEqual(['erin:12', 'dave:7', 'bob:7', 'carol:7', 'alice:3']);
      expect(users(await s.store.list('room:1', 'E', 2))).toEqual(['erin:12', 'dave:7']);
    } finally {
      await s.close();
    }
  });

  test(`${name} read receipts: concurrent marks of one user end at the highest offset`, async () => {
    const s = await open();
    try {
      const offsets = [4, 17, 9, 23, 1, 23, 12, 20];
      const outcomes = await Promise.all(offsets.map((offset, i) => s.store.mark('u1', 'chat:race', 'E', offset, 1000 + i)));
      for (const o of outcomes) expect(o.offset).toBeGreaterThanOrEqual(1);
      expect(outcomes.filter((o) => o.moved && o.offset === 23)).toHaveLength(1);
      const [receipt] = await s.store.get('u1', ['chat:race']);
      expect(receipt?.offset).toBe(23);
    } finally {
      await s.close();
    }
  });

  test(`${name} read receipts: marks survive a reopen`, async () => {
    const s = await open();
    await s.store.mark('u1', 'chat:keep', 'E3', 8, 1234);
    const again = await s.reopen();
    try {
      expect(await again.store.get('u1', ['chat:keep'])).toEqual([{ channel: 'chat:keep', user: 'u1', epoch: 'E3', offset: 8, at: 1234 }]);
      expect(await again.store.mark('u1', 'chat:keep', 'E3', 6, 9999)).toEqual({ offset: 8, at: 1234, moved: false });
    } finally {
      await again.close();
    }
  });
}
