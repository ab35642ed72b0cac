/**
 * The presence and user status contracts seen from two nodes, on the memory engine: nodes in one
 * process share one instance (the memory cluster hands the same one to each node), so the two
 * handles are that instance twice. (The single-node suites run in memory-engine.test.ts.)
 */
import { presenceTwoNodeContract } from '../presence.contract.js';
import { userStatusTwoNodeContract } from '../user-status.contract.js';
import { MemoryPresenceManager } from './memory-presence.js';
import { MemoryUserStatusStore } from './memory-user-status.js';

presenceTwoNodeContract('MemoryPresenceManager', async (options) => {
  const shared = new MemoryPresenceManager(options);
  return { a: shared, b: shared, close: () => shared.close() };
});

userStatusTwoNodeContract('MemoryUserStatusStore', async (options) => {
  const shared = new MemoryUserStatusStore(options);
  return { a: shared, b: shared, close: () => shared.close() };
});
