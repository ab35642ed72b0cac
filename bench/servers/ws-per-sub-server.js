/**
 * Baseline 1: bare `ws`, one `ws.send` per subscriber per publication. The frame
 * string is built once per publication and handed to every subscriber's socket.
 */
import { encodePublicationFrame, runServerProcess } from './common.js';
import { startBareServer } from './bare-ws.js';

runServerProcess('ws-per-sub', async () => {
  const server = await startBareServer();
  const { channels } = server;
  return {
    ...server,
    deliver(channel, data) {
      const set = channels.get(channel);
      if (set === undefined) return;
      const frame = encodePublicationFrame(channel, data);
      for (const ws of set) ws.send(frame);
    },
  };
});
