/**
 * Every webhook event one node can produce, end to end: a real node (`createTidings`, SQLite
 * outbox in a temp dir) with two endpoints on real receivers on 127.0.0.1, and a real client
 * over WebSocket, the server API for the rest. One endpoint takes every event; the other only
 * `presence.join` of the `chat` namespace. For each event: it arrives exactly once (by
 * `webhook-id`), its signature verifies with the public `verifyWebhook`, its payload has the
 * fields docs/webhooks.md lists, and per channel (else per user) events arrive in the order
 * they happened.
 *
 * `delivery.gap` is not here: one node on the memory engine cannot have one. The memory broker
 * delivers each publication synchronously, in order, to every node subscribed; a subscribed
 * stream never expires (so its epoch cannot change under subscribers); and continuity starts
 * afresh at each engine subscription (`cluster/channels.ts`). A gap needs a lost delivery
 * between nodes (Redis pub/sub, a broker outage); `cluster/delivery-gaps.test.ts` checks its
 * payload.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../packages/server/src/index.js';
import type { TidingsOptions } from '../packages/server/src/node.js';
import { TestClient } from '../packages/server/src/test-support/test-client.js';
import { startTestNode, type TestNode } from '../packages/server/src/test-support/test-node.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from '../packages/server/src/test-support/webhook-receiver.js';
import { WEBHOOK_EVENT_TYPES } from '../packages/server/src/webhook-events.js';
import { generateSecret } from '../packages/server/src/webhooks/sign.js';

const VACATED_DELAY = 300;
const LEAVE_GRACE = 150;
const SECRET_ALL = generateSecret();
const SECRET_CHAT = generateSecret();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Event {
  id: string;
  type: string;
  timestamp: string;
  data: Record<string, any>;
}

/** Verifies every request with the endpoint's secret (throws on the first that fails) and reads it as an event. */
function verified(received: ReceivedWebhook[], secret: string): Event[] {
  return received.map((r) => {
    const { id, payload } = verifyWebhook(secret, r.headers, r.body);
    expect(id).toBe(r.id);
    return { id, type: payload.type, timestamp: payload.timestamp, data: payload.data as Record<string, any> };
  });
}

describe('webhook events of one node, end to end', () => {
  let dir: string;
  let all: WebhookReceiver;
  let chat: WebhookReceiver;
  let node: TestNode;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidings-webhook-events-'));
    all = await startWebhookReceiver();
    chat = await startWebhookReceiver();
    node = await startTestNode({
      store: { path: join(dir, 'tidings.db') },
      presence: { leaveGrace: LEAVE_GRACE },
      namespaces: {
        chat: { history: { size: 100, ttl: '10m' }, clientPublish: 'subscribers', presence: true, joinLeave: true },
        room: { presence: true },
      },
      webhooks: {
        vacatedDelay: VACATED_DELAY,
        pollInterval: 50,
        endpoints: [
          { id: 'all', url: all.url, secret: SECRET_ALL },
          { id: 'chat-joins', url: chat.url, secret: SECRET_CHAT, events: ['presence.join'], namespaces: ['chat'] },
        ],
      },
    } as TidingsOptions);
  });
  afterAll(async () => {
    await node?.close();
    await all?.close();
    await chat?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('each event once, signed, with its documented fields, in order per channel; the filtered endpoint gets only chat joins', async () => {
    const has = (type: string, where: (d: Record<string, any>) => boolean = () => true) => (rx: ReceivedWebhook[]) =>
      rx.some((r) => {
        const body = JSON.parse(r.body) as Event;
        return body.type === type && where(body.data);
      });
    const started = Date.now();
    const info = { name: 'Ana' };
    const { client: ana } = await TestClient.connect(node.wsUrl, await node.token('ana', { info }), { name: 'events-test', version: '1.2.3' });
    await ana.ok('subscribe', { channel: 'chat:general' });
    await ana.ok('subscribe', { channel: 'room:lobby' });
    const published = await ana.ok('publish', { channel: 'chat:general', data: { text: 'hi' } });

    // A server-side subscription, then its removal.
    expect((await node.api('POST', '/users/ana/subscriptions', { channel: 'chat:side' })).status).toBe(200);
    await ana.waitForPush((p) => p.type === 'subscribe' && (p as any).channel === 'chat:side', 5000);
    await all.until(has('subscription.created', (d) => d.channel === 'chat:side'), 5000);
    expect((await node.api('DELETE', '/users/ana/subscriptions/chat%3Aside')).status).toBe(200);

    await ana.ok('unsubscribe', { channel: 'room:lobby' });

    const notified = await node.api('POST', '/notify', { user: 'ana', type: 'mention', title: 'you were mentioned' });
    expect(notified.status).toBe(200);
    const notificationId = notified.body.data.notifications[0].id as string;
    expect((await node.api('POST', '/users/ana/notifications/read', { ids: [notificationId] })).status).toBe(200);

    const test = await node.api('POST', '/webhooks/test', { endpoint: 'all' });
    expect(test.status).toBe(200);

    await all.until(has('channel.vacated', (d) => d.channel === 'room:lobby'), 5000);
    ana.ws.close(4000, 'bye');
    await ana.closed;
    await all.until(has('user.offline'), 5000);
    await all.until(has('channel.vacated', (d) => d.channel === 'chat:general'), 5000);
    await all.until(has('channel.vacated', (d) => d.channel === 'chat:side'), 5000);
    // Quiet time: nothing more (no repeat) arrives.
    await sleep(2 * VACATED_DELAY + 300);

    const events = verified(all.received, SECRET_ALL);
    const finished = Date.now();

    // Exactly once: one request per webhook-id (each answered 204, so none was retried), and
    // the events are exactly those the scenario causes, each once.
    expect(all.received.every((r) => r.status === 204)).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    for (const e of events) expect(e.id).toMatch(/^msg_[A-Za-z0-9_-]{22}$/);
    const key = (e: Event) => `${e.type} ${e.data.channel ?? ''}`.trim();
    const channelEvents = (channel: string, extra: string[]) => ['channel.occupied', 'subscription.created', 'subscription.removed', 'channel.vacated', ...extra].map((t) => `${t} ${channel}`);
    const presence = ['presence.join', 'presence.leave'];
    expect(events.map(key).sort()).toEqual(
      [
        'connection.opened',
        'connection.closed',
        'user.online',
        'user.offline',
        'notification.read',
        'webhook.test',
        // The personal channel, subscribed server-side at connect.
        ...channelEvents('user:#ana', []),
        ...channelEvents('chat:general', [...presence, 'publication.client']),
        ...channelEvents('room:lobby', presence),
        ...channelEvents('chat:side', presence),
      ].sort(),
    );
    // Every type one node can produce (delivery.gap cannot happen here: see the top of the file).
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(WEBHOOK_EVENT_TYPES.filter((t) => t !== 'delivery.gap')));

    // The payloads, as docs/webhooks.md lists them.
    const one = (type: string, channel?: string) => {
      const found = events.filter((e) => e.type === type && (channel === undefined || e.data.channel === channel));
      expect(found, `${type} ${channel ?? ''}`).toHaveLength(1);
      return found[0]!;
    };
    const client = one('connection.opened').data.client as string;
    expect(client).toEqual(expect.any(String));
    const nodeId = one('channel.occupied', 'chat:general').data.node as string;
    expect(nodeId).toEqual(expect.any(String));
    for (const e of events) {
      expect(Number.isNaN(Date.parse(e.timestamp)), e.timestamp).toBe(false);
      expect(Date.parse(e.timestamp)).toBeGreaterThanOrEqual(started - 1000);
      expect(Date.parse(e.timestamp)).toBeLessThanOrEqual(finished);
    }
    const who = { user: 'ana', client };
    expect(one('connection.opened').data).toEqual({ ...who, transport: 'websocket', remoteAddress: '127.0.0.1', name: 'events-test', version: '1.2.3' });
    const closed = one('connection.closed').data;
    expect(closed).toEqual({ ...who, code: 4000, reason: 'bye', duration: expect.any(Number), transport: 'websocket' });
    expect(closed.duration).toBeGreaterThan(0);
    expect(closed.duration).toBeLessThanOrEqual(finished - started);
    expect(one('user.online').data).toEqual({ ...who, status: 'online' });
    const offline = one('user.offline').data;
    expect(offline).toEqual({ user: 'ana', reason: 'disconnected', lastSeen: expect.any(Number) });
    expect(offline.lastSeen).toBeGreaterThanOrEqual(started);
    expect(offline.lastSeen).toBeLessThanOrEqual(finished);
    for (const channel of ['user:#ana', 'chat:general', 'room:lobby', 'chat:side']) {
      expect(one('channel.occupied', channel).data).toEqual({ channel, node: nodeId });
      expect(one('channel.vacated', channel).data).toEqual({ channel, node: nodeId, reason: 'unsubscribed' });
    }
    const sub = (channel: string, serverSide: boolean, reason: string) => {
      expect(one('subscription.created', channel).data).toEqual({ channel, ...who, serverSide });
      expect(one('subscription.removed', channel).data).toEqual({ channel, ...who, serverSide, reason });
    };
    sub('user:#ana', true, 'disconnect');
    sub('chat:general', false, 'disconnect');
    sub('room:lobby', false, 'client');
    sub('chat:side', true, 'server');
    for (const channel of ['chat:general', 'room:lobby', 'chat:side']) {
      expect(one('presence.join', channel).data).toEqual({ channel, ...who, info });
      expect(one('presence.leave', channel).data).toEqual({ channel, ...who, reason: 'left', info });
    }
    expect(one('publication.client').data).toEqual({ channel: 'chat:general', ...who, data: { text: 'hi' }, offset: published.offset, epoch: published.epoch, info });
    expect(one('notification.read').data).toEqual({ user: 'ana', ids: [notificationId], all: false, unread: 0 });
    const testEvent = one('webhook.test');
    expect(testEvent.id).toBe(test.body.data.id);
    expect(testEvent.data).toEqual({ message: expect.any(String) });

    // Order: per channel (else per user) as things happened. Within one key, event times never go back...
    const orderKey = (e: Event) => (e.type === 'webhook.test' ? e.id : (e.data.channel ?? `user:${e.data.user}`));
    const byKey = new Map<string, Event[]>();
    for (const e of events) byKey.set(orderKey(e), [...(byKey.get(orderKey(e)) ?? []), e]);
    for (const [k, list] of byKey) {
      const times = list.map((e) => Date.parse(e.timestamp));
      expect(times, `${k}: ${list.map((e) => e.type).join(', ')}`).toEqual([...times].sort((a, b) => a - b));
    }
    // ...and each cause arrives before its effects.
    const at = (type: string, channel?: string) => events.indexOf(one(type, channel));
    const before = (a: [string, string?], b: [string, string?]) => expect(at(...a), `${a.join(' ')} before ${b.join(' ')}`).toBeLessThan(at(...b));
    for (const channel of ['user:#ana', 'chat:general', 'room:lobby', 'chat:side']) {
      before(['channel.occupied', channel], ['subscription.created', channel]);
      before(['subscription.created', channel], ['subscription.removed', channel]);
      before(['subscription.removed', channel], ['channel.vacated', channel]);
    }
    for (const channel of ['chat:general', 'room:lobby', 'chat:side']) {
      before(['channel.occupied', channel], ['presence.join', channel]);
      before(['presence.join', channel], ['presence.leave', channel]);
      before(['subscription.removed', channel], ['presence.leave', channel]);
    }
    before(['subscription.created', 'chat:general'], ['publication.client', 'chat:general']);
    before(['presence.join', 'chat:general'], ['publication.client', 'chat:general']);
    before(['publication.client', 'chat:general'], ['subscription.removed', 'chat:general']);
    before(['connection.opened'], ['notification.read']);
    before(['notification.read'], ['connection.closed']);
    before(['connection.opened'], ['connection.closed']);
    before(['user.online'], ['user.offline']);
    before(['connection.closed'], ['user.offline']);

    // The filtered endpoint: only presence.join of chat:* (not room:lobby's), signed with its own
    // secret, with the same webhook-id as at the other endpoint.
    const filtered = verified(chat.received, SECRET_CHAT);
    expect(filtered.map((e) => `${e.type} ${e.data.channel}`).sort()).toEqual(['presence.join chat:general', 'presence.join chat:side']);
    for (const e of filtered) {
      const same = one('presence.join', e.data.channel);
      expect(e.id).toBe(same.id);
      expect(e.data).toEqual(same.data);
    }
    expect(() => verifyWebhook(SECRET_ALL, chat.received[0]!.headers, chat.received[0]!.body)).toThrow(/signature/);
  }, 30_000);
});
