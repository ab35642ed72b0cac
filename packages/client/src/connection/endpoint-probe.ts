/**
 * Is there an endpoint at a WebSocket URL? Browsers hide the status of a refused handshake
 * (a 404 looks like a network error), so after a few WebSocket-only rounds that failed to
 * open, the connection asks the URL itself once with a plain GET (`ws(s):` → `http(s):`):
 * Tidings answers 426 there, and a wrong path answers 404. A cross-origin page sees the
 * status only when the answer carries CORS headers; otherwise the request fails and the
 * client keeps retrying as before.
 */
import { globalFetch } from '../transports/http.js';

/** @internal WebSocket handshakes failed in a row before the URL is probed. */
export const PROBE_AFTER = 3;

/** @internal True when a plain GET of `url` answers 404; false on any other answer, a network error, or after `timeout` ms. */
export async function answers404(url: string, timeout: number): Promise<boolean> {
  try {
    const res = await globalFetch()!(url.replace(/^ws/i, 'http'), { signal: AbortSignal.timeout(timeout) });
    void res.body?.cancel();
    return res.status === 404;
  } catch {
    return false;
  }
}
