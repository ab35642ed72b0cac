/**
 * A node with a 256 MiB heap survives the two memory attacks the attack run used
 * to take one down, at the same time and on default limits:
 * - 500 WebSockets that never send `connect` and park one-byte continuation
 *   fragments of a message that never ends (each would hold ~1.75 MiB of heap);
 * - one user publishing 60 KB messages to fresh channels with history until 256 MiB, as
 *   much as the whole heap, have been offered. The attack did it over one connection in 30 s;
 *   here the same user publishes over 4 connections, each paced under limits.commandRate
 *   (which is per connection), so the same bytes are offered in about 8 s.
 * The server runs in its own process, so its heap is its own. Afterwards it still
 * answers: health, a new connection, a publication delivered.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mintToken } from '../packages/server/src/auth/token-mint.js';
import { TestClient } from '../packages/server/src/test-support/test-client.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

const PARKERS = 500;
/** Fragments each parking socket tries to send (the attack's figure). */
const FRAGMENTS = 16_000;
const HEAP_LIMIT_MB = 256;
/** Connections the attacker publishes over, all as the same user. */
const ATTACKER_CONNECTIONS = 4;
/** Bytes of payload the attacker offers in all: as much as the node's whole heap. */
const OFFERED_BYTES = HEAP_LIMIT_MB * 1024 * 1024;
/** Bound on the publishing, in time: offering OFFERED_BYTES takes about 8 s. */
const PUBLISH_LIMIT_MS = 90_000;

let server: ServerProcess & { secret: string };
beforeAll(async () => {
  server = await startServerProcess(
    // Every socket of the test comes from 127.0.0.1: the upgrade rate limit would refuse parkers before the fragment bounds are reached.
    `limits:\n  connectionRatePerIp: 0\nnamespaces:\n  blob:\n    history: { size: 100, ttl: 1h }\n    clientPublish: [writer]\n  live: {}\n`,
    { NODE_OPTIONS: `--max-old-space-size=${HEAP_LIMIT_MB}` },
  );
});
afterAll(() => server.cleanup());

/** A masked client frame: `fin`, `opcode`, payload. */
function clientFrame(fin: boolean, opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const header = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length]);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([header, mask, masked]);
}

/** One chunk of 1,000 one-byte continuation fragments (masks differ per frame, as a client's would). */
const FRAGMENT_CHUNK = Buffer.concat(Array.from({ length: 1000 }, () => clientFrame(false, 0x0, Buffer.from('a'))));

interface Parked {
  upgraded: boolean;
  sent: number;
  closedByServer: boolean;
}

/**
 * Upgrades a raw socket, starts a text message that never finishes and keeps
 * sending one-byte fragments until FRAGMENTS are out or the server closes.
 * Resolves with how the socket ended and how many fragments it got out.
 */
function parker(port: number): Promise<Parked> {
  return new Promise((resolve) => {
    const socket: Socket = netConnect(port, '127.0.0.1');
    let sent = 0;
    let upgraded = false;
    let ended = false;
    const finish = (closedByServer: boolean) => {
      if (ended) return;
      ended = true;
      clearTimeout(guard);
      socket.destroy();
      resolve({ upgraded, sent, closedByServer });
    };
    // Bounded in time: a socket still parking after 15 s is reported as not closed.
    const guard = setTimeout(() => finish(false), 15_000);
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    const pump = () => {
      while (!ended && sent < FRAGMENTS) {
        sent += 1000;
        if (!socket.write(FRAGMENT_CHUNK)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) return;
      if (!chunk.toString('latin1').startsWith('HTTP/1.1 101')) return finish(true);
      upgraded = true;
      socket.write(clientFrame(false, 0x1, Buffer.from('{')));
      pump();
    });
    socket.write(
      `GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tidings.v1\r\n\r\n`,
    );
  });
}

async function heapUsed(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('tidings_nodejs_heap_size_used_bytes'));
  if (!line) throw new Error('no heap gauge in /metrics');
  return Number(line.split(' ').pop());
}

it('a 256 MiB-heap node survives 500 fragment-parking sockets and a user filling history with 60 KB messages', async () => {
  // The attacker: one user allowed to publish, 60 KB payloads, a fresh channel each time.
  const token = await mintToken(server.secret, { sub: 'mallory', roles: ['writer'] });
  const attackers = await Promise.all(Array.from({ length: ATTACKER_CONNECTIONS }, async () => (await TestClient.connect(server.wsUrl, token)).client));
  const pad = 'x'.repeat(60 * 1024);
  let offered = 0;
  let accepted = 0;
  let refused = 0;
  const codes = new Map<string, number>();
  const until = Date.now() + PUBLISH_LIMIT_MS;
  const publishing = Promise.all(
    attackers.map(async (attacker, c) => {
      let n = 0;
      // A publish that goes unanswered because the server closed the connection fails the test, with the close code.
      const closed = attacker.closed.then((e) => {
        throw new Error(`the attacker's connection ${c} was closed: ${e.code} ${e.reason}`);
      });
      while (offered < OFFERED_BYTES && Date.now() < until) {
        // Paced just under limits.commandRate (200/s per connection), so the refusals seen are the history budget's.
        const pace = new Promise((r) => setTimeout(r, 7));
        offered += pad.length;
        const reply = await Promise.race([attacker.call('publish', { channel: `blob:fresh-${c}-${n++}`, data: { n, pad } }), closed]);
        if ('error' in reply) {
          refused++;
          codes.set(reply.error.code, (codes.get(reply.error.code) ?? 0) + 1);
        } else accepted++;
        await pace;
      }
    }),
  );

  // Meanwhile 500 unauthenticated sockets park fragments, 50 at a time.
  const results: Parked[] = [];
  for (let i = 0; i < PARKERS; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, () => parker(server.port)));
    expect(server.child.exitCode, server.output().slice(-2000)).toBeNull();
    // Every parking socket is cut off by the server (an unbounded one would sit there holding its fragments).
    expect(batch.filter((r) => !r.upgraded || !r.closedByServer)).toEqual([]);
    results.push(...batch);
  }
  await publishing;
  expect(offered, `offered ${offered} bytes within ${PUBLISH_LIMIT_MS} ms`).toBeGreaterThanOrEqual(OFFERED_BYTES);
  expect(accepted + refused).toBe(offered / pad.length);

  // The node is alive and its heap is inside the limit it was started with.
  expect(server.child.exitCode, server.output().slice(-2000)).toBeNull();
  expect(server.child.signalCode).toBeNull();
  expect(await heapUsed()).toBeLessThan(HEAP_LIMIT_MB * 1024 * 1024);
  expect(results).toHaveLength(PARKERS);
  // The attacker was served for a while, then refused with a clear error; every publish got an answer.
  expect(accepted).toBeGreaterThan(0);
  expect(refused).toBeGreaterThan(0);
  expect([...codes.keys()], JSON.stringify([...codes])).toEqual(['limit_exceeded']);

  // Others are unaffected: health, a new connection, a live publication.
  expect((await fetch(`${server.apiUrl}/health`)).status).toBe(200);
  const { client: alice } = await TestClient.connect(server.wsUrl, await mintToken(server.secret, { sub: 'alice' }));
  await alice.ok('subscribe', { channel: 'live:room' });
  const res = await fetch(`${server.apiUrl}/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'live:room', data: { hello: 'alice' } }),
  });
  expect(res.status).toBe(200);
  const pub = await alice.waitForPush((p) => p.type === 'publication' && p.channel === 'live:room', 5000);
  expect(pub).toMatchObject({ data: { hello: 'alice' } });
  alice.close();
  for (const attacker of attackers) attacker.close();
}, 240_000);
