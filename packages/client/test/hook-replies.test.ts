/**
 * What the server's hooks send to the client in replies, through the SDK, against a real node
 * with in-process hooks (the proxy hooks of docs/proxy.md run through the same path):
 * - the connect hook's `data` (connect reply `data`) on the `connected` event and `client.connectData`;
 * - the subscribe hook's `info` (subscribe reply `info`) on the subscription's `subscribed` event.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { ConnectedContext, SubscribedContext } from '@tidings/client';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, TRANSPORTS, until } from './support.js';

let server: TestNode;
const clients = new Clients();
/** Connections the connect hook saw, to give each one its own `data`. */
let connects = 0;

beforeEach(async () => {
  connects = 0;
  server = await startTestNode();
  server.node.onConnect((ctx) => {
    connects++;
    if (ctx.user === 'plain') return;
    if (ctx.user === 'nobody') return { data: null };
    return { data: { plan: 'pro', user: ctx.user, connection: connects, flags: ['beta'] } };
  });
  server.node.onSubscribe((ctx) => {
    if (ctx.channel.startsWith('news:')) return;
    return { info: { role: 'editor', channel: ctx.channel } };
  });
});
afterEach(async () => {
  clients.closeAll();
  await server.close();
});

describe.each(TRANSPORTS)('over %s', (transport) => {
  const options = async (user: string) => ({ ...FAST, transports: [transport], token: await server.token(user) });

  test('the connect hook\'s data reaches the connected event and client.connectData, fresh on each connection', async () => {
    const client = clients.make(server.wsUrl, await options('alice'));
    const seen: ConnectedContext[] = [];
    client.on('connected', (ctx) => seen.push(ctx));
    expect(client.connectData).toBeUndefined();
    await client.connect();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.data).toEqual({ plan: 'pro', user: 'alice', connection: 1, flags: ['beta'] });
    expect(client.connectData).toEqual(seen[0]!.data);
    client.disconnect();
    expect(client.connectData).toBeUndefined();
    // The hook runs again for the next connection, and its new answer replaces the old one.
    await client.connect();
    expect(seen).toHaveLength(2);
    expect(seen[1]!.data).toEqual({ plan: 'pro', user: 'alice', connection: 2, flags: ['beta'] });
    expect(client.connectData).toEqual(seen[1]!.data);
  });

  test('no data when the connect hook returns none; null data is kept as null', async () => {
    const plain = clients.make(server.wsUrl, await options('plain'));
    const plainSeen: ConnectedContext[] = [];
    plain.on('connected', (ctx) => plainSeen.push(ctx));
    await plain.connect();
    expect(plainSeen[0]).not.toHaveProperty('data');
    expect(plain.connectData).toBeUndefined();

    const nobody = clients.make(server.wsUrl, await options('nobody'));
    const nobodySeen: ConnectedContext[] = [];
    nobody.on('connected', (ctx) => nobodySeen.push(ctx));
    await nobody.connect();
    expect(nobodySeen[0]).toHaveProperty('data', null);
    expect(nobody.connectData).toBeNull();
  });

  test('the subscribe hook\'s info reaches the subscribed event, again after a resubscribe; none when the hook gives none', async () => {
    const client = clients.make(server.wsUrl, await options('alice'));
    await client.connect();
    const chat = client.subscribe('chat:board');
    const news = client.subscribe('news:team');
    const chatSeen: SubscribedContext[] = [];
    const newsSeen: SubscribedContext[] = [];
    chat.on('subscribed', (ctx) => chatSeen.push(ctx));
    news.on('subscribed', (ctx) => newsSeen.push(ctx));
    await Promise.all([chat.ready(), news.ready()]);
    expect(chatSeen).toHaveLength(1);
    expect(chatSeen[0]).toMatchObject({ channel: 'chat:board', info: { role: 'editor', channel: 'chat:board' } });
    expect(newsSeen).toHaveLength(1);
    expect(newsSeen[0]).not.toHaveProperty('info');
    // A reconnect subscribes again: the hook runs again and its info comes with it.
    client.disconnect();
    await client.connect();
    await until(() => chatSeen.length === 2 && newsSeen.length === 2, () => `resubscribed: chat ${chatSeen.length}, news ${newsSeen.length}`);
    expect(chatSeen[1]).toMatchObject({ channel: 'chat:board', wasRecovering: true, info: { role: 'editor', channel: 'chat:board' } });
    expect(newsSeen[1]).not.toHaveProperty('info');
  });
});
