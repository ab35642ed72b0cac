/**
 * presence.join / presence.leave, user.online / user.offline and notification.read, end to end:
 * two real nodes on one memory cluster, each delivering to one loopback receiver. Each transition
 * gives exactly one event across both nodes; a device that reloads within the grace period and
 * online ↔ away give none. (Expiry after kill -9 is test/webhooks-occupancy.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodePair, type NodePair } from '../test-support/node-pair.js';
import { TestClient } from '../test-support/test-client.js';
import type { TestNode } from '../test-support/test-node.js';
import { startWebhookSink, type WebhookSink } from '../test-support/webhook-sink.js';
import type { TidingsOptions } from '../node.js';

const GRACE = 150; // test-node's presence.leaveGrace
const SECRET = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let sink: WebhookSink;
let pair: NodePair;
beforeAll(async () => {
  sink = await startWebhookSink();
  pair = await startNodePair({ webhooks: { endpoints: [{ id: 'sink', url: sink.url, secret: SECRET }], pollInterval: 50 } } as TidingsOptions);
});
afterAll(async () => {
  await pair?.close();
  await sink?.close();
});

let seq = 0;
const fresh = (name: string) => `${name}-${++seq}`;
const connect = async (node: TestNode, user: string) => (await TestClient.connect(node.wsUrl, await node.token(user))).client;
const counts = (user: string, ...types: string[]) => types.map((type) => sink.of(type, (d) => d.user === user).length);

describe('presence and user status webhooks across two nodes', () => {
  it('presence.join once for a user on both nodes, presence.leave once after the last device left and the grace period', async () => {
    const { a, b } = pair;
    const user = fresh('jo');
    const ch = `chat:${fresh('room')}`;
    const [laptop, phone] = await Promise.all([connect(a, user), connect(b, user)]);
    await Promise.all([laptop.ok('subscribe', { channel: ch }), phone.ok('subscribe', { channel: ch })]);
    const [join] = await sink.waitFor('presence.join', (d) => d.channel === ch);
    expect(join!.data).toMatchObject({ channel: ch, user, client: expect.any(String) });
    // One device leaves: nothing; it comes back within the grace period: nothing.
    await laptop.ok('unsubscribe', { channel: ch });
    await sleep(GRACE * 3);
    await laptop.ok('subscribe', { channel: ch });
    await laptop.ok('unsubscribe', { channel: ch });
    await phone.ok('unsubscribe', { channel: ch });
    await sleep(GRACE / 3);
    expect(sink.of('presence.leave', (d) => d.channel === ch)).toHaveLength(0);
    const [leave] = await sink.waitFor('presence.leave', (d) => d.channel === ch);
    expect(leave!.data).toMatchObject({ channel: ch, user, reason: 'left' });
    await sleep(GRACE * 2);
    expect([sink.of('presence.join', (d) => d.channel === ch).length, sink.of('presence.leave', (d) => d.channel === ch).length]).toEqual([1, 1]);
    laptop.close();
    phone.close();
  });

  it('user.online once for devices on both nodes, none for away or a reload, user.offline once after the last one', async () => {
    const { a, b } = pair;
    const user = fresh('kit');
    const first = await connect(a, user);
    const [online] = await sink.waitFor('user.online', (d) => d.user === user);
    expect(online!.data).toEqual({ user, client: expect.any(String), status: 'online' });
    const second = await connect(b, user);
    await first.ok('status', { status: 'away' });
    await second.ok('status', { status: 'away' });
    // A reload of one device, then of the other, on the other node each time: never offline.
    first.ws.terminate();
    await first.closed;
    const first2 = await connect(b, user);
    second.close();
    await sleep(GRACE * 3);
    expect(counts(user, 'user.online', 'user.offline')).toEqual([1, 0]);
    first2.close();
    const [offline] = await sink.waitFor('user.offline', (d) => d.user === user);
    expect(offline!.data).toEqual({ user, reason: 'disconnected', lastSeen: expect.any(Number) });
    await sleep(GRACE * 2);
    expect(counts(user, 'user.online', 'user.offline')).toEqual([1, 1]);
    // Back again: a second online.
    const again = await connect(a, user);
    await sink.waitFor('user.online', (d) => d.user === user, 2);
    again.close();
    await sink.waitFor('user.offline', (d) => d.user === user, 2);
  });

  it('notification.read when notifications were marked read, with the ids and the unread count left', async () => {
    const { a } = pair;
    const user = fresh('lu');
    const sent = await a.api('POST', '/notify', { user, type: 'info', title: 'one' });
    await a.api('POST', '/notify', { user, type: 'info', title: 'two' });
    const id = sent.body.data.notifications[0].id as string;
    expect((await a.api('POST', `/users/${user}/notifications/read`, { ids: [id] })).status).toBe(200);
    const [read] = await sink.waitFor('notification.read', (d) => d.user === user);
    expect(read!.data).toEqual({ user, ids: [id], all: false, unread: 1 });
    // Already read: nothing changed, no event; then all.
    await a.api('POST', `/users/${user}/notifications/read`, { ids: [id] });
    await a.api('POST', `/users/${user}/notifications/read`, { all: true });
    const both = await sink.waitFor('notification.read', (d) => d.user === user, 2);
    expect(both[1]!.data).toMatchObject({ user, all: true, unread: 0 });
    await sleep(200);
    expect(sink.of('notification.read', (d) => d.user === user)).toHaveLength(2);
  });
});
