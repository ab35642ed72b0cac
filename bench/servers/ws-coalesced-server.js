/**
 * Baseline 2: bare `ws`, coalesced. Pushes for a socket within one event-loop
 * turn are appended to that socket's array and flushed once, after the turn, by a
 * single `setImmediate`: one `ws.send` per subscriber per turn, frames joined
 * with "\n".
 */
import { encodePublicationFrame, runServerProcess } from './common.js';
import { startBareServer } from './bare-ws.js';

runServerProcess('ws-coalesced', async () => {
  const server = await startBareServer({ makeConn: (ws) => ({ ws, queue: null }) });
  const { channels } = server;
  let pending = [];
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    const batch = pending;
    pending = [];
    for (let i = 0; i < batch.length; i++) {
      const conn = batch[i];
      const queue = conn.queue;
      conn.queue = null;
      if (conn.ws.readyState === 1) conn.ws.send(queue.length === 1 ? queue[0] : queue.join('\n'));
    }
  };

  return {
    ...server,
    deliver(channel, data) {
      const set = channels.get(channel);
      if (set === undefined) return;
      const frame = encodePublicationFrame(channel, data);
      for (const conn of set) {
        if (conn.queue === null) {
          conn.queue = [frame];
          pending.push(conn);
        } else {
          conn.queue.push(frame);
        }
      }
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
});
