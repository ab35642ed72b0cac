/**
 * Subscriptions shared between hooks and components, counted by reference: StrictMode's
 * double mount costs one `subscribe`, several components share one subscription, the last
 * unmount unsubscribes. Checked on the wire (commands the client sent) and on the server
 * (subscribers it counts).
 */
import './dom.js';
import { useEffect, useState } from 'react';
import type { Tidings } from '@tidings/client';
import { act, cleanup, render, renderHook, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { TidingsProvider, useChannel, usePresence, useTyping } from '@tidings/react';
import { apiPublish, Clients, providerWrapper, serverSubscribers, sleep, startTestNode, WAIT, type TestNode } from './support.js';

let server: TestNode;
const clients = new Clients(() => server);

beforeEach(async () => {
  server = await startTestNode();
});
afterEach(async () => {
  cleanup();
  clients.closeAll();
  await server.close();
});

describe('StrictMode', () => {
  test('mount → unmount → mount sends one subscribe and no unsubscribe; the real unmount unsubscribes', async () => {
    const { client, wire } = await clients.connected('alice');
    let effects = 0;
    const { result, unmount } = renderHook(
      () => {
        useEffect(() => {
          effects++;
        }, []);
        return useChannel<{ n: number }>('chat:strict', { history: 5 });
      },
      { wrapper: providerWrapper(client), reactStrictMode: true },
    );
    await waitFor(() => expect(result.current.state).toBe('subscribed'), WAIT);
    await waitFor(() => expect(result.current.loading).toBe(false), WAIT);
    // StrictMode did run the effects twice (mount → unmount → mount).
    expect(effects).toBe(2);
    // Anything late would have arrived by now.
    await sleep(100);
    expect(wire.count('subscribe', 'chat:strict')).toBe(1);
    expect(wire.count('unsubscribe', 'chat:strict')).toBe(0);
    // The read in flight during the remount was reused, not sent again.
    expect(wire.count('history', 'chat:strict')).toBe(1);
    expect(await serverSubscribers(server, 'chat:strict')).toBe(1);

    await apiPublish(server, 'chat:strict', { n: 1 });
    await waitFor(() => expect(result.current.messages.map((m) => m.data.n)).toEqual([1]), WAIT);

    unmount();
    await waitFor(async () => expect(await serverSubscribers(server, 'chat:strict')).toBe(0), WAIT);
    expect(wire.count('unsubscribe', 'chat:strict')).toBe(1);
    expect(client.getSubscription('chat:strict')).toBeUndefined();
  });

  test('on a channel that is already subscribed, the remount reuses the history read in flight', async () => {
    const { client, wire } = await clients.connected('alice');
    await apiPublish(server, 'chat:warm', { n: 1 });
    await client.subscribe('chat:warm').ready();
    const { result } = renderHook(() => useChannel<{ n: number }>('chat:warm', { history: 5 }), {
      wrapper: providerWrapper(client),
      reactStrictMode: true,
    });
    await waitFor(() => expect(result.current.loading).toBe(false), WAIT);
    expect(result.current.messages.map((m) => m.data.n)).toEqual([1]);
    await sleep(50);
    expect(wire.count('history', 'chat:warm')).toBe(1);
    expect(wire.count('subscribe', 'chat:warm')).toBe(1);
  });

  test('several hooks on one channel in StrictMode still make one subscription', async () => {
    const { client, wire } = await clients.connected('alice');
    const { result, unmount } = renderHook(
      () => ({ channel: useChannel('chat:all'), presence: usePresence('chat:all'), typing: useTyping('chat:all') }),
      { wrapper: providerWrapper(client), reactStrictMode: true },
    );
    await waitFor(() => expect(result.current.presence.users.map((u) => u.user)).toEqual(['alice']), WAIT);
    expect(result.current.channel.subscription).toBe(result.current.presence.subscription);
    expect(result.current.typing.subscription).toBe(result.current.presence.subscription);
    await sleep(50);
    expect(wire.count('subscribe', 'chat:all')).toBe(1);
    expect(await serverSubscribers(server, 'chat:all')).toBe(1);
    unmount();
    await waitFor(async () => expect(await serverSubscribers(server, 'chat:all')).toBe(0), WAIT);
    expect(wire.count('unsubscribe', 'chat:all')).toBe(1);
  });
});

describe('sharing between components', () => {
  function Feed({ name }: { name: string }) {
    const { messages, state } = useChannel<{ n: number }>('chat:shared');
    return (
      <p data-testid={name} data-state={state}>
        {messages.map((m) => m.data.n).join(',')}
      </p>
    );
  }

  function Page({ client, a, b }: { client: Tidings; a: boolean; b: boolean }) {
    return (
      <TidingsProvider client={client}>
        {a && <Feed name="a" />}
        {b && <Feed name="b" />}
      </TidingsProvider>
    );
  }

  test('two components share one subscription; unmounting one keeps it; unmounting both unsubscribes', async () => {
    const { client, wire } = await clients.connected('alice');
    const { rerender } = render(<Page client={client} a b />, { reactStrictMode: true });
    await waitFor(() => expect(screen.getByTestId('a').dataset.state).toBe('subscribed'), WAIT);
    expect(screen.getByTestId('b').dataset.state).toBe('subscribed');
    await sleep(50);
    expect(wire.count('subscribe', 'chat:shared')).toBe(1);
    expect(await serverSubscribers(server, 'chat:shared')).toBe(1);

    await apiPublish(server, 'chat:shared', { n: 1 });
    await waitFor(() => expect(screen.getByTestId('a').textContent).toBe('1'), WAIT);
    expect(screen.getByTestId('b').textContent).toBe('1');

    rerender(<Page client={client} a={false} b />);
    expect(screen.queryByTestId('a')).toBeNull();
    // Well past the release delay: still subscribed for b.
    await sleep(100);
    expect(wire.count('unsubscribe', 'chat:shared')).toBe(0);
    expect(await serverSubscribers(server, 'chat:shared')).toBe(1);
    await apiPublish(server, 'chat:shared', { n: 2 });
    await waitFor(() => expect(screen.getByTestId('b').textContent).toBe('1,2'), WAIT);

    rerender(<Page client={client} a={false} b={false} />);
    await waitFor(async () => expect(await serverSubscribers(server, 'chat:shared')).toBe(0), WAIT);
    expect(wire.count('unsubscribe', 'chat:shared')).toBe(1);
    expect(wire.count('subscribe', 'chat:shared')).toBe(1);
  });

  test('a component that mounts within releaseDelay of the last unmount reuses the subscription', async () => {
    const { client, wire } = await clients.connected('alice');
    function Switcher() {
      const [which, setWhich] = useState<'a' | 'b' | 'none'>('a');
      return (
        <>
          {which === 'a' && <Feed name="a" />}
          {which === 'b' && <Feed name="b" />}
          <button onClick={() => setWhich('b')}>to b</button>
          <button onClick={() => setWhich('none')}>none</button>
        </>
      );
    }
    render(
      <TidingsProvider client={client} releaseDelay={300}>
        <Switcher />
      </TidingsProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('a').dataset.state).toBe('subscribed'), WAIT);
    act(() => screen.getByText('to b').click());
    expect(screen.getByTestId('b').dataset.state).toBe('subscribed');
    await sleep(350);
    expect(wire.count('subscribe', 'chat:shared')).toBe(1);
    expect(wire.count('unsubscribe', 'chat:shared')).toBe(0);
    act(() => screen.getByText('none').click());
    // Kept for releaseDelay, then released.
    await sleep(100);
    expect(await serverSubscribers(server, 'chat:shared')).toBe(1);
    await waitFor(async () => expect(await serverSubscribers(server, 'chat:shared')).toBe(0), WAIT);
    expect(wire.count('unsubscribe', 'chat:shared')).toBe(1);
  });

  test('a subscription the application made itself is left alone when the hooks unmount', async () => {
    const { client, wire } = await clients.connected('alice');
    const own = client.subscribe('chat:mine');
    await own.ready();
    const { result, unmount } = renderHook(() => useChannel('chat:mine'), { wrapper: providerWrapper(client) });
    expect(result.current.subscription).toBe(own);
    unmount();
    await sleep(50);
    expect(own.state).toBe('subscribed');
    expect(wire.count('unsubscribe', 'chat:mine')).toBe(0);
  });

  test('the personal channel (a server-side subscription) is never unsubscribed by the hooks', async () => {
    const { client, wire } = await clients.connected('alice');
    const { result, unmount } = renderHook(() => useChannel<{ jobId: string }>('user:#alice'), { wrapper: providerWrapper(client) });
    await waitFor(() => expect(result.current.state).toBe('subscribed'), WAIT);
    expect(result.current.subscription?.serverSide).toBe(true);
    await apiPublish(server, 'user:#alice', { jobId: 'j1' });
    await waitFor(() => expect(result.current.messages.map((m) => m.data.jobId)).toEqual(['j1']), WAIT);
    unmount();
    await sleep(50);
    expect(wire.count('subscribe', 'user:#alice')).toBe(0);
    expect(wire.count('unsubscribe', 'user:#alice')).toBe(0);
    expect(client.getSubscription('user:#alice')?.state).toBe('subscribed');
  });

  test('a hook on the personal channel mounted before connecting takes over the server-side subscription', async () => {
    const { client, wire } = await clients.make('alice');
    const { result, unmount } = renderHook(() => useChannel<{ jobId: string }>('user:#alice'), { wrapper: providerWrapper(client), reactStrictMode: true });
    await act(() => client.connect());
    await waitFor(() => expect(result.current.state).toBe('subscribed'), WAIT);
    expect(result.current.subscription?.serverSide).toBe(true);
    await apiPublish(server, 'user:#alice', { jobId: 'j2' });
    await waitFor(() => expect(result.current.messages.map((m) => m.data.jobId)).toEqual(['j2']), WAIT);
    unmount();
    await sleep(50);
    expect(wire.count('subscribe', 'user:#alice')).toBe(0);
    expect(wire.count('unsubscribe', 'user:#alice')).toBe(0);
    expect(client.getSubscription('user:#alice')?.state).toBe('subscribed');
  });

  test('hooks mounted before the client connects share the subscription made on connect', async () => {
    const { client, wire } = await clients.make('alice');
    const { result } = renderHook(() => ({ a: useChannel('chat:early'), b: useChannel('chat:early') }), {
      wrapper: providerWrapper(client),
      reactStrictMode: true,
    });
    await sleep(20);
    expect(result.current.a.state).toBe('subscribing');
    await act(() => client.connect());
    await waitFor(() => expect(result.current.b.state).toBe('subscribed'), WAIT);
    expect(result.current.a.state).toBe('subscribed');
    expect(wire.count('subscribe', 'chat:early')).toBe(1);
  });
});

describe('releaseDelay', () => {
  test('a delay beyond what setTimeout takes (2^31 − 1 ms) is clamped, not fired at once', async () => {
    const { client, wire } = await clients.connected('alice');
    const { result, unmount } = renderHook(() => useChannel('chat:long-delay'), { wrapper: providerWrapper(client, { releaseDelay: 40 * 24 * 3600 * 1000 }) });
    await waitFor(() => expect(result.current.state).toBe('subscribed'), WAIT);
    unmount();
    await sleep(100);
    expect(wire.count('unsubscribe', 'chat:long-delay')).toBe(0);
    expect(client.getSubscription('chat:long-delay')?.state).toBe('subscribed');
  });
});
