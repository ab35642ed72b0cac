/**
 * The provider that hands a `Tidings` client to the hooks below it, and `useTidings()`.
 */
import { createContext, useContext, useMemo, type ReactNode } from 'react';
import type { Tidings } from '@tidings/client';

/** @internal What the provider shares with the hooks. */
export interface TidingsContextValue {
  readonly client: Tidings;
  readonly releaseDelay: number;
}

const TidingsContext = createContext<TidingsContextValue | null>(null);
TidingsContext.displayName = 'TidingsContext';

export interface TidingsProviderProps {
  /** The client the hooks below use. The provider neither connects nor disconnects it. */
  client: Tidings;
  /**
   * Milliseconds a channel subscription (or a status follow) is kept after the last
   * component using it unmounted, so that a remount in that time reuses it instead of
   * unsubscribing and subscribing again. Default 0: released on the next macrotask, which
   * is enough for StrictMode and for a route change that keeps the channel. A longer delay
   * also keeps presence ("is viewing") visible to others for that long.
   */
  releaseDelay?: number;
  children?: ReactNode;
}

/**
 * Makes a `Tidings` client available to the hooks of this package. The client outlives
 * components: create it once, call `client.connect()` yourself, and pass it here.
 *
 * @example
 * ```tsx
 * import { Tidings } from '@tidings/client';
 * import { TidingsProvider } from '@tidings/react';
 *
 * const client = new Tidings('wss://rt.example.com/connection/websocket', { getToken });
 * void client.connect();
 *
 * createRoot(document.getElementById('root')!).render(
 *   <TidingsProvider client={client}>
 *     <App />
 *   </TidingsProvider>,
 * );
 * ```
 */
export function TidingsProvider({ client, releaseDelay = 0, children }: TidingsProviderProps): ReactNode {
  if (!Number.isFinite(releaseDelay) || releaseDelay < 0) throw new TypeError(`TidingsProvider: releaseDelay must be a number ≥ 0, got ${String(releaseDelay)}`);
  const value = useMemo(() => ({ client, releaseDelay }), [client, releaseDelay]);
  return <TidingsContext.Provider value={value}>{children}</TidingsContext.Provider>;
}

/** @internal The provider's value; throws a clear error naming `hook` when there is no provider. */
export function useTidingsContext(hook: string): TidingsContextValue {
  const value = useContext(TidingsContext);
  if (!value) {
    throw new Error(`${hook}() must be used inside <TidingsProvider client={client}>: no TidingsProvider was found above this component.`);
  }
  return value;
}

/**
 * The `Tidings` client of the nearest `<TidingsProvider>`, for what the hooks do not cover
 * (`rpc`, `setStatus`, one-off `publish`). Throws when there is no provider.
 *
 * @example
 * ```tsx
 * function AnswerButton({ callId }: { callId: string }) {
 *   const client = useTidings();
 *   return <button onClick={() => client.rpc('call.answer', { callId })}>Answer</button>;
 * }
 * ```
 */
export function useTidings(): Tidings {
  return useTidingsContext('useTidings').client;
}
