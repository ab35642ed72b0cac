/**
 * The dashboard's own Tidings connection. It reads live stats and the activity feed
 * through Tidings itself, with short tokens from /dashboard/api/token (refreshed by the
 * client through `getToken` before they expire).
 */
import { Tidings } from '@tidings/client';
import { fetchConnectionToken } from './api.js';

/** `ws(s)://<this host>/connection/websocket`. */
export function websocketUrl(loc: Location = window.location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/connection/websocket`;
}

export function createLiveClient(): Tidings {
  return new Tidings(websocketUrl(), {
    getToken: fetchConnectionToken,
    name: '@tidings/dashboard',
  });
}
