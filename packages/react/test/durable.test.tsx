/**
 * `useNotifications`, `useActivityFeed` and `useProgress` against a real Tidings node: live
 * data, StrictMode (one load, one subscription), components sharing one inbox, feed or
 * tracker, two devices in step, and unmounting.
 */
import './dom.js';
import { act, cleanup, render, renderHook, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Tidings } from '@tidings/client';
import { TidingsProvider, useActivityFeed, useNotifications, useProgress } from '@tidings/react';
import { Clients, providerWrapper, serverSubscribers, sleep, startTestNode, WAIT, type TestNode } from './support.js';

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

async function notify(user: string, title: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await server.api('POST', '/notify', { user, type: 'info', title, ...extra });
  expect(res.status).toBe(200);
  return res.body.data.notifications[0].id as string;
}

describe('useNotifications', () => {
  function Badge({ name }: { name: string }) {
    const { unreadCount, loading } = useNotifications();
    return <span data-testid={name}>{loading ? 'loading' : unreadCount}</span>;
  }
  function List() {
    const { items, markRead } = useNotifications<{ taskId: string }>();
    return (
      <ul>
        {items.map((n) => (
          <li key={n.id} data-testid={`item-${n.title}`} onClick={() => void markRead(n.id)}>
            {n.title}:{n.read ? 'read' : 'unread'}:{n.data?.taskId ?? ''}:{n.actions?.map((a) => `${a.label}/${a.action}/${a.style}`).join() ?? ''}
          </li>
        ))}
      </ul>
    );
  }
  function Page({ client, list = true }: { client: Tidings; list?: boolean }) {
    return (
      <TidingsProvider client={client}>
        <Badge name="a" />
        <Badge name="b" />
        {list && <List />}
      </TidingsProvider>
    );
  }

  test('components share one inbox in StrictMode: one load, what came while offline, then live', async () => {
    await notify('alice', 'offline one', { data: { taskId: 't1' }, actions: [{ label: 'Open', action: 'open-task', style: 'primary' }] });
    const { client, wire } = await clients.connected('alice');
    const { rerender } = render(<Page client={client} />, { reactStrictMode: true });
    await waitFor(() => expect(screen.getByTestId('a').textContent).toBe('1'), WAIT);
    expect(screen.getByTestId('b').textContent).toBe('1');
    expect(screen.getByTestId('item-offline one').textContent).toBe('offline one:unread:t1:Open/open-task/primary');
    await notify('alice', 'live one');
    await waitFor(() => expect(screen.getByTestId('a').textContent).toBe('2'), WAIT);
    expect(screen.getAllByRole('listitem').map((li) => li.textContent?.split(':')[0])).toEqual(['live one', 'offline one']);
    await sleep(50);
    expect(wire.count('notifications')).toBe(1);

    act(() => screen.getByTestId('item-live one').click());
    await waitFor(() => expect(screen.getByTestId('item-live one').textContent).toMatch(/^live one:read/), WAIT);
    expect(screen.getByTestId('b').textContent).toBe('1');

    // The list unmounts; the badges keep working; the last one unmounting leaves the inbox idle.
    rerender(<Page client={client} list={false} />);
    await notify('alice', 'third');
    await waitFor(() => expect(screen.getByTestId('a').textContent).toBe('2'), WAIT);
    cleanup();
    await notify('alice', 'after unmount');
    await waitFor(() => expect(client.notifications.unread).toBe(3), WAIT);
    expect(wire.count('notifications')).toBe(1);
  });

  test('markAllRead and remove, in step with another device of the user; actions stay stable', async () => {
    const ids = [await notify('bob', 'n0'), await notify('bob', 'n1'), await notify('bob', 'n2')];
    const { client } = await clients.connected('bob');
    const { client: phone } = await clients.connected('bob');
    const { result, rerender } = renderHook(() => useNotifications(), { wrapper: providerWrapper(client) });
    await waitFor(() => expect(result.current.loading).toBe(false), WAIT);
    expect(result.current).toMatchObject({ supported: true, unreadCount: 3, error: null, hasMore: false });
    expect(result.current.items.map((n) => n.title)).toEqual(['n2', 'n1', 'n0']);
    const { markRead, markAllRead, remove } = result.current;
    rerender();
    expect(result.current.markRead).toBe(markRead);

    // Read on the phone: the badge here drops.
    await phone.notifications.markRead(ids[0]!);
    await waitFor(() => expect(result.current.unreadCount).toBe(2), WAIT);
    expect(result.current.items.find((n) => n.id === ids[0])?.read).toBe(true);

    await act(() => remove(ids[1]!));
    expect(result.current.items.map((n) => n.title)).toEqual(['n2', 'n0']);
    expect(result.current.unreadCount).toBe(1);
    await waitFor(() => expect(phone.notifications.unread).toBe(1), WAIT);

    await act(() => markAllRead());
    expect(result.current.unreadCount).toBe(0);
    expect(result.current.items.every((n) => n.read)).toBe(true);
    await waitFor(() => expect(phone.notifications.unread).toBe(0), WAIT);
    expect(result.current.markAllRead).toBe(markAllRead);
    await act(() => markRead(ids[2]!));
  });

  test('an anonymous connection has no inbox: the hook reports the error', async () => {
    const anon = await startTestNode({ auth: { secret: 'test-secret-0123456789-abcdefghijklmnop', allowAnonymous: true } });
    try {
      const { Tidings } = await import('@tidings/client');
      const client = new Tidings(anon.wsUrl, { minReconnectDelay: 20, maxReconnectDelay: 200, timeout: 3_000 });
      await client.connect();
      const { result } = renderHook(() => useNotifications(), { wrapper: providerWrapper(client) });
      await waitFor(() => expect(result.current.loading).toBe(false), WAIT);
      expect(result.current.error?.code).toBe('permission_denied');
      client.disconnect();
    } finally {
      await anon.close();
    }
  });
});

describe('useActivityFeed', () => {
  const append = (scope: string, action: string) => server.api('POST', '/activity', { scope, type: 'task', actor: 'bob', action });

  test('the last N, live, shared in StrictMode by two components; more on demand; unmount unsubscribes', async () => {
    for (let i = 0; i < 5; i++) await append('p1', `a${i}`);
    const { client, wire } = await clients.connected('alice');
    function Feed({ name }: { name: string }) {
      const { items, loading } = useActivityFeed('p1', { limit: 3 });
      return <p data-testid={name}>{loading ? 'loading' : items.map((a) => a.action).join(' ')}</p>;
    }
    const { unmount } = render(
      <TidingsProvider client={client}>
        <Feed name="one" />
        <Feed name="two" />
      </TidingsProvider>,
      { reactStrictMode: true },
    );
    await waitFor(() => expect(screen.getByTestId('one').textContent).toBe('a4 a3 a2'), WAIT);
    expect(screen.getByTestId('two').textContent).toBe('a4 a3 a2');
    await append('p1', 'live');
    await waitFor(() => expect(screen.getByTestId('one').textContent).toBe('live a4 a3'), WAIT);
    expect(screen.getByTestId('two').textContent).toBe('live a4 a3');
    await sleep(50);
    expect(wire.count('subscribe', 'activity:p1')).toBe(1);
    expect(wire.sent.filter((f) => f.type === 'activity')).toHaveLength(1);
    expect(await serverSubscribers(server, 'activity:p1')).toBe(1);
    unmount();
    await waitFor(() => expect(wire.count('unsubscribe', 'activity:p1')).toBe(1), WAIT);
    expect(client.getSubscription('activity:p1')).toBeUndefined();
  });

  test('loadMore shows older entries; hasMore says when there are none', async () => {
    for (let i = 0; i < 5; i++) await append('p2', `a${i}`);
    const { client } = await clients.connected('alice');
    const { result } = renderHook(() => useActivityFeed('p2', { limit: 2 }), { wrapper: providerWrapper(client) });
    await waitFor(() => expect(result.current.items.map((a) => a.action)).toEqual(['a4', 'a3']), WAIT);
    expect(result.current.hasMore).toBe(true);
    await act(async () => void (await result.current.loadMore()));
    expect(result.current.items.map((a) => a.action)).toEqual(['a4', 'a3', 'a2', 'a1']);
    let more = true;
    await act(async () => void (more = await result.current.loadMore()));
    expect(more).toBe(false);
    expect(result.current.items.map((a) => a.action)).toEqual(['a4', 'a3', 'a2', 'a1', 'a0']);
    expect(result.current.hasMore).toBe(false);
  });
});

describe('useProgress', () => {
  test('a late joiner sees the current percent at once, then live updates; StrictMode and two components share one tracker', async () => {
    await server.api('POST', '/progress', { user: 'alice', jobId: 'sum-1', percent: 40, stage: 'summarizing' });
    const { client, wire } = await clients.connected('alice');
    function Bar({ name }: { name: string }) {
      const { job, loading } = useProgress('sum-1');
      return <p data-testid={name}>{loading ? 'loading' : job ? `${job.percent}:${job.stage ?? ''}:${job.done}` : 'none'}</p>;
    }
    render(
      <TidingsProvider client={client}>
        <Bar name="one" />
        <Bar name="two" />
      </TidingsProvider>,
      { reactStrictMode: true },
    );
    await waitFor(() => expect(screen.getByTestId('one').textContent).toBe('40:summarizing:false'), WAIT);
    expect(screen.getByTestId('two').textContent).toBe('40:summarizing:false');
    await server.api('POST', '/progress', { user: 'alice', jobId: 'sum-1', percent: 80 });
    await waitFor(() => expect(screen.getByTestId('one').textContent).toBe('80:summarizing:false'), WAIT);
    await server.api('POST', '/progress', { user: 'alice', jobId: 'sum-1', done: true });
    await waitFor(() => expect(screen.getByTestId('two').textContent).toBe('100:summarizing:true'), WAIT);
    await sleep(50);
    expect(wire.sent.filter((f) => f.type === 'progress')).toHaveLength(1);
  });

  test('no job id: nothing is asked; a job id that appears later is followed', async () => {
    const { client, wire } = await clients.connected('alice');
    const { result, rerender } = renderHook(({ id }: { id: string | null }) => useProgress(id), { wrapper: providerWrapper(client), initialProps: { id: null as string | null } });
    expect(result.current).toEqual({ job: undefined, loading: false, error: null });
    await sleep(30);
    expect(wire.sent.filter((f) => f.type === 'progress')).toHaveLength(0);
    rerender({ id: 'job-2' });
    await waitFor(() => expect(result.current.loading).toBe(false), WAIT);
    expect(result.current.job).toBeUndefined();
    await server.api('POST', '/progress', { user: 'alice', jobId: 'job-2', percent: 5, stage: 'queued' });
    await waitFor(() => expect(result.current.job?.percent).toBe(5), WAIT);
  });
});
