/**
 * The accept generator of bench/ceiling.js: opens `tokens.length` connections to one
 * server with at most `concurrency` in flight, each with its own token, and counts
 * one as accepted when the server has answered its authentication:
 *
 * - `ws` (Tidings and the bare ws servers): the WebSocket opens, `{"id":1,"type":"connect","token":…}`
 *   is sent, and the `{"id":1,…}` reply arrives;
 * - `socketio`: socket.io-client (lib/bench-deps.js) with `auth: {token}`, its `connect` event.
 *
 * Connections come from `localAddresses` in turn (127.0.0.x) so that tens of thousands
 * of connects in a few minutes do not run one address out of ephemeral ports. They stay
 * open until `close` (then closed and awaited, 5 s at most each) so the server's CPU
 * window holds accepts only.
 *
 * IPC (orchestrator -> accept client):
 *   {type:'run', id, url, kind, tokens, concurrency, localAddresses}
 *       -> {type:'ran', id, accepted, failures, errors, ms}   (ms: first connect started -> last accepted)
 *   {type:'close-all', id} -> {type:'closed-all', id, closed}
 *   {type:'close'}         exits
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { benchDep } from './lib/bench-deps.js';

const send = (msg) => process.send(msg);
const fail = (err) => {
  send({ type: 'error', message: `accept client ${process.pid}: ${err && err.stack ? err.stack : err}` });
  setTimeout(() => process.exit(1), 100);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
process.on('disconnect', () => process.exit(0));

const TIMEOUT_MS = 20_000;
/** Open connections: {close(): Promise}. */
let open = [];

function openWs(url, token, localAddress) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: TIMEOUT_MS, localAddress });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('no connect reply in time'));
    }, TIMEOUT_MS);
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, type: 'connect', token })));
    ws.on('message', (buf) => {
      for (const line of buf.toString().split('\n')) {
        if (!line.startsWith('{"id":1,')) continue;
        clearTimeout(timer);
        if (line.includes('"error"')) {
          ws.terminate();
          reject(new Error(`connect refused: ${line.slice(0, 200)}`));
          return;
        }
        resolve({
          close: () =>
            new Promise((done) => {
              if (ws.readyState === WebSocket.CLOSED) return done();
              const t = setTimeout(() => (ws.terminate(), done()), 5000);
              ws.once('close', () => (clearTimeout(t), done()));
              ws.close(1000);
            }),
        });
      }
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`closed before the connect reply (code ${code})`));
    });
  });
}

let ioClient = null;
function openSocketIo(url, token, localAddress) {
  ioClient ??= benchDep('socket.io-client').io;
  return new Promise((resolve, reject) => {
    const socket = ioClient(url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: TIMEOUT_MS, auth: { token }, localAddress });
    socket.once('connect_error', (err) => {
      socket.disconnect();
      reject(new Error(`Socket.IO connect failed: ${err.message}`));
    });
    socket.once('connect', () =>
      resolve({
        close: () =>
          new Promise((done) => {
            const t = setTimeout(done, 5000);
            socket.io.engine.once('close', () => (clearTimeout(t), done()));
            socket.disconnect();
          }),
      }),
    );
  });
}

async function run({ url, kind, tokens, concurrency, localAddresses }) {
  const opener = kind === 'socketio' ? openSocketIo : openWs;
  let next = 0;
  let accepted = 0;
  let failures = 0;
  const errors = [];
  const started = performance.now();
  let last = started;
  const worker = async () => {
    while (next < tokens.length) {
      const i = next++;
      try {
        open.push(await opener(url, tokens[i], localAddresses[i % localAddresses.length]));
        accepted++;
        last = performance.now();
      } catch (err) {
        failures++;
        if (errors.length < 5 && !errors.includes(err.message)) errors.push(err.message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tokens.length) }, worker));
  return { accepted, failures, errors, ms: last - started };
}

process.on('message', (msg) => {
  switch (msg.type) {
    case 'run':
      run(msg).then((r) => send({ type: 'ran', id: msg.id, ...r }), fail);
      break;
    case 'close-all': {
      const list = open;
      open = [];
      Promise.all(list.map((c) => c.close())).then(() => send({ type: 'closed-all', id: msg.id, closed: list.length }), fail);
      break;
    }
    case 'close':
      process.exit(0);
      break;
    default:
      fail(new Error(`unknown message ${JSON.stringify(msg.type)}`));
  }
});
