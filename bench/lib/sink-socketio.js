/**
 * The Socket.IO side of bench/sink.js (transport `socketio`): one socket.io-client
 * connection per subscriber (WebSocket transport only, no reconnection, its own
 * Manager), the token in the handshake's `auth`, then `subscribe` with an ack (one per
 * channel of `conn.channels` when given; subscribed once every ack is in).
 * Counting connections count `publication` events; probes also take `now - data.t`.
 * The client decodes every packet (it has no raw mode): on a 2-core machine that is
 * sink CPU the WebSocket sinks do not spend.
 *
 * `hooks`: {count(srv), probe(srv, data), lost(srv, reason), keep({terminate})}.
 */
import { benchDep } from './bench-deps.js';

let ioClient = null;

export function openSocketIo(url, conn, hooks) {
  ioClient ??= benchDep('socket.io-client').io;
  const srv = conn.srv;
  return new Promise((resolve, reject) => {
    const socket = ioClient(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 20_000,
      auth: { token: conn.token },
      ...(conn.localAddress ? { localAddress: conn.localAddress } : {}),
    });
    let subscribed = false;
    let settled = false;
    const timer = setTimeout(() => abort(new Error(`subscribe to ${conn.channel} over Socket.IO timed out`)), 30_000);
    function abort(err) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.disconnect();
      reject(err);
    }
    socket.on('connect_error', (err) => abort(new Error(`Socket.IO connect failed: ${err.message}`)));
    const channels = conn.channels ?? [conn.channel];
    let acks = 0;
    socket.on('connect', () => {
      for (const channel of channels) socket.emit('subscribe', channel, () => {
        if (settled || ++acks < channels.length) return;
        settled = subscribed = true;
        clearTimeout(timer);
        if (conn.probe) socket.on('publication', (p) => hooks.probe(srv, p.data));
        else socket.on('publication', () => hooks.count(srv));
        hooks.keep({ terminate: () => socket.disconnect() });
        resolve();
      });
    });
    socket.on('disconnect', (reason) => {
      if (subscribed) hooks.lost(srv, reason);
      else abort(new Error(`disconnected before subscribed (${reason})`));
    });
  });
}
