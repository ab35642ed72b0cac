/**
 * The chat primitives (issue 17, section 2) through the SDK against a real node on 127.0.0.1:
 * - edits, deletes and reactions race with recovery: a client that disconnects (or whose TCP
 *   connection is cut) in the middle of them ends with the final state, each message once, equal
 *   to a client that never left and to one that reads the channel afresh;
 * - replies carry `replyTo`, live and in the log;
 * - read receipts across two devices of one user: the other device's `read` event (without
 *   subscribing), seen-by for the channel's other subscribers, forward only, unread counts, and a
 *   device that was offline reading the receipt it missed;
 * - over WebSocket, SSE and long-polling: the read push (an SSE event name of its own) and live
 *   operations folded by a MessageLog.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { MessageLog, type Message, type ReadPush, type Tidings } from '@tidings/client';
import { startTestNode, TEST_NAMESPACES, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, instrumentedWebSocket, sleep, TRANSPORTS, until } from './support.js';

type Text = { text: string };

let server: TestNode;
const clients = new Clients();

const ROOM = { history: { size: 1000, ttl: '10m' }, recover: true, clientPublish: 'subscribers' as const };

beforeEach(async () => {
  server = await startTestNode({
    namespaces: {
      ...TEST_NAMESPACES,
      room: { ...ROOM, messaging: { replies: true, edits: true, moderators: ['admin'], annotations: true, readReceipts: true, seenBy: true } },
    },
  });
});
afterEach(async () => {
  clients.closeAll();
  await server.close();
});

async function connect(user: string, extra: Parameters<Clients['make']>[1] = {}): Promise<Tidings> {
  const client = clients.make(server.wsUrl, { ...FAST, token: await server.token(user), ...extra });
  await client.connect();
  return client;
}

/** A subscribed log of `channel` on `client`, with its first page read. */
async function openLog(client: Tidings, channel: string): Promise<MessageLog<Text>> {
  const sub = client.subscribe<Text>(channel);
  await sub.ready();
  const log = new MessageLog(sub, { limit: 200 });
  await until(() => !log.loading, `${channel}: first page`);
  return log;
}

/** What a message looks like to the user: content, version, deletion, reactions, reply. */
const view = (messages: readonly Message<Text>[]) =>
  messages.map((m) => ({ offset: m.offset, data: m.data, version: m.version, deleted: m.deleted, annotations: m.annotations, replyTo: m.replyTo }));

const offsetsOnce = (messages: readonly Message<Text>[]) => new Set(messages.map((m) => m.offset)).size === messages.length;

describe('chat primitives through the SDK', () => {
  test('edits/deletes/reactions race with recovery: a client disconnected in the middle gets the final state, no duplicate', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const carol = await connect('carol');
    const aSub = alice.subscribe<Text>('room:race');
    const bSub = bob.subscribe<Text>('room:race');
    await Promise.all([aSub.ready(), bSub.ready()]);
    const m1 = (await aSub.publish({ text: 'one' })).offset!;
    const m2 = (await aSub.publish({ text: 'two' })).offset!;
    const m3 = (await aSub.publish({ text: 'three' })).offset!;

    const bobLog = await openLog(bob, 'room:race');
    const carolLog = await openLog(carol, 'room:race');
    const carolSub = carol.getSubscription<Text>('room:race')!;
    let recovered = 0;
    carolSub.on('publication', (p) => p.recovered && recovered++);

    // Two users at once: alice edits, replies and deletes; bob reacts and takes reactions back.
    const aliceOps = (async () => {
      await aSub.edit(m1, { text: 'one, edited' });
      await aSub.react(m2, '❤️');
      await aSub.edit(m1, { text: 'one, edited twice' });
      await aSub.publish({ text: 'a reply' }, { replyTo: m2 });
      await aSub.delete(m3);
      await aSub.edit(m3, { text: 'too late' }).catch(() => undefined); // nothing changes a deleted message
    })();
    const bobOps = (async () => {
      await bSub.react(m1, '👍');
      await bSub.react(m2, '👍');
      await bSub.unreact(m1, '👍');
      await bSub.react(m1, '🎉');
      await bSub.react(m3, '👀');
    })();
    // Carol leaves once she has seen something of it, and comes back while it goes on.
    await until(() => (carolLog.message(m1)?.version ?? 0) > 0 || carolLog.message(m1)?.annotations !== undefined, 'carol sees the first operation');
    carol.disconnect();
    await sleep(30);
    const reconnected = carol.connect();
    await Promise.all([aliceOps, bobOps, reconnected]);
    const last = (await aSub.publish({ text: 'after' })).offset!;

    // The final state, as a client that reads the channel now sees it (the server's fold).
    const dave = await connect('dave');
    const fresh = await openLog(dave, 'room:race');
    const final = view(fresh.messages);
    expect(final.find((m) => m.offset === m1)).toMatchObject({ data: { text: 'one, edited twice' }, annotations: { reaction: { '🎉': { count: 1, users: ['bob'] } } } });
    expect(final.find((m) => m.offset === m2)).toMatchObject({ data: { text: 'two' }, annotations: { reaction: { '❤️': { users: ['alice'] }, '👍': { users: ['bob'] } } } });
    expect(final.find((m) => m.offset === m3)).toMatchObject({ data: null, deleted: true });
    expect(final.find((m) => m.data?.text === 'a reply')).toMatchObject({ replyTo: m2 });

    await until(() => carolLog.messages.at(-1)?.offset === last && bobLog.messages.at(-1)?.offset === last, 'both logs reach the last message');
    expect(view(carolLog.messages)).toEqual(final);
    expect(view(bobLog.messages)).toEqual(final);
    expect(offsetsOnce(carolLog.messages)).toBe(true);
    expect(carolLog.messages).toHaveLength(5);
    expect(recovered).toBeGreaterThan(0); // carol's return went through recovery
  });

  test('a TCP connection cut twice while two users race operations: every log converges, each message once', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const net = instrumentedWebSocket();
    const carol = await connect('carol', { websocket: net.WebSocket });
    const aSub = alice.subscribe<Text>('room:cut');
    const bSub = bob.subscribe<Text>('room:cut');
    await Promise.all([aSub.ready(), bSub.ready()]);
    const targets: number[] = [];
    for (let i = 0; i < 4; i++) targets.push((await aSub.publish({ text: `m${i}` })).offset!);
    const carolLog = await openLog(carol, 'room:cut');
    const aliceLog = await openLog(alice, 'room:cut');

    const emojis = ['👍', '🎉', '👀'];
    const aliceOps = (async () => {
      for (let round = 0; round < 6; round++) {
        await aSub.edit(targets[round % 4]!, { text: `edit ${round}` });
        if (round === 3) await aSub.delete(targets[3]!);
        await aSub.publish({ text: `new ${round}` }, { replyTo: targets[0]! });
      }
    })();
    const bobOps = (async () => {
      for (let round = 0; round < 6; round++) {
        const emoji = emojis[round % 3]!;
        await bSub.react(targets[round % 3]!, emoji);
        if (round % 2 === 1) await bSub.unreact(targets[(round - 1) % 3]!, emojis[(round - 1) % 3]!);
      }
    })();
    let seen = 0;
    carol.getSubscription('room:cut')!.on('publication', () => seen++);
    let cuts = 0;
    const cutter = (async () => {
      for (const after of [3, 9]) {
        await until(() => seen >= after, `carol saw ${after} publications`);
        const before = net.opened();
        net.cut();
        cuts++;
        await until(() => net.opened() > before && carol.state === 'connected', 'carol is back');
      }
    })();
    await Promise.all([aliceOps, bobOps, cutter]);
    const last = (await aSub.publish({ text: 'the end' })).offset!;

    const dave = await connect('dave');
    const fresh = await openLog(dave, 'room:cut');
    await until(() => carolLog.messages.at(-1)?.offset === last && aliceLog.messages.at(-1)?.offset === last, 'every log reaches the end');
    expect(cuts).toBe(2);
    expect(view(carolLog.messages)).toEqual(view(fresh.messages));
    expect(view(aliceLog.messages)).toEqual(view(fresh.messages));
    expect(offsetsOnce(carolLog.messages)).toBe(true);
    expect(carolLog.messages).toHaveLength(4 + 6 + 1);
    expect(fresh.message(targets[3]!)).toMatchObject({ deleted: true, data: null });
  });

  test('read receipts across two devices: the other device hears it, seen-by for the channel, forward only, unread counts, the offline device catches up', async () => {
    const phone = await connect('alice');
    const laptop = await connect('alice');
    const bob = await connect('bob');
    const bSub = bob.subscribe<Text>('room:receipts');
    await bSub.ready();
    for (let i = 1; i <= 5; i++) await bSub.publish({ text: `b${i}` });

    // The laptop subscribes to nothing: the receipt reaches it through the user's own channel.
    const laptopHeard: ReadPush[] = [];
    laptop.on('read', (push) => laptopHeard.push(push));
    const bobHeard: ReadPush[] = [];
    bSub.on('read', (push) => bobHeard.push(push));
    const phoneSub = phone.subscribe<Text>('room:receipts');
    await phoneSub.ready();
    const phoneSubHeard: ReadPush[] = [];
    phoneSub.on('read', (push) => phoneSubHeard.push(push));

    expect((await laptop.unread(['room:receipts'])).channels['room:receipts']).toMatchObject({ unread: 5, read: 0, offset: 5 });
    expect(await phoneSub.markRead(3)).toEqual({ offset: 3 });
    await until(() => laptopHeard.length === 1 && bobHeard.length === 1 && phoneSubHeard.length === 1, () => `read pushes: laptop ${laptopHeard.length}, bob ${bobHeard.length}, phone ${phoneSubHeard.length}`);
    expect(laptopHeard[0]).toMatchObject({ type: 'read', channel: 'room:receipts', user: 'alice', offset: 3 });
    expect(bobHeard[0]).toMatchObject({ user: 'alice', offset: 3 });
    expect((await laptop.unread(['room:receipts'])).channels['room:receipts']).toMatchObject({ unread: 2, read: 3, offset: 5 });

    // Forward only: an older offset from the other device changes nothing.
    expect(await laptop.markRead('room:receipts', 2)).toEqual({ offset: 3 });
    // Seen-by: bob reads the channel's receipts.
    await bSub.markRead(5);
    const { receipts } = await bSub.readReceipts();
    expect(receipts.map((r) => [r.user, r.offset])).toEqual([['bob', 5], ['alice', 3]]);

    // The laptop goes offline; the phone reads everything; the laptop comes back and knows it.
    laptop.disconnect();
    await phone.markRead('room:receipts', 5);
    await laptop.connect();
    expect((await laptop.unread(['room:receipts'])).channels['room:receipts']).toMatchObject({ unread: 0, read: 5 });
    expect((await laptop.readReceipts('room:receipts')).receipts.find((r) => r.user === 'alice')?.offset).toBe(5);
    // Bob's own messages are not unread for him.
    expect((await bob.unread(['room:receipts'])).channels['room:receipts']).toMatchObject({ unread: 0 });
  });

  test.each(TRANSPORTS)('over %s: the read push reaches another device, and a MessageLog folds operations live', async (transport) => {
    const phone = await connect('alice');
    const other = await connect('alice', { transports: [transport] });
    expect(other.transport).toBe(transport);
    const heard: ReadPush[] = [];
    other.on('read', (push) => heard.push(push));
    const sub = phone.subscribe<Text>('room:transports');
    await sub.ready();
    const { offset } = await sub.publish({ text: 'hi' });
    const log = await openLog(other, 'room:transports');
    await sub.markRead(offset!);
    await until(() => heard.length === 1, 'the read push');
    expect(heard[0]).toMatchObject({ channel: 'room:transports', user: 'alice', offset });
    await sub.edit(offset!, { text: 'hi!' });
    await sub.react(offset!, '👍');
    await until(() => log.message(offset!)?.annotations !== undefined, 'the reaction');
    expect(log.message(offset!)).toMatchObject({ data: { text: 'hi!' }, annotations: { reaction: { '👍': { users: ['alice'] } } } });
  });
});
