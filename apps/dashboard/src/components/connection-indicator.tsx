/**
 * Live / Reconnecting / Disconnected, from the dashboard's own Tidings connection
 * (seed 000's indicator). "Connecting" only before the first connect.
 */
import { useEffect, useRef } from 'react';
import { useConnectionState } from '@tidings/react';

export type Indicator = 'live' | 'connecting' | 'reconnecting' | 'disconnected';

export function useIndicator(): Indicator {
  const state = useConnectionState();
  const wasConnected = useRef(false);
  useEffect(() => {
    if (state === 'connected') wasConnected.current = true;
  }, [state]);
  if (state === 'connected') return 'live';
  if (state === 'connecting') return wasConnected.current ? 'reconnecting' : 'connecting';
  return 'disconnected';
}

const LABELS: Record<Indicator, string> = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', disconnected: 'Disconnected' };

export function ConnectionIndicator({ onReconnect }: { onReconnect?: () => void }) {
  const indicator = useIndicator();
  return (
    <div className={`indicator indicator-${indicator}`} role="status" aria-live="polite" data-testid="connection-indicator" data-state={indicator}>
      <span className="indicator-dot" aria-hidden="true" />
      <span className="indicator-label">{LABELS[indicator]}</span>
      {indicator === 'disconnected' && onReconnect && (
        <button type="button" className="btn btn-small btn-ghost" onClick={onReconnect}>
          Reconnect
        </button>
      )}
    </div>
  );
}
