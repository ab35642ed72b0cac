/**
 * Webhooks with PostgreSQL: every node runs a dispatcher over the one outbox, and leases keep
 * each row with one holder. Two real nodes on a real PostgreSQL, events entered through both,
 * each first attempt answered 500 (so retries are claimed again, by either node): every event
 * is acknowledged exactly once and sent exactly twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgMissing, startPostgres, type PostgresServer } from '../test-support/postgres-server.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import { startWebhookReceiver, type WebhookReceiver } from '../test-support/webhook-receiver.js';
import { generateSecret } from './sign.js';

const skip = pgMissing();
const N = 30;
let pgServer: PostgresServer;
let rx: WebhookReceiver;
const nodes: TestNode[] = [];

describe.skipIf(skip)('webhooks on PostgreSQL', () => {
  beforeAll(async () => {
    pgServer = await startPostgres({ settings: { synchronous_commit: 'off' } });
    rx = await startWebhookReceiver();
    const seen = new Set<string>();
    rx.answer = (hook) => {
      if (seen.has(hook.id)) return { status: 200 };
      seen.add(hook.id);
      return { status: 500 };
    };
    const webhooks = { pollInterval: 20, lease: '5s', retry: { initial: 20, max: 100 }, endpoints: [{ id: 'rx', url: rx.url, secret: generateSecret(), timeout: '2s' }] };
    for (let i = 0; i < 2; i++) nodes.push(await startTestNode({ store: { type: 'postgres', url: pgServer.url }, webhooks }));
  }, 60_000);
  afterAll(async () => {
    for (const n of nodes) await n.close();
    await rx?.close();
    await pgServer?.close();
  });

  it('delivers each event once across two nodes delivering one outbox', async () => {
    const ids = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const res = await nodes[i % 2]!.api('POST', '/webhooks/test', {});
        expect(res.status).toBe(200);
        return res.body.data.id as string;
      }),
    );
    await rx.until((got) => got.filter((h) => h.status === 200).length >= N, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const acked = rx.received.filter((h) => h.status === 200).map((h) => h.id);
    expect(acked.sort()).toEqual([...ids].sort());
    const sent = new Map<string, number>();
    for (const h of rx.received) sent.set(h.id, (sent.get(h.id) ?? 0) + 1);
    expect([...sent.values()].every((n) => n === 2)).toBe(true);
    expect((await nodes[0]!.api('GET', '/webhooks/stats')).body.data).toMatchObject({ pending: 0, dead: 0 });
  }, 40_000);
});
