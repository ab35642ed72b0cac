/**
 * Baseline 2: bare `ws`, coalesced ("batched per turn"). Pushes for a socket within
 * one event-loop turn are appended to that socket's array and flushed once, after
 * the turn, by a single `setImmediate`: one `ws.send` per subscriber per turn,
 * frames joined with "\n" (`batchedDeliver` in bare-ws.js).
 */
import { encodePublicationFrame, runServerProcess } from './common.js';
import { batchedConn, batchedDeliver, startBareServer } from './bare-ws.js';

runServerProcess('ws-coalesced', async () => {
  const server = await startBareServer({ makeConn: batchedConn });
  return { ...server, deliver: batchedDeliver(server.channels, encodePublicationFrame) };
});
