/**
 * `useConnectionState`: the client's connection state.
 */
import { useCallback, useSyncExternalStore } from 'react';
import type { ConnectionState } from '@tidings/client';
import { useTidingsContext } from './context.js';

/**
 * The connection state of the provider's client: `disconnected`, `connecting` (also while
 * waiting to reconnect) or `connected`. Re-renders on every change.
 *
 * @example
 * ```tsx
 * function ConnectionBanner() {
 *   const state = useConnectionState();
 *   if (state === 'connected') return null;
 *   return <div role="status">{state === 'connecting' ? 'Reconnecting…' : 'Offline'}</div>;
 * }
 * ```
 */
export function useConnectionState(): ConnectionState {
  const { client } = useTidingsContext('useConnectionState');
  const subscribe = useCallback((onChange: () => void) => client.on('state', onChange), [client]);
  const getSnapshot = useCallback(() => client.state, [client]);
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
}
