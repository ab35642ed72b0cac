/**
 * Guarded access to browser globals. The SDK runs in browsers, Node and React Native,
 * so it never assumes `window`, `document` or `navigator` exist.
 */
import type { PresenceStatus } from '@tidings/protocol';
import type { ClientConfig } from './config.js';

interface EventTargetLike {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

function target(value: unknown): EventTargetLike | undefined {
  const t = value as Partial<EventTargetLike> | undefined;
  return t && typeof t.addEventListener === 'function' && typeof t.removeEventListener === 'function' ? (t as EventTargetLike) : undefined;
}

/** Listens to the browser's `online` event; returns the remover (a no-op elsewhere). */
export function onNetworkOnline(listener: () => void): () => void {
  const win = target((globalThis as { window?: unknown }).window);
  if (!win) return () => {};
  win.addEventListener('online', listener);
  return () => win.removeEventListener('online', listener);
}

/** Listens to page visibility changes, reporting whether the page is hidden; returns the remover. */
export function onVisibilityChange(listener: (hidden: boolean) => void): () => void {
  const doc = (globalThis as { document?: { hidden?: boolean; visibilityState?: string } }).document;
  const t = target(doc);
  if (!t || !doc) return () => {};
  const handler = () => listener(isPageHidden());
  t.addEventListener('visibilitychange', handler);
  return () => t.removeEventListener('visibilitychange', handler);
}

/** True when a document exists and is hidden. */
export function isPageHidden(): boolean {
  const doc = (globalThis as { document?: { hidden?: boolean; visibilityState?: string } }).document;
  return doc?.visibilityState === 'hidden' || doc?.hidden === true;
}

/**
 * @internal What a running client does with its environment: reconnects at once when the network
 * comes back (`reconnectOnOnline`), and is `away` while the page is hidden (`awayWhenHidden`).
 * Called as the client starts (still disconnected: a status set then is sent once connected).
 * Returns the detach.
 */
export function watchEnvironment(
  config: Pick<ClientConfig, 'reconnectOnOnline' | 'awayWhenHidden'>,
  client: { reconnectNow(): void; setStatus(status: PresenceStatus): Promise<void> },
): () => void {
  const offOnline = config.reconnectOnOnline ? onNetworkOnline(() => client.reconnectNow()) : () => {};
  let offVisibility = () => {};
  if (config.awayWhenHidden) {
    if (isPageHidden()) void client.setStatus('away');
    offVisibility = onVisibilityChange((hidden) => void client.setStatus(hidden ? 'away' : 'online').catch(() => {}));
  }
  return () => {
    offOnline();
    offVisibility();
  };
}
