/**
 * The server process of bench/encoding.js: Tidings through its library API (the built
 * packages/server/dist), its subscribers on WebSocket in JSON or MessagePack as each asked.
 *
 * IPC (orchestrator -> server), each answered with the same `id`:
 *   {type:'init', id, secret, history?: 'memory'|'sqlite', dist?}  -> {port}
 *       (`history`: the bench namespace keeps history, size 100, in memory or also in a fresh SQLite file;
 *       `dist`: the server build to load, a packages/server/dist directory; default this tree's)
 *   {type:'start', id, channels, size}   one publication per event-loop turn, round-robin over `channels`
 *   {type:'cpu', id}                     -> {cpu, published}
 *   {type:'stop', id}                    -> {published}
 *   {type:'close'}                       closes the node and exits
 */
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { payloadOf } from '../lib/encoding-payload.js';

let tidings;
let dbFile;
let running = false;
let published = 0;

const fail = (err) => {
  process.send({ type: 'error', message: `encoding server ${process.pid}: ${err && err.stack ? err.stack : err}` });
  setTimeout(() => process.exit(1), 100);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

function start(channels, size) {
  const base = payloadOf(size);
  running = true;
  let n = 0;
  const turn = () => {
    if (!running) return;
    tidings.publish(channels[n % channels.length], { ...base, n, t: Date.now() }).catch(fail);
    n++;
    published++;
    setImmediate(turn);
  };
  setImmediate(turn);
}

process.on('message', async (msg) => {
  const reply = (body) => process.send({ ...body, id: msg.id });
  switch (msg.type) {
    case 'init': {
      const { createTidings } = await import(msg.dist ? pathToFileURL(path.join(msg.dist, 'index.js')).href : '../../packages/server/dist/index.js');
      const history = msg.history !== undefined;
      dbFile = path.join(os.tmpdir(), `tidings-bench-encoding-${process.pid}-${Date.now()}.db`);
      tidings = createTidings({
        logLevel: 'silent',
        auth: { secret: msg.secret },
        namespaces: { bench: { clientPublish: 'subscribers', ...(history ? { history: { size: 100, ttl: '5m' } } : {}) } },
        ...(history ? { history: { store: msg.history } } : {}),
        store: { path: dbFile },
        client: { pingInterval: '60s', pongTimeout: '20s', maxQueueBytes: '256MiB' },
        websocket: { maxPayload: '1MiB' },
        // Every bench client is on 127.0.0.1 and publishes as fast as it is answered.
        limits: { connectionsPerIp: 0, connectionsPerNode: 0, connectionRatePerIp: 0, commandRate: 0 },
      });
      const address = await tidings.listen(0, '127.0.0.1');
      reply({ port: address.port });
      break;
    }
    case 'start':
      start(msg.channels, msg.size);
      reply({});
      break;
    case 'cpu':
      reply({ cpu: process.cpuUsage(), published });
      break;
    case 'stop':
      running = false;
      reply({ published });
      break;
    case 'close':
      running = false;
      await tidings?.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(dbFile + suffix, { force: true });
      process.exit(0);
  }
});
