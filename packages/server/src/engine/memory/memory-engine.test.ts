import { brokerContract } from '../broker.contract.js';
import { presenceContract } from '../presence.contract.js';
import { MemoryBroker } from './memory-broker.js';
import { MemoryPresenceManager } from './memory-presence.js';

brokerContract('MemoryBroker', async (options) => new MemoryBroker({ ...options, sweepIntervalMs: 50 }));
presenceContract('MemoryPresenceManager', async (options) => new MemoryPresenceManager(options));
