/**
 * Baseline (bench/ceiling.js): bare `ws`, pre-framed + cork. Each publication's
 * message is built once as a Buffer and handed to every subscriber with the public
 * `ws.send(buffer, {binary: false})` (a text frame; ws adds only its 2-10 byte
 * header, the payload is not copied). A socket's writes within one event-loop turn
 * are corked: the first send of the turn calls `socket.cork()`, one `setImmediate`
 * uncorks them all, so the kernel sees one write (writev) per socket per turn while
 * every publication stays its own WebSocket message.
 *
 * The TCP socket comes from the public path: ws runs with `noServer` behind our own
 * `http` server and `handleUpgrade(req, socket, head)` hands the socket over (see
 * bare-ws.js, `upgrade: true`); ws's private `_socket` is not used.
 */
import { encodePublicationFrame, runServerProcess } from './common.js';
import { startBareServer } from './bare-ws.js';

const TEXT = { binary: false };

runServerProcess('ws-cork', async () => {
  const server = await startBareServer({ upgrade: true, makeConn: (ws, socket) => ({ ws, socket, corked: false }) });
  const { channels } = server;
  let corked = [];
  let scheduled = false;
  const uncork = () => {
    scheduled = false;
    const list = corked;
    corked = [];
    for (let i = 0; i < list.length; i++) {
      list[i].corked = false;
      list[i].socket.uncork();
    }
  };
  return {
    ...server,
    deliver(channel, data) {
      const set = channels.get(channel);
      if (set === undefined) return;
      const frame = Buffer.from(encodePublicationFrame(channel, data));
      for (const conn of set) {
        if (conn.ws.readyState !== 1) continue;
        if (!conn.corked) {
          conn.corked = true;
          conn.socket.cork();
          corked.push(conn);
        }
        conn.ws.send(frame, TEXT);
      }
      if (!scheduled) {
        scheduled = true;
        setImmediate(uncork);
      }
    },
  };
});
