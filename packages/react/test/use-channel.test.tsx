/**
 * `useChannel` against a real Tidings node: live publications from the server API, `keep`,
 * `history` merged without duplicates, the refetch after a gap, `onPublication`, `publish`,
 * `enabled`, and errors.
 */
import './dom.js';
import { useState } from 'react';
import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { PublicationContext } from '@tidings/client';
import { useChannel } from '@tidings/react';
import { TEST_NAMESPACES } from '../../server/src/test-support/test-node.js';
import { apiPublish, Clients, providerWrapper, serverSubscribers, sleep, startTestNode, WAIT, type TestNode } from './support.js';

type Msg = { n: number };

let server: TestNode;
const clients = new Clients(() => server);

beforeEach(async () => {
  // `hist`: history without recovery, so a lost publication is reported as a gap.
  server = await startTestNode({ namespaces: { ...TEST_NAMESPACES, hist: { history: { size: 100, ttl: '10m' } } } });
});
afterEach(async () => {
  cleanup();
  clients.closeAll();
  await server.close();
});

const offsets = (messages: readonly PublicationContext<Msg>[]) => messages.map((m) => m.offset);
const numbers = (messages: readonly PublicationContext<Msg>[]) => messages.map((m) => m.data.n);

describe('useChannel', () => {
  test('subscribes on mount and shows publications from the server API, oldest first', async () => {
    const { client } = await clients.connected('alice');
    const { result } = renderHook(() => useChannel<Msg>('news:live'), { wrapper: providerWrapper(client) });
    // Before the subscribe reply: subscribing, nothing to show, no history requested.
    expect(result.current).toMatchObject({ state: 'subscribing', messages: [], loading: false, error: null });
    await waitFor(() => expect(result.current.state).toBe('subscribed'), WAIT);
    expect(result.current.subscription?.channel).toBe('news:live');
    for (const n of [1, 2, 3]) await apiPublish(server, 'news:live', { n });
    await waitFor(() => expect(numbers(result.current.messages)).toEqual([1, 2, 3]), WAIT);
    expect(offsets(result.current.messages)).toEqual([1, 2, 3]);
    expect(result.current.messages[0]).toMatchObject({ channel: 'news:live', data: { n: 1 } });
  });

  test('keeps only the newest `keep` publications', async () => {
    const { client } = await clients.connected('alice');
    const { result } = renderHook(() => useChannel<Msg>('news:keep', { keep: 2 }), { wrapper: providerWrapper(client) });
    await waitFor(() => expect(result.current.state).toBe('subscribed'), WAIT);
    for (const n of [1, 2, 3, 4, 5]) await apiPublish(server, 'news:keep', { n });
    await waitFor(() => expect(numbers(result.current.messages)).toEqual([4, 5]), WAIT);
    await sleep(50);
    expect(result.current.messages).toHaveLength(2);
  });

  test('`history: n` loads the n newest publications once subscribed, in chronological order', async () => {
    for (const n of [1, 2, 3, 4, 5]) await apiPublish(server, 'news:hist', { n });
    const { client, wire } = await clients.connected('alice');
    const { result } = renderHook(() => useChannel<Msg>('news:hist', { history: 3 }), { wrapper: providerWrapper(client) });
    expect(result.current.loading).toBe(true);
    await waitFor(() => expect(result.current.loading).toBe(false), WAIT);
    expect(numbers(result.current.messages)).toEqual([3, 4, 5]);
    expect(offsets(result.current.messages)).toEqual([3, 4, 5]);
    // Newest first from the server, limited to n.
    expect(wire.sent.filter((f) => f.type === 'history')).toMatchObject([{ channel: 'news:hist', limit: 3, reverse: true }]);
    // Live ones go on after the history.
    await apiPublish(server, 'news:hist', { n: 6 });
    await waitFor(() => expect(numbers(result.current.messages)).toEqual([3, 4, 5, 6]), WAIT);
  });

  test('history and live publications that overlap are merged without duplicates, ordered by offset', async () => {
    for (const n of [1, 2, 3, 4, 5]) await apiPublish(server, 'news:race', { n });
    const { client, wire } = await clients.connected('alice');
    // Hold the history command back: live publications arrive first, and the history read
    // that follows contains them too.
    wire.hold = (frame) => frame.type === 'history';
    const { result } = renderHook(() => useChannel<Msg>('news:race', { history: 4 }), { wrapper: providerWrapper(client) });
    await waitFor(() => expect(wire.held).toHaveLength(1), WAIT);
    await apiPublish(server, 'news:race', { n: 6 });
    await apiPublish(server, 'news:race', { n: 7 });
    await waitFor(() => expect(numbers(result.current.messages)).toEqual([6, 7]), WAIT);
    expect(result.current.loading).toBe(true);
    wire.hold = null;
    wire.flush();
    await waitFor(() => expect(result.current.loading).toBe(false), WAIT);
    // The read returned 7, 6, 5, 4: 6 and 7 were already listed.
    expect(offsets(result.current.messages)).toEqual([4, 5, 6, 7]);
    expect(numbers(result.current.messages)).toEqual([4, 5, 6, 7]);
  });

  test('`keep` also bounds what history brings', async () => {
    for (const n of [1, 2, 3, 4, 5]) await apiPublish(server, 'news:bounded', { n });
    const { client, wire } = await clients.connected('alice');
    const { result } = renderHook(() => useChannel<Msg>('news:bounded', { history: 10, keep: 2 }), { wrapper: providerWrapper(client) });
    await waitFor(() => expect(result.current.loading).toBe(false), WAIT);
    expect(numbers(result.current.messages)).toEqual([4, 5]);
    // No point reading more than is kept.
    expect(wire.sent.find((f) => f.type === 'history')).toMatchObject({ limit: 2 });
  });

  test('a gap (a publication lost and not recoverable) reads history again and fills the hole', async () => {
    const { client, wire } = await clients.connected('alice');
    const { result } = renderHook(() => useChannel<Msg>('hist:gap', { history: 10 }), { wrapper: providerWrapper(client) });
    await waitFor(() => expect(result.current.loading).toBe(false), WAIT);
    expect(result.current.messages).toEqual([]);
    await apiPublish(server, 'hist:gap', { n: 1 });
    await waitFor(() => expect(numbers(result.current.messages)).toEqual([1]), WAIT);
    // Lose offset 2 on the way in.
    wire.drop = (frame) => frame.type === 'publication' && frame.offset === 2;
    await apiPublish(server, 'hist:gap', { n: 2 });
    await apiPublish(server, 'hist:gap', { n: 3 });
    await waitFor(() => expect(numbers(result.current.messages)).toEqual([1, 2, 3]), WAIT);
    expect(wire.count('history', 'hist:gap')).toBe(2);
    expect(result.current.loading).toBe(false);
  });

  test('calls the latest onPublication for each live publication without resubscribing', async () => {
    for (const n of [1, 2]) await apiPublish(server, 'news:cb', { n });
    const { client, wire } = await clients.connected('alice');
    const first: number[] = [];
    const second: number[] = [];
    const { result, rerender } = renderHook(
      ({ sink }: { sink: number[] }) => useChannel<Msg>('news:cb', { history: 5, onPublication: (p) => sink.push(p.data.n) }),
      { wrapper: providerWrapper(client), initialProps: { sink: first } },
    );
    await waitFor(() => expect(result.current.loading).toBe(false), WAIT);
    await apiPublish(server, 'news:cb', { n: 3 });
    await waitFor(() => expect(first).toEqual([3]), WAIT);
    rerender({ sink: second });
    await apiPublish(server, 'news:cb', { n: 4 });
    await waitFor(() => expect(second).toEqual([4]), WAIT);
    // History reads are not "live": 1 and 2 reached no callback.
    expect(first).toEqual([3]);
    expect(numbers(result.current.messages)).toEqual([1, 2, 3, 4]);
    expect(wire.count('subscribe', 'news:cb')).toBe(1);
    expect(wire.count('unsubscribe', 'news:cb')).toBe(0);
  });

  test('publish sends to the channel and the publication comes back to the hook', async () => {
    const { client } = await clients.connected('alice');
    const { result } = renderHook(() => useChannel<Msg>('chat:pub'), { wrapper: providerWrapper(client) });
    await waitFor(() => expect(result.current.state).toBe('subscribed'), WAIT);
    const publish = result.current.publish;
    const ack = await act(() => publish({ n: 42 }));
    expect(ack.offset).toBe(1);
    await waitFor(() => expect(result.current.messages).toHaveLength(1), WAIT);
    expect(result.current.messages[0]).toMatchObject({ data: { n: 42 }, offset: 1, info: { user: 'alice' } });
    // Stable across renders.
    expect(result.current.publish).toBe(publish);
  });

  test('`enabled: false` does not subscribe; turning it on does, and a channel change moves the subscription', async () => {
    const { client, wire } = await clients.connected('alice');
    const { result, rerender } = renderHook(({ channel, enabled }: { channel: string; enabled: boolean }) => useChannel<Msg>(channel, { enabled }), {
      wrapper: providerWrapper(client),
      initialProps: { channel: 'news:a', enabled: false },
    });
    await sleep(50);
    expect(result.current.state).toBe('unsubscribed');
    expect(wire.count('subscribe')).toBe(0);
    rerender({ channel: 'news:a', enabled: true });
    await waitFor(() => expect(result.current.state).toBe('subscribed'), WAIT);
    expect(await serverSubscribers(server, 'news:a')).toBe(1);
    rerender({ channel: 'news:b', enabled: true });
    await waitFor(() => expect(result.current.subscription?.channel).toBe('news:b'), WAIT);
    await waitFor(() => expect(result.current.state).toBe('subscribed'), WAIT);
    await waitFor(async () => expect(await serverSubscribers(server, 'news:a')).toBe(0), WAIT);
    expect(await serverSubscribers(server, 'news:b')).toBe(1);
    expect(client.getSubscription('news:a')).toBeUndefined();
  });

  test('a refused subscribe is reported in `error` and `state`', async () => {
    const { client } = await clients.connected('alice');
    // `staff:` needs the staff role.
    const { result } = renderHook(() => useChannel('staff:ops'), { wrapper: providerWrapper(client) });
    await waitFor(() => expect(result.current.state).toBe('unsubscribed'), WAIT);
    expect(result.current.error?.code).toBe('permission_denied');
  });

  test('a subscription the server ends is reported; the next mount subscribes afresh', async () => {
    const { client, wire } = await clients.connected('alice');
    const first = renderHook(() => useChannel('news:ended'), { wrapper: providerWrapper(client) });
    await waitFor(() => expect(first.result.current.state).toBe('subscribed'), WAIT);
    const res = await server.api('POST', `/channels/${encodeURIComponent('news:ended')}/unsubscribe`, { user: 'alice' });
    expect(res.body).toEqual({ data: { unsubscribed: 1 } });
    await waitFor(() => expect(first.result.current.state).toBe('unsubscribed'), WAIT);
    expect(first.result.current.error).toMatchObject({ code: 'unsubscribed' });
    expect(first.result.current.error?.message).toMatch(/2000/);
    first.unmount();
    await sleep(20);
    const second = renderHook(() => useChannel('news:ended'), { wrapper: providerWrapper(client) });
    await waitFor(() => expect(second.result.current.state).toBe('subscribed'), WAIT);
    expect(second.result.current.error).toBeNull();
    expect(wire.count('subscribe', 'news:ended')).toBe(2);
    expect(await serverSubscribers(server, 'news:ended')).toBe(1);
  });

  test('history on a namespace without history reports not_available and stops loading', async () => {
    const { client } = await clients.connected('alice');
    const { result } = renderHook(() => useChannel('live:nohist', { history: 5 }), { wrapper: providerWrapper(client) });
    await waitFor(() => expect(result.current.loading).toBe(false), WAIT);
    expect(result.current.state).toBe('subscribed');
    expect(result.current.error?.code).toBe('not_available');
  });

  test('invalid keep or history throw a TypeError', async () => {
    const { client } = await clients.connected('alice');
    expect(() => renderHook(() => useChannel('news:x', { keep: 0 }), { wrapper: providerWrapper(client) })).toThrow(/keep must be an integer ≥ 1/);
    expect(() => renderHook(() => useChannel('news:x', { history: -1 }), { wrapper: providerWrapper(client) })).toThrow(/history must be an integer ≥ 0/);
  });

  test('the messages array keeps its identity while nothing changes', async () => {
    const { client } = await clients.connected('alice');
    const { result } = renderHook(
      () => {
        const [tick, setTick] = useState(0);
        return { channel: useChannel<Msg>('news:same'), tick, setTick };
      },
      { wrapper: providerWrapper(client) },
    );
    await waitFor(() => expect(result.current.channel.state).toBe('subscribed'), WAIT);
    await apiPublish(server, 'news:same', { n: 1 });
    await waitFor(() => expect(result.current.channel.messages).toHaveLength(1), WAIT);
    const before = result.current.channel;
    act(() => result.current.setTick(1));
    expect(result.current.tick).toBe(1);
    expect(result.current.channel).toBe(before);
  });
});
