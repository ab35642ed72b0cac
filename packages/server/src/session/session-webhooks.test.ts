/**
 * The webhook events a connection causes, end to end on a real node delivering to a loopback
 * receiver: connection.opened / closed, subscription.created / removed (client and server-side,
 * each reason), publication.client; each once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import { startWebhookSink, type WebhookSink } from '../test-support/webhook-sink.js';
import type { TidingsOptions } from '../node.js';

const SECRET = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let sink: WebhookSink;
let t: TestNode;
beforeAll(async () => {
  sink = await startWebhookSink();
  t = await startTestNode({ webhooks: { endpoints: [{ id: 'sink', url: sink.url, secret: SECRET }], pollInterval: 50 } } as TidingsOptions);
});
afterAll(async () => {
  await t?.close();
  await sink?.close();
});

const mine = (client: string) => (d: Record<string, any>) => d.client === client;

describe('connection and subscription webhooks', () => {
  it('connection.opened after connect, connection.closed with code, reason and duration', async () => {
    const { client, result } = await TestClient.connect(t.wsUrl, await t.token('ada'), { name: 'web', version: '1.2.3' });
    const [opened] = await sink.waitFor('connection.opened', mine(result.client));
    expect(opened!.data).toEqual({ client: result.client, user: 'ada', transport: 'websocket', remoteAddress: '127.0.0.1', name: 'web', version: '1.2.3' });
    client.close();
    const [closed] = await sink.waitFor('connection.closed', mine(result.client));
    expect(closed!.data).toMatchObject({ client: result.client, user: 'ada', code: expect.any(Number), reason: expect.any(String), transport: 'websocket' });
    expect(closed!.data.duration).toBeGreaterThanOrEqual(0);
    await sleep(200);
    expect(sink.of('connection.opened', mine(result.client))).toHaveLength(1);
    expect(sink.of('connection.closed', mine(result.client))).toHaveLength(1);
  });

  it('subscription.created for client and server-side subscriptions; removed with the reason: client, server, disconnect', async () => {
    const { client, result } = await TestClient.connect(t.wsUrl, await t.token('bea', { channels: ['news:front'] }));
    const id = result.client as string;
    await client.ok('subscribe', { channel: 'chat:s1' });
    await client.ok('subscribe', { channel: 'chat:s2' });
    const created = await sink.waitFor('subscription.created', mine(id), 4);
    expect(created.map((e) => [e.data.channel, e.data.serverSide]).sort()).toEqual([
      ['chat:s1', false],
      ['chat:s2', false],
      ['news:front', true],
      ['user:#bea', true],
    ]);
    await client.ok('unsubscribe', { channel: 'chat:s1' });
    const [byClient] = await sink.waitFor('subscription.removed', (d) => d.client === id && d.channel === 'chat:s1');
    expect(byClient!.data).toEqual({ channel: 'chat:s1', client: id, user: 'bea', serverSide: false, reason: 'client' });
    expect((await t.api('POST', `/channels/${encodeURIComponent('chat:s2')}/unsubscribe`, { user: 'bea' })).status).toBe(200);
    const [byServer] = await sink.waitFor('subscription.removed', (d) => d.client === id && d.channel === 'chat:s2');
    expect(byServer!.data.reason).toBe('server');
    client.close();
    const closing = await sink.waitFor('subscription.removed', (d) => d.client === id && d.reason === 'disconnect', 2);
    expect(closing.map((e) => e.data.channel).sort()).toEqual(['news:front', 'user:#bea']);
    await sleep(200);
    expect(sink.of('subscription.removed', mine(id))).toHaveLength(4);
  });

  it('publication.client once per accepted publish, with data, offset and epoch; none for a deduplicated repeat', async () => {
    const { client, result } = await TestClient.connect(t.wsUrl, await t.token('cy', { info: { name: 'Cy' } }));
    await client.ok('subscribe', { channel: 'chat:pub' });
    const r = await client.ok('publish', { channel: 'chat:pub', data: { text: 'hi' }, idempotencyKey: 'k1' });
    await client.ok('publish', { channel: 'chat:pub', data: { text: 'hi' }, idempotencyKey: 'k1' });
    const [pub] = await sink.waitFor('publication.client', mine(result.client));
    expect(pub!.data).toEqual({ channel: 'chat:pub', client: result.client, user: 'cy', data: { text: 'hi' }, offset: r.offset, epoch: r.epoch, info: { name: 'Cy' } });
    await sleep(200);
    expect(sink.of('publication.client', mine(result.client))).toHaveLength(1);
    client.close();
  });
});
