/**
 * The minimal protocol-v1 subset both bare `ws` baselines speak: `connect` and
 * `subscribe` are answered with `{"id":N,"result":{}}`, `pong` is ignored, and
 * subscriptions live in a channel -> Set<connection> map. No auth, no pings, no
 * queue limits: the floor of what a fan-out over `ws` costs.
 */
import { WebSocketServer } from 'ws';

/**
 * Starts the server; `makeConn(ws)` builds the per-connection object stored in
 * the channel sets (the socket itself, or a wrapper holding a queue).
 */
export async function startBareServer({ makeConn = (ws) => ws } = {}) {
  const channels = new Map();
  const path = '/connection/websocket';
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    path,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: 1024 * 1024,
  });
  await new Promise((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  let connections = 0;
  wss.on('connection', (ws) => {
    connections++;
    const conn = makeConn(ws);
    const mine = [];
    ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        if (line.length === 0) continue;
        let frame;
        try {
          frame = JSON.parse(line);
        } catch {
          ws.close(3501, 'bad request');
          return;
        }
        if (frame.type === 'pong') continue;
        if (frame.type === 'subscribe' && typeof frame.channel === 'string') {
          let set = channels.get(frame.channel);
          if (!set) channels.set(frame.channel, (set = new Set()));
          set.add(conn);
          mine.push(set);
        }
        if (typeof frame.id === 'number') ws.send('{"id":' + frame.id + ',"result":{}}');
      }
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      connections--;
      for (const set of mine) set.delete(conn);
    });
  });
  return {
    port: wss.address().port,
    path,
    channels,
    info: () => ({ connections, channels: channels.size }),
    close: () => new Promise((resolve) => wss.close(() => resolve())),
  };
}
