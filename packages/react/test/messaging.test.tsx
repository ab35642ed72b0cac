/**
 * The chat hooks (issue 17, section 2) against a real Tidings node: `useMessages` with edits,
 * deletes, reactions and replies folded in, live and after a reconnect in the middle of them;
 * `useReadReceipts` (seen-by, markRead) and `useUnreadCount` across two devices of one user.
 */
import './dom.js';
import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { useMessages, useReadReceipts, useUnreadCount } from '@tidings/react';
import { TEST_NAMESPACES } from '../../server/src/test-support/test-node.js';
import { Clients, providerWrapper, startTestNode, WAIT, type TestNode } from './support.js';

type Text = { text: string };

let server: TestNode;
const clients = new Clients(() => server);

beforeEach(async () => {
  server = await startTestNode({
    namespaces: {
      ...TEST_NAMESPACES,
      room: {
        history: { size: 1000, ttl: '10m' },
        recover: true,
        clientPublish: 'subscribers',
        messaging: { replies: true, edits: true, annotations: true, readReceipts: true, seenBy: true },
      },
    },
  });
});
afterEach(async () => {
  cleanup();
  clients.closeAll();
  await server.close();
});

describe('useMessages', () => {
  test('shows history folded (one read for two components, StrictMode), then edits, reactions, replies and deletes made through its actions, live', async () => {
    const { client: alice } = await clients.connected('alice');
    const sub = alice.subscribe<Text>('room:a');
    await sub.ready();
    const first = (await sub.publish({ text: 'hi' })).offset!;
    await sub.edit(first, { text: 'hello' });
    await sub.react(first, '👍');

    const { client: bob, wire } = await clients.connected('bob');
    // Two components on the channel, in StrictMode: one subscription, one MessageLog, one history read.
    const { result } = renderHook(() => [useMessages<Text>('room:a', { limit: 20 }), useMessages<Text>('room:a', { limit: 20 })] as const, { wrapper: providerWrapper(bob), reactStrictMode: true });
    expect(result.current[0].loading).toBe(true);
    await waitFor(() => expect(result.current[0].loading).toBe(false), WAIT);
    expect(result.current[1].messages).toBe(result.current[0].messages);
    expect(wire.count('subscribe', 'room:a')).toBe(1);
    expect(wire.count('history', 'room:a')).toBe(1);
    expect(result.current[0].messages).toHaveLength(1);
    expect(result.current[0].messages[0]).toMatchObject({ offset: first, data: { text: 'hello' }, version: 2, annotations: { reaction: { '👍': { count: 1, users: ['alice'] } } } });

    let reply = 0;
    await act(async () => {
      reply = (await result.current[0].send({ text: 'a reply' }, { replyTo: first })).offset!;
      await result.current[0].react(first, '🎉');
      await result.current[0].unreact(first, '🎉');
      await result.current[0].react(first, '👍');
    });
    await waitFor(() => expect(result.current[0].messages[0]?.annotations).toEqual({ reaction: { '👍': { count: 2, users: ['alice', 'bob'] } } }), WAIT);
    expect(result.current[0].messages[1]).toMatchObject({ offset: reply, data: { text: 'a reply' }, replyTo: first, info: { user: 'bob' } });

    await act(async () => {
      await result.current[0].edit(reply, { text: 'a better reply' });
      await sub.delete(first);
    });
    await waitFor(() => expect(result.current[0].messages.map((m) => m.data)).toEqual([null, { text: 'a better reply' }]), WAIT);
    expect(result.current[0].messages[0]).toMatchObject({ deleted: true });
    expect(result.current[0].messages[0]!.annotations).toBeUndefined();
    // Another user's message: bob is neither its author nor a moderator.
    await expect(result.current[0].edit(first, { text: 'mine now' })).rejects.toMatchObject({ code: 'permission_denied' });
  });

  test('a reconnect in the middle of operations ends at the final state, each message once', async () => {
    const { client: alice } = await clients.connected('alice');
    const sub = alice.subscribe<Text>('room:b');
    await sub.ready();
    const offsets: number[] = [];
    for (const text of ['one', 'two', 'three']) offsets.push((await sub.publish({ text })).offset!);

    const { client: bob } = await clients.connected('bob');
    const { result } = renderHook(() => useMessages<Text>('room:b'), { wrapper: providerWrapper(bob) });
    await waitFor(() => expect(result.current.messages).toHaveLength(3), WAIT);
    bob.disconnect();
    await sub.edit(offsets[0]!, { text: 'one!' });
    await sub.react(offsets[1]!, '👀');
    await sub.delete(offsets[2]!);
    await sub.publish({ text: 'four' }, { replyTo: offsets[1]! });
    await act(() => bob.connect());
    await waitFor(() => expect(result.current.messages).toHaveLength(4), WAIT);
    expect(result.current.messages.map((m) => [m.offset, m.data, m.deleted ?? false])).toEqual([
      [offsets[0], { text: 'one!' }, false],
      [offsets[1], { text: 'two' }, false],
      [offsets[2], null, true],
      [expect.any(Number), { text: 'four' }, false],
    ]);
    expect(result.current.messages[1]!.annotations).toEqual({ reaction: { '👀': { count: 1, users: ['alice'] } } });
    expect(result.current.messages[3]!.replyTo).toBe(offsets[1]);
  });
});

describe('useReadReceipts and useUnreadCount', () => {
  test('two devices of one user: unread counts go up with others\' messages and down when either device marks read; others see the receipt', async () => {
    const { client: phone } = await clients.connected('alice');
    const { client: laptop } = await clients.connected('alice');
    const { client: bob } = await clients.connected('bob');
    const bobSub = bob.subscribe<Text>('room:c');
    await bobSub.ready();
    await bobSub.publish({ text: 'b1' });

    const onPhone = renderHook(() => ({ receipts: useReadReceipts('room:c'), unread: useUnreadCount('room:c') }), { wrapper: providerWrapper(phone) });
    const onLaptop = renderHook(() => useUnreadCount('room:c'), { wrapper: providerWrapper(laptop) });
    const onBob = renderHook(() => useReadReceipts('room:c'), { wrapper: providerWrapper(bob) });
    await waitFor(() => expect(onPhone.result.current.unread).toBe(1), WAIT);
    await waitFor(() => expect(onLaptop.result.current).toBe(1), WAIT);
    await waitFor(() => expect(onBob.result.current.loading).toBe(false), WAIT);
    expect(onBob.result.current.receipts).toEqual([]);

    const two = (await bobSub.publish({ text: 'b2' })).offset!;
    const three = (await bobSub.publish({ text: 'b3' })).offset!;
    await waitFor(() => expect(onLaptop.result.current).toBe(3), WAIT);
    await waitFor(() => expect(onPhone.result.current.unread).toBe(3), WAIT);
    // Alice's own messages are never unread for her.
    await phone.publish('room:c', { text: 'a1' });

    await act(async () => {
      await onPhone.result.current.receipts.markRead(two);
    });
    await waitFor(() => expect(onLaptop.result.current).toBe(1), WAIT);
    await waitFor(() => expect(onBob.result.current.receipts).toMatchObject([{ user: 'alice', offset: two }]), WAIT);
    expect(onPhone.result.current.unread).toBe(1);

    await act(async () => {
      await laptop.markRead('room:c', three + 1);
    });
    await waitFor(() => expect(onPhone.result.current.unread).toBe(0), WAIT);
    await waitFor(() => expect(onLaptop.result.current).toBe(0), WAIT);
    await waitFor(() => expect(onBob.result.current.receipts).toMatchObject([{ user: 'alice', offset: three + 1 }]), WAIT);
    await waitFor(() => expect(onPhone.result.current.receipts.receipts).toMatchObject([{ user: 'alice', offset: three + 1 }]), WAIT);
  });
});
