import { describe, expect, it } from 'vitest';
import { brokerContract } from '../broker.contract.js';
import { idempotencyContract } from '../idempotency.contract.js';
import { presenceContract } from '../presence.contract.js';
import { progressContract } from '../progress.contract.js';
import { typingContract } from '../typing.contract.js';
import { userStatusContract } from '../user-status.contract.js';
import { MemoryBroker } from './memory-broker.js';
import { MemoryIdempotencyStore } from './memory-idempotency.js';
import { MemoryPresenceManager } from './memory-presence.js';
import { MemoryProgressStore } from './memory-progress.js';
import { MemoryTypingStore } from './memory-typing.js';
import { MemoryUserStatusStore } from './memory-user-status.js';

brokerContract('MemoryBroker', async (options) => new MemoryBroker({ ...options, sweepIntervalMs: 50 }));
presenceContract('MemoryPresenceManager', async (options) => new MemoryPresenceManager(options));
userStatusContract('MemoryUserStatusStore', async (options) => new MemoryUserStatusStore(options));
typingContract('MemoryTypingStore', async () => new MemoryTypingStore());
idempotencyContract('MemoryIdempotencyStore', async (bounds) => new MemoryIdempotencyStore({ sweepIntervalMs: 50, ...bounds }));
progressContract('MemoryProgressStore', async () => new MemoryProgressStore(50));

describe('MemoryBroker stream lifetime', () => {
  it('keeps a stream with local subscribers past metaTtl, so its epoch cannot change under them', async () => {
    const broker = new MemoryBroker({ metaTtlMs: 100, sweepIntervalMs: 20 });
    broker.setHandler({ onPublication: () => {}, onControl: () => {} });
    try {
      await broker.subscribe('x:kept');
      const a = await broker.position('x:kept');
      await new Promise((r) => setTimeout(r, 250));
      expect(await broker.position('x:kept')).toEqual(a);
      await broker.unsubscribe('x:kept');
      await new Promise((r) => setTimeout(r, 250));
      expect((await broker.position('x:kept')).epoch).not.toBe(a.epoch);
    } finally {
      await broker.close();
    }
  });
});
