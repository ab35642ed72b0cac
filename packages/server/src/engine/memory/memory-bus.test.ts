import { describe, expect, it } from 'vitest';
import { nodeBusContract } from '../node-bus.contract.js';
import { MemoryBusHub } from './memory-bus.js';

nodeBusContract('MemoryBusHub', async (count, { nodeTtlMs }) => {
  const hub = new MemoryBusHub({ nodeTtlMs });
  return { nodes: Array.from({ length: count }, () => hub.node()), close: async () => {} };
});

describe('MemoryBusHub', () => {
  it('carries messages and answers as JSON copies, as a process boundary would', async () => {
    const hub = new MemoryBusHub({ nodeTtlMs: 1000 });
    const a = hub.node();
    const b = hub.node();
    const seen: unknown[] = [];
    const shared = { type: 'data', list: [1] };
    await a.start('a', { onMessage: () => undefined });
    await b.start('b', { onMessage: (m) => (seen.push(m), { at: new Date(0) }) });
    const answer = await a.request('b', shared, 1000);
    shared.list.push(2);
    expect(seen).toEqual([{ type: 'data', list: [1] }]);
    expect(answer).toEqual({ at: '1970-01-01T00:00:00.000Z' });
    await expect(hub.node().start('a', { onMessage: () => undefined })).rejects.toThrow(/already/);
    await a.close();
    await b.close();
  });
});
