/**
 * The provider, `useTidings` and `useConnectionState`, against a real Tidings node.
 * (`useNotifications`, `useActivityFeed` and `useProgress` have durable.test.tsx.)
 */
import './dom.js';
import { Component, type ReactNode } from 'react';
import { act, cleanup, render, renderHook, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { ConnectionState } from '@tidings/client';
import { useActivityFeed, useChannel, useConnectionState, useNotifications, usePresence, useProgress, useTidings, useTyping, useUserStatus } from '@tidings/react';
import { Clients, providerWrapper, startTestNode, WAIT, type TestNode } from './support.js';

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

class Catch extends Component<{ children: ReactNode }, { error: Error | null }> {
  override state = { error: null as Error | null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  override render() {
    return this.state.error ? <p role="alert">{this.state.error.message}</p> : this.props.children;
  }
}

describe('TidingsProvider', () => {
  test('every hook used outside a provider throws an error naming the hook and the provider', () => {
    // React logs caught render errors; keep the output readable.
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    const hooks: Array<[string, () => unknown]> = [
      ['useTidings', () => useTidings()],
      ['useConnectionState', () => useConnectionState()],
      ['useChannel', () => useChannel('chat:x')],
      ['usePresence', () => usePresence('chat:x')],
      ['useTyping', () => useTyping('chat:x')],
      ['useUserStatus', () => useUserStatus(['bob'])],
      ['useNotifications', () => useNotifications()],
      ['useActivityFeed', () => useActivityFeed('global')],
      ['useProgress', () => useProgress('job-1')],
    ];
    try {
      for (const [name, hook] of hooks) {
        function Uses() {
          hook();
          return <p>rendered</p>;
        }
        render(
          <Catch>
            <Uses />
          </Catch>,
        );
        expect(screen.getByRole('alert').textContent).toBe(
          `${name}() must be used inside <TidingsProvider client={client}>: no TidingsProvider was found above this component.`,
        );
        expect(screen.queryByText('rendered')).toBeNull();
        cleanup();
      }
    } finally {
      quiet.mockRestore();
    }
  });

  test('useTidings returns the provider client', async () => {
    const { client } = await clients.make('alice');
    const { result } = renderHook(() => useTidings(), { wrapper: providerWrapper(client) });
    expect(result.current).toBe(client);
  });

  test('refuses a negative releaseDelay', async () => {
    const { client } = await clients.make('alice');
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      render(
        <Catch>
          {providerWrapper(client, { releaseDelay: -1 })({ children: <p>child</p> })}
        </Catch>,
      );
      expect(screen.getByRole('alert').textContent).toMatch(/releaseDelay must be a number ≥ 0/);
    } finally {
      quiet.mockRestore();
    }
  });
});

describe('useConnectionState', () => {
  test('follows disconnected → connecting → connected → connecting (server gone) → disconnected', async () => {
    const { client } = await clients.make('alice');
    const seen: ConnectionState[] = [];
    const { result } = renderHook(
      () => {
        const state = useConnectionState();
        if (seen[seen.length - 1] !== state) seen.push(state);
        return state;
      },
      { wrapper: providerWrapper(client) },
    );
    expect(result.current).toBe('disconnected');
    let connecting!: Promise<void>;
    act(() => {
      connecting = client.connect();
    });
    expect(result.current).toBe('connecting');
    await act(() => connecting);
    expect(result.current).toBe('connected');
    // The server cuts every connection of alice with a code that reconnects: connecting again.
    await server.api('POST', '/users/alice/disconnect', { code: 4005, reason: 'test' });
    await waitFor(() => expect(seen).toContain('connected'), WAIT);
    await waitFor(() => expect(seen.slice(3)).toContain('connecting'), WAIT);
    await waitFor(() => expect(result.current).toBe('connected'), WAIT);
    act(() => client.disconnect());
    expect(result.current).toBe('disconnected');
    expect(seen).toEqual(['disconnected', 'connecting', 'connected', 'connecting', 'connected', 'disconnected']);
  });
});
