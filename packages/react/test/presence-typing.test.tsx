/**
 * `usePresence` and `useTyping` against a real Tidings node, with a second real client
 * joining, changing its state and status, typing, stopping and leaving.
 */
import './dom.js';
import { useEffect } from 'react';
import { act, cleanup, render, renderHook, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { TidingsProvider, usePresence, useTyping } from '@tidings/react';
import { Clients, providerWrapper, sleep, startTestNode, WAIT, type TestNode } from './support.js';

let server: TestNode;
const clients = new Clients(() => server);

beforeEach(async () => {
  // leaveGrace 150 ms and typing timeout 400 ms (see test-node.ts).
  server = await startTestNode();
});
afterEach(async () => {
  cleanup();
  clients.closeAll();
  await server.close();
});

describe('usePresence', () => {
  test('shows a second client joining, setting state, going away, and leaving', async () => {
    const { client: alice } = await clients.connected('alice');
    const { result } = renderHook(() => usePresence('chat:room'), { wrapper: providerWrapper(alice) });
    expect(result.current.users).toEqual([]);
    await waitFor(() => expect(result.current.users.map((u) => u.user)).toEqual(['alice']), WAIT);
    expect(result.current.state).toBe('subscribed');

    const { client: bob } = await clients.connected('bob');
    const bobSub = bob.subscribe('chat:room');
    await bobSub.ready();
    await waitFor(() => expect(result.current.users.map((u) => u.user).sort()).toEqual(['alice', 'bob']), WAIT);
    expect(result.current.users.find((u) => u.user === 'bob')).toMatchObject({ status: 'online', info: { name: 'BOB' } });

    await bobSub.setState({ viewing: 'comments' });
    await waitFor(() => expect(result.current.users.find((u) => u.user === 'bob')?.state).toEqual({ viewing: 'comments' }), WAIT);

    await bob.setStatus('away');
    await waitFor(() => expect(result.current.users.find((u) => u.user === 'bob')?.status).toBe('away'), WAIT);

    bobSub.unsubscribe();
    // After the server's leave grace (150 ms).
    await waitFor(() => expect(result.current.users.map((u) => u.user)).toEqual(['alice']), WAIT);
  });

  test('setState from the hook is seen by another client; the users array keeps its identity between changes', async () => {
    const { client: alice } = await clients.connected('alice');
    const { result, rerender } = renderHook(() => usePresence('chat:viewing'), { wrapper: providerWrapper(alice) });
    await waitFor(() => expect(result.current.state).toBe('subscribed'), WAIT);
    const { client: bob } = await clients.connected('bob');
    const bobSub = bob.subscribe('chat:viewing');
    await bobSub.ready();
    await waitFor(() => expect(result.current.users).toHaveLength(2), WAIT);
    const users = result.current.users;
    rerender();
    expect(result.current.users).toBe(users);

    await act(() => result.current.setState({ viewing: 'task-7' }));
    await waitFor(() => expect(bobSub.presenceUsers().find((u) => u.user === 'alice')?.state).toEqual({ viewing: 'task-7' }), WAIT);
    // Alice's own hook sees it too, as the server echoes the change.
    await waitFor(() => expect(result.current.users.find((u) => u.user === 'alice')?.state).toEqual({ viewing: 'task-7' }), WAIT);
  });

  test('a state set while offline is applied once subscribed', async () => {
    const { client: alice } = await clients.make('alice');
    const { result } = renderHook(() => usePresence('chat:offline'), { wrapper: providerWrapper(alice) });
    await act(() => result.current.setState({ viewing: 'offline' }));
    await act(() => alice.connect());
    const { client: bob } = await clients.connected('bob');
    const bobSub = bob.subscribe('chat:offline');
    await bobSub.ready();
    await waitFor(() => expect(bobSub.presenceUsers().find((u) => u.user === 'alice')?.state).toEqual({ viewing: 'offline' }), WAIT);
  });

  test('a child that sets the state in its effect (before the parent subscribed) is not lost', async () => {
    const { client: alice } = await clients.connected('alice');
    // Effects run child first: the child calls setState before the parent's hook has started.
    function Child({ setState }: { setState: (state: unknown) => Promise<void> }) {
      useEffect(() => {
        void setState({ viewing: 'child' });
      }, [setState]);
      return null;
    }
    function Parent() {
      const { setState } = usePresence('chat:child');
      return <Child setState={setState} />;
    }
    render(
      <TidingsProvider client={alice}>
        <Parent />
      </TidingsProvider>,
    );
    const { client: bob } = await clients.connected('bob');
    const bobSub = bob.subscribe('chat:child');
    await bobSub.ready();
    await waitFor(() => expect(bobSub.presenceUsers().find((u) => u.user === 'alice')?.state).toEqual({ viewing: 'child' }), WAIT);
  });
});

describe('useTyping', () => {
  test('shows a second client typing, then clears it when it stops and when the server times it out', async () => {
    const { client: alice } = await clients.connected('alice');
    const { result } = renderHook(() => useTyping('chat:typing'), { wrapper: providerWrapper(alice) });
    await waitFor(() => expect(result.current.state).toBe('subscribed'), WAIT);
    expect(result.current.typing).toEqual([]);

    const { client: bob } = await clients.connected('bob');
    const bobSub = bob.subscribe('chat:typing');
    await bobSub.ready();

    bobSub.setTyping(true);
    await waitFor(() => expect(result.current.typing.map((t) => t.user)).toEqual(['bob']), WAIT);
    bobSub.setTyping(false);
    await waitFor(() => expect(result.current.typing).toEqual([]), WAIT);

    // Typing again and going quiet: the server's typing timeout (400 ms) ends it, well before
    // bob's own client would send `typing: false` (3 s idle).
    bobSub.setTyping(true);
    await waitFor(() => expect(result.current.typing.map((t) => t.user)).toEqual(['bob']), WAIT);
    const started = Date.now();
    await waitFor(() => expect(result.current.typing).toEqual([]), { ...WAIT, timeout: 2_500 });
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  test('setTyping from the hook is seen by another client, and unmounting stops it at once', async () => {
    const { client: alice } = await clients.connected('alice');
    const { client: bob } = await clients.connected('bob');
    const bobSub = bob.subscribe('chat:composer');
    await bobSub.ready();
    const { result, unmount } = renderHook(() => useTyping('chat:composer'), { wrapper: providerWrapper(alice, { releaseDelay: 5_000 }) });
    await waitFor(() => expect(result.current.state).toBe('subscribed'), WAIT);
    act(() => result.current.setTyping());
    await waitFor(() => expect(bobSub.typingUsers().map((t) => t.user)).toEqual(['alice']), WAIT);
    // Only others are listed: alice does not see herself typing.
    await sleep(50);
    expect(result.current.typing).toEqual([]);
    // The subscription stays (releaseDelay 5 s), but the composer is gone: typing stops now.
    unmount();
    await waitFor(() => expect(bobSub.typingUsers()).toEqual([]), { ...WAIT, timeout: 300 });
    await sleep(10);
    expect(alice.getSubscription('chat:composer')?.state).toBe('subscribed');
  });
});
