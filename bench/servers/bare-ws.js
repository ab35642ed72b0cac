/**
 * The minimal protocol-v1 subset the bare `ws` baselines speak: `connect` and
 * `subscribe` are answered with `{"id":N,"result":{}}`, `pong` is ignored, and
 * subscriptions live in a channel -> Set<connection> map. No auth, no pings, no
 * queue limits: the floor of what a fan-out over `ws` costs.
 *
 * Two options for the bench/ceiling.js baselines:
 * - `verify(token)`: a promise that settles once the `connect` frame's token is
 *   verified (bare ws + JWT: the same HS256 check Tidings makes); the frames after
 *   `connect` wait for it, and a refused token closes the connection with 3500.
 * - `upgrade: true`: the WebSocket server runs with `noServer` behind our own
 *   `http` server, so the TCP socket of each connection is known through the public
 *   `upgrade` event and `handleUpgrade` (not through ws's private fields), and
 *   `makeConn(ws, socket)` gets it (to cork a turn's writes).
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';

/** `channel -> Set` add for a `subscribe` frame; returns the reply, if any. */
function handleFrame(frame, channels, conn, mine) {
  if (frame.type === 'subscribe' && typeof frame.channel === 'string') {
    let set = channels.get(frame.channel);
    if (!set) channels.set(frame.channel, (set = new Set()));
    set.add(conn);
    mine.push(set);
  }
  return typeof frame.id === 'number' ? '{"id":' + frame.id + ',"result":{}}' : null;
}

/** Listens on 127.0.0.1, port 0: a `ws` server of its own, or `ws` with `noServer` behind `http` (`upgrade`). */
async function listen(path, upgrade) {
  const wsOptions = { clientTracking: false, perMessageDeflate: false, maxPayload: 1024 * 1024 };
  if (!upgrade) {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path, ...wsOptions });
    await new Promise((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    });
    return { wss, port: wss.address().port, close: () => new Promise((resolve) => wss.close(() => resolve())) };
  }
  const wss = new WebSocketServer({ noServer: true, ...wsOptions });
  const server = http.createServer((req, res) => res.writeHead(426).end());
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url, 'http://x').pathname !== path) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req, socket));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    wss,
    port: server.address().port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Starts the server; `makeConn(ws, socket)` builds the per-connection object stored in
 * the channel sets (the socket itself, or a wrapper holding a queue); `socket` is the
 * TCP socket with `upgrade: true`, undefined otherwise.
 */
export async function startBareServer({ makeConn = (ws) => ws, verify, upgrade = false } = {}) {
  const channels = new Map();
  const path = '/connection/websocket';
  const server = await listen(path, upgrade);
  let connections = 0;
  server.wss.on('connection', (ws, req, socket) => {
    connections++;
    const conn = makeConn(ws, socket);
    const mine = [];
    /** With `verify`: frames wait for the connect frame's verification, in order. */
    let chain = null;
    const onLine = (line) => {
      let frame;
      try {
        frame = JSON.parse(line);
      } catch {
        ws.close(3501, 'bad request');
        return;
      }
      if (frame.type === 'pong') return;
      if (verify && frame.type === 'connect') {
        chain = (chain ?? Promise.resolve()).then(() =>
          verify(frame.token).then(
            () => ws.send('{"id":' + frame.id + ',"result":{}}'),
            () => ws.close(3500, 'unauthorized'),
          ),
        );
        return;
      }
      if (chain !== null) {
        chain = chain.then(() => {
          const reply = handleFrame(frame, channels, conn, mine);
          if (reply !== null && ws.readyState === 1) ws.send(reply);
        });
        return;
      }
      const reply = handleFrame(frame, channels, conn, mine);
      if (reply !== null) ws.send(reply);
    };
    ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) if (line.length !== 0) onLine(line);
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      connections--;
      for (const set of mine) set.delete(conn);
    });
  });
  return {
    port: server.port,
    path,
    channels,
    info: () => ({ connections, channels: channels.size }),
    close: server.close,
  };
}

/**
 * The batched delivery of the coalescing baselines: a socket's pushes within one
 * event-loop turn are queued and sent as one message (frames joined with "\n")
 * from one `setImmediate`: one `ws.send` per subscriber per turn. The connections
 * are `{ws, queue}` (`makeConn: batchedConn`).
 */
export const batchedConn = (ws) => ({ ws, queue: null });

export function batchedDeliver(channels, encode) {
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
  return (channel, data) => {
    const set = channels.get(channel);
    if (set === undefined) return;
    const frame = encode(channel, data);
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
  };
}
