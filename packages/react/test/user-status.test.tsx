/**
 * `useUserStatus` against a real Tidings node: statuses and their changes, and follows
 * counted across components (two components following bob, one unmounts: still followed).
 */
import './dom.js';
import { cleanup, render, renderHook, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Tidings } from '@tidings/client';
import { TidingsProvider, useUserStatus } from '@tidings/react';
import { Clients, providerWrapper, sleep, startTestNode, WAIT, type TestNode } from './support.js';

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

function Badge({ name, users }: { name: string; users: string[] }) {
  const statuses = useUserStatus(users);
  return <p data-testid={name}>{users.map((u) => `${u}:${statuses[u]?.status ?? '?'}`).join(' ')}</p>;
}

function Page({ client, a, b }: { client: Tidings; a: boolean; b: boolean }) {
  return (
    <TidingsProvider client={client}>
      {a && <Badge name="a" users={['bob']} />}
      {b && <Badge name="b" users={['bob', 'carol']} />}
    </TidingsProvider>
  );
}

describe('useUserStatus', () => {
  test('reports statuses and follows their changes: offline → online → away → offline', async () => {
    const { client: alice } = await clients.connected('alice');
    const { result } = renderHook(() => useUserStatus(['bob']), { wrapper: providerWrapper(alice) });
    await waitFor(() => expect(result.current.bob?.status).toBe('offline'), WAIT);
    const { client: bob } = await clients.connected('bob');
    await waitFor(() => expect(result.current.bob?.status).toBe('online'), WAIT);
    await bob.setStatus('away');
    await waitFor(() => expect(result.current.bob?.status).toBe('away'), WAIT);
    bob.disconnect();
    // After the server's leave grace (150 ms).
    await waitFor(() => expect(result.current.bob?.status).toBe('offline'), WAIT);
    expect(result.current.bob?.lastSeen).toEqual(expect.any(Number));
  });

  test('users named like Object.prototype members each get their own entry, __proto__ included', async () => {
    const { client: alice } = await clients.connected('alice');
    await clients.connected('__proto__');
    const { result } = renderHook(() => useUserStatus(['__proto__', 'constructor']), { wrapper: providerWrapper(alice) });
    await waitFor(() => expect(Object.getOwnPropertyDescriptor(result.current, '__proto__')?.value?.status).toBe('online'), WAIT);
    expect(Object.keys(result.current).sort()).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(result.current, 'constructor')?.value?.status).toBe('offline');
  });

  test('follows are counted across components: one unmounting keeps bob followed; the last one unfollows', async () => {
    const { client: alice, wire } = await clients.connected('alice');
    await clients.connected('bob');
    // StrictMode at the root (React double-invokes effects only there).
    const { rerender } = render(<Page client={alice} a b />, { reactStrictMode: true });
    await waitFor(() => expect(screen.getByTestId('a').textContent).toBe('bob:online'), WAIT);
    await waitFor(() => expect(screen.getByTestId('b').textContent).toBe('bob:online carol:offline'), WAIT);
    await sleep(50);
    // Each user followed once, StrictMode's remounts included.
    const follows = wire.sent.filter((f) => f.type === 'follow');
    expect(follows.flatMap((f) => f.users as string[]).sort()).toEqual(['bob', 'carol']);
    expect(wire.count('unfollow')).toBe(0);

    // b (bob and carol) goes: carol is unfollowed, bob stays for a.
    rerender(<Page client={alice} a b={false} />);
    await waitFor(() => expect(wire.count('unfollow')).toBe(1), WAIT);
    expect(wire.sent.find((f) => f.type === 'unfollow')?.users).toEqual(['carol']);
    expect(alice.followed()).toEqual(['bob']);
    await sleep(50);
    expect(screen.getByTestId('a').textContent).toBe('bob:online');

    // a goes too: bob is unfollowed.
    rerender(<Page client={alice} a={false} b={false} />);
    await waitFor(() => expect(alice.followed()).toEqual([]), WAIT);
    expect(wire.sent.filter((f) => f.type === 'unfollow').map((f) => f.users)).toEqual([['carol'], ['bob']]);
  });

  test('an ids change [bob, carol] → [bob] unfollows carol and keeps bob', async () => {
    const { client: alice, wire } = await clients.connected('alice');
    const { rerender, result } = renderHook(({ ids }: { ids: string[] }) => useUserStatus(ids), {
      wrapper: providerWrapper(alice),
      initialProps: { ids: ['bob', 'carol'] },
    });
    await waitFor(() => expect(result.current.carol?.status).toBe('offline'), WAIT);
    // bob and carol are released together, then bob is taken again: carol's unfollow must still happen.
    rerender({ ids: ['bob'] });
    await waitFor(() => expect(wire.count('unfollow')).toBe(1), WAIT);
    expect(wire.sent.find((f) => f.type === 'unfollow')?.users).toEqual(['carol']);
    expect(alice.followed()).toEqual(['bob']);
    expect(Object.keys(result.current)).toEqual(['bob']);
    await sleep(50);
    expect(wire.count('follow')).toBe(1);
    expect(wire.count('unfollow')).toBe(1);
  });

  test('a releaseDelay beyond what setTimeout takes keeps the follow instead of dropping it at once', async () => {
    const { client: alice, wire } = await clients.connected('alice');
    const { unmount, result } = renderHook(() => useUserStatus(['bob']), { wrapper: providerWrapper(alice, { releaseDelay: 40 * 24 * 3600 * 1000 }) });
    await waitFor(() => expect(result.current.bob?.status).toBe('offline'), WAIT);
    unmount();
    await sleep(100);
    expect(wire.count('unfollow')).toBe(0);
    expect(alice.followed()).toEqual(['bob']);
  });

  test('an inline array with the same ids does not follow again on re-render', async () => {
    const { client: alice, wire } = await clients.connected('alice');
    const { rerender, result } = renderHook((_props: { n: number }) => useUserStatus(['bob', 'bob', 'carol']), {
      wrapper: providerWrapper(alice),
      initialProps: { n: 0 },
    });
    await waitFor(() => expect(result.current.carol?.status).toBe('offline'), WAIT);
    const first = result.current;
    rerender({ n: 1 });
    rerender({ n: 2 });
    await sleep(30);
    expect(result.current).toBe(first);
    expect(wire.count('follow')).toBe(1);
    expect(wire.count('unfollow')).toBe(0);
    expect(Object.keys(result.current)).toEqual(['bob', 'carol']);
  });

  test('users the application followed itself are not unfollowed by the hook', async () => {
    const { client: alice, wire } = await clients.connected('alice');
    await alice.follow(['bob']);
    const { unmount, result } = renderHook(() => useUserStatus(['bob']), { wrapper: providerWrapper(alice) });
    expect(result.current.bob?.status).toBe('offline');
    unmount();
    await sleep(30);
    expect(alice.followed()).toEqual(['bob']);
    expect(wire.count('follow')).toBe(1);
    expect(wire.count('unfollow')).toBe(0);
  });
});
