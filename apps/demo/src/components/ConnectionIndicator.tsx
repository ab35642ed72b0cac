/**
 * Seed 000's live indicator: "Live" while connected, "Reconnecting…" while the client
 * waits to come back (and "Connecting…" before the first connection), "Disconnected"
 * when it stopped. Announced to screen readers as it changes.
 */
import { useEffect, useRef } from 'react';
import { useConnectionState } from '@tidings/react';

export function ConnectionIndicator() {
  const state = useConnectionState();
  const wasConnected = useRef(false);
  useEffect(() => {
    if (state === 'connected') wasConnected.current = true;
  }, [state]);
  const view =
    state === 'connected'
      ? { label: 'Live', tone: 'live' }
      : state === 'connecting'
        ? { label: wasConnected.current ? 'Reconnecting…' : 'Connecting…', tone: 'reconnecting' }
        : { label: 'Disconnected', tone: 'offline' };
  return (
    <p className={`connection connection-${view.tone}`} role="status" aria-live="polite" data-state={state} data-testid="connection">
      <span className="connection-dot" aria-hidden="true" />
      <span className="connection-label">{view.label}</span>
    </p>
  );
}
