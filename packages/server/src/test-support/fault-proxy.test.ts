/**
 * The fault proxy itself, against a real echo server on 127.0.0.1: each mode does what it says
 * (the transport, engine and client suites rely on it for their fault tests).
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { FaultProxy } from './fault-proxy.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An echo server; `sockets` are its side of each connection. */
async function echo(): Promise<{ port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, sockets };
}

async function proxyTo(port: number): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ port });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A client socket through the proxy, collecting what comes back and how it ended. */
async function client(port: number): Promise<{ socket: Socket; received(): number; ended: Promise<string> }> {
  const socket = connect(port, '127.0.0.1');
  let received = 0;
  socket.on('data', (b: Buffer) => (received += b.length));
  const ended = new Promise<string>((resolve) => {
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    socket.on('end', () => resolve('FIN'));
  });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  cleanups.push(() => void socket.destroy());
  return { socket, received: () => received, ended };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

test('fault proxy: forwards both ways, and latency holds each chunk that long each way', async () => {
  const target = await echo();
  const proxy = await proxyTo(target.port);
  const c = await client(proxy.port);
  c.socket.write('x'.repeat(1000));
  await until(() => c.received() === 1000, 'echo');
  proxy.setMode({ latencyMs: 150 });
  const started = Date.now();
  c.socket.write('y'.repeat(10));
  await until(() => c.received() === 1010, 'echo with latency');
  // 150 ms to the server and 150 ms back.
  expect(Date.now() - started).toBeGreaterThanOrEqual(295);
});

test('fault proxy: a bandwidth cap paces the bytes and pushes back on the sender', async () => {
  const target = await echo();
  const proxy = await proxyTo(target.port);
  proxy.setMode({ bytesPerSecond: 20_000 });
  const c = await client(proxy.port);
  const started = Date.now();
  c.socket.write(Buffer.alloc(10_000));
  await until(() => c.received() === 10_000, 'capped echo');
  // 10 kB at 20 kB/s is half a second through the cap (each way, pipelined).
  expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  // A sender writing far more than the cap allows is held back: the proxy reads no faster than it writes.
  c.socket.write(Buffer.alloc(4 * 1024 * 1024));
  await sleep(300);
  expect(proxy.connections()[0]!.forwarded.toTarget).toBeLessThan(10_000 + 20_000);
});

test('fault proxy: a blackhole drops everything and passes no close on; new connections are accepted and go nowhere', async () => {
  const target = await echo();
  const proxy = await proxyTo(target.port);
  const c = await client(proxy.port);
  c.socket.write('ping');
  await until(() => c.received() === 4, 'echo');
  proxy.blackhole();
  c.socket.write('lost');
  await sleep(100);
  expect(c.received()).toBe(4);
  // The server closes its side: the client hears nothing (no FIN, no RST).
  target.sockets[0]!.destroy();
  const outcome = await Promise.race([c.ended, sleep(200).then(() => 'nothing')]);
  expect(outcome).toBe('nothing');
  const before = target.sockets.length;
  const late = await client(proxy.port);
  late.socket.write('hello?');
  await sleep(100);
  expect(late.received()).toBe(0);
  expect(target.sockets.length).toBe(before);
  // Healed: new connections pass again; the blackholed ones stay dead.
  proxy.heal();
  const fresh = await client(proxy.port);
  fresh.socket.write('back');
  await until(() => fresh.received() === 4, 'echo after heal');
  expect(c.received()).toBe(4);
});

test('fault proxy: reset sends an RST to both sides, and reset mode resets new connections at once', async () => {
  const target = await echo();
  const proxy = await proxyTo(target.port);
  const c = await client(proxy.port);
  c.socket.write('a');
  await until(() => c.received() === 1, 'echo');
  const serverSide = new Promise<string>((r) => target.sockets[0]!.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error')));
  expect(proxy.reset()).toBe(1);
  expect(await c.ended).toBe('ECONNRESET');
  expect(await serverSide).toBe('ECONNRESET');
  proxy.setMode({ reset: true });
  const socket = connect(proxy.port, '127.0.0.1');
  const outcome = await new Promise<string>((r) => {
    socket.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
    socket.on('end', () => r('FIN'));
  });
  expect(outcome).toBe('ECONNRESET');
});
