/**
 * Baseline (bench/ceiling.js): Socket.IO 4 (bench/deps), room emit. WebSocket
 * transport only (no long-polling upgrade), no per-message deflate. A client sends
 * its token in the handshake's `auth` ({token}); a middleware (`io.use`) verifies it
 * with the same HS256 check as bare ws + JWT (jose, the server package's copy), so
 * an accept does the same token work as Tidings'. `subscribe` (with an ack) joins
 * the room of the channel; a publication is `io.to(channel).emit('publication',
 * {channel, data})`: encoded once per emit by the adapter, one WebSocket message
 * per subscriber.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDep, benchDepVersion } from '../lib/bench-deps.js';
import { runServerProcess } from './common.js';

const serverPackage = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../packages/server/package.json');
const { jwtVerify } = await import(createRequire(serverPackage).resolve('jose'));
const { Server } = benchDep('socket.io');

runServerProcess('socketio', async ({ secret }) => {
  // Imported once: jose given the raw bytes would import them again on every verify.
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const httpServer = http.createServer();
  const io = new Server(httpServer, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, maxHttpBufferSize: 1024 * 1024 });
  io.use((socket, next) => {
    const token = socket.handshake.auth?.token;
    if (typeof token !== 'string') return next(new Error('unauthorized'));
    jwtVerify(token, key, { algorithms: ['HS256'] }).then(
      () => next(),
      () => next(new Error('unauthorized')),
    );
  });
  io.on('connection', (socket) => {
    socket.on('subscribe', (channel, ack) => {
      if (typeof channel === 'string') socket.join(channel);
      if (typeof ack === 'function') ack({});
    });
  });
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: httpServer.address().port,
    path: '/socket.io/',
    meta: { socketIo: benchDepVersion('socket.io') },
    deliver(channel, data) {
      io.to(channel).emit('publication', { channel, data });
    },
    info: () => ({ connections: io.engine.clientsCount }),
    close: () => new Promise((resolve) => io.close(() => resolve())),
  };
});
