import { generateKeyPair, exportSPKI, SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { Writable, type Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { OutFrame } from '../wire/out-frame.js';
import { sharedTextFrame, writeFrame } from './ws-frames.js';
import { checkFramePath, framePath } from './ws-frame-check.js';
import { WebSocketTransport } from './websocket.js';
import { CloseCode, WS_BEARER_PREFIX, WS_SUBPROTOCOL } from '@tidings/protocol';
import { mintToken } from '../auth/token-mint.js';
import { createTidings } from '../index.js';
import { createLogger } from '../log.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_API_KEY, TEST_SECRET, type TestNode } from '../test-support/test-node.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One masked client frame. */
function clientFrame(fin: boolean, opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const ext = n < 126 ? Buffer.alloc(0) : Buffer.alloc(2);
  if (n >= 126) ext.writeUInt16BE(n);
  const mask = randomBytes(4);
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | (n < 126 ? n : 126)]), ext, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]);
}

/** A raw TCP client that completed a real WebSocket upgrade; `closeCode` resolves with the code of the server's close frame (undefined if none). */
async function rawUpgrade(port: number): Promise<{ socket: Socket; closeCode: Promise<number | undefined>; ended: Promise<void> }> {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  socket.write(
    `GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${WS_SUBPROTOCOL}\r\n\r\n`,
  );
  let received = Buffer.alloc(0);
  let upgraded: () => void;
  const switched = new Promise<void>((r) => (upgraded = r));
  let resolveCode: (code: number | undefined) => void;
  const closeCode = new Promise<number | undefined>((r) => (resolveCode = r));
  socket.on('data', (d) => {
    received = Buffer.concat([received, d]);
    const end = received.indexOf('\r\n\r\n');
    if (end < 0) return;
    expect(received.subarray(0, 12).toString()).toBe('HTTP/1.1 101');
    upgraded();
    // Server frames (unmasked): skip pongs until a close frame, whose code is in its first two payload bytes.
    let at = end + 4;
    while (received.length - at >= 2) {
      const len7 = received[at + 1]! & 0x7f;
      const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
      const length = len7 === 126 ? received.readUInt16BE(at + 2) : len7 === 127 ? Number(received.readBigUInt64BE(at + 2)) : len7;
      if (received.length - at < 2 + ext + length) break;
      if ((received[at]! & 0x0f) === 8) resolveCode(received.readUInt16BE(at + 2 + ext));
      at += 2 + ext + length;
    }
  });
  const ended = new Promise<void>((r) => socket.once('close', () => r()));
  void ended.then(() => resolveCode(undefined));
  await switched;
  return { socket, closeCode, ended };
}

/** The value of `tidings_limit_hits_total{limit}` on a node. */
async function limitHits(node: TestNode, limit: string): Promise<number> {
  const text = await node.node.metrics.render();
  const m = new RegExp(`^tidings_limit_hits_total\\{limit="${limit}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode();
});
afterAll(() => t.close());

/** Builds `alg: none` tokens by hand: jose refuses to sign them. */
function unsignedToken(payload: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}

function expiredToken(sub: string): Promise<string> {
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
    .sign(new TextEncoder().encode(TEST_SECRET));
}

async function expectConnectRefused(node: TestNode, token: string, code: string, closeCode: number) {
  const c = await TestClient.open(node.wsUrl);
  const reply = await c.call('connect', { token });
  expect(reply).toMatchObject({ error: { code } });
  expect((await c.closed).code).toBe(closeCode);
  expect(JSON.stringify(reply)).not.toContain(token);
}

describe('handshake', () => {
  it('accepts a token in Sec-WebSocket-Protocol, selecting only tidings.v1', async () => {
    const c = await TestClient.open(t.wsUrl, { token: await t.token('alice') });
    expect(c.ws.protocol).toBe(WS_SUBPROTOCOL);
    expect(await c.ok('connect')).toMatchObject({ user: 'alice' });
    c.close();
  });

  it('rejects a bad handshake token before accepting the upgrade', async () => {
    const err = await TestClient.open(t.wsUrl, { token: 'not-a-jwt' }).catch((e) => e);
    expect(err.status).toBe(401);
    expect(JSON.parse(err.body)).toMatchObject({ error: { code: 'unauthorized' } });
    const expired = await expiredToken('alice');
    const err2 = await TestClient.open(t.wsUrl, { token: expired }).catch((e) => e);
    expect(err2.status).toBe(401);
    expect(JSON.parse(err2.body)).toMatchObject({ error: { code: 'token_expired' } });
  });

  it('requires tidings.v1 beside the bearer entry', async () => {
    const err = await TestClient.open(t.wsUrl, { protocols: [WS_BEARER_PREFIX + (await t.token('alice'))] }).catch((e) => e);
    expect(err.status).toBe(400);
  });

  it('answers an upgrade on an unknown path with 404 naming the Tidings endpoint, and logs it (raw socket)', async () => {
    let text = '';
    const sink = new Writable({
      write(chunk, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    });
    const n = await startTestNode({ logger: createLogger('info', sink) });
    try {
      const socket = netConnect(n.port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise((r) => socket.once('connect', r));
      let received = '';
      socket.on('data', (d) => (received += d.toString()));
      const ended = new Promise<void>((r) => socket.once('close', () => r()));
      socket.write(
        `GET /elsewhere?token=secret HTTP/1.1\r\nHost: 127.0.0.1:${n.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      await ended;
      expect(received.startsWith('HTTP/1.1 404 Not Found\r\n')).toBe(true);
      expect(received).toMatch(/\r\nContent-Type: application\/json\r\n/);
      const body = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4));
      expect(body).toEqual({ error: { code: 'not_found', message: 'no WebSocket endpoint at /elsewhere; the Tidings endpoint is /connection/websocket' } });
      const lines = text.split('\n').filter((l) => l.includes('websocket upgrade on an unknown path'));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, path: '/elsewhere', endpoint: '/connection/websocket' });
      // The query (which may carry a token) is not logged.
      expect(text).not.toContain('secret');
    } finally {
      await n.close();
    }
  });

  it('answers an upgrade on an unknown path with 404 (ws reports the status as unexpected-response)', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}/elsewhere`);
    ws.on('error', () => {});
    const res = await new Promise<import('node:http').IncomingMessage>((resolve) => ws.once('unexpected-response', (_req, r) => resolve(r)));
    expect(res.statusCode).toBe(404);
    expect(res.headers['x-tidings-error']).toBe('not_found');
    let body = '';
    for await (const chunk of res) body += chunk;
    expect(JSON.parse(body).error.message).toContain('the Tidings endpoint is /connection/websocket');
    ws.terminate();
  });

  it('answers a plain GET on the WebSocket path with 426 Upgrade Required (a wrong path stays 404), so a probing client tells them apart', async () => {
    const right = await fetch(`http://127.0.0.1:${t.port}/connection/websocket`);
    expect(right.status).toBe(426);
    expect(right.headers.get('upgrade')).toBe('websocket');
    expect(await right.json()).toEqual({ error: { code: 'bad_request', message: 'this is the WebSocket endpoint: connect with a WebSocket upgrade' } });
    const wrong = await fetch(`http://127.0.0.1:${t.port}/wrong/websocket`);
    expect(wrong.status).toBe(404);
    await wrong.body?.cancel();
  });

  it("leaves an unknown path's upgrade to the app's own upgrade listener on an attached server", async () => {
    const { createServer } = await import('node:http');
    const server = createServer();
    const node = (await startTestNode()).node;
    node.attach(server);
    const other = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/app-socket') other.handleUpgrade(req, socket, head, (ws) => ws.close(1000, 'app'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const ws = new WebSocket(`ws://127.0.0.1:${port}/app-socket`);
      const [code, reason] = await new Promise<[number, string]>((r) => ws.once('close', (c, why) => r([c, why.toString()])));
      expect([code, reason]).toEqual([1000, 'app']);
    } finally {
      other.close();
      await node.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('checks the origin allow-list before accepting', async () => {
    const n = await startTestNode({ allowedOrigins: ['https://app.example.com', 'https://*.example.org'] });
    try {
      const denied = await TestClient.open(n.wsUrl, { headers: { origin: 'https://evil.example.net' } }).catch((e) => e);
      expect(denied.status).toBe(403);
      for (const origin of ['https://app.example.com', 'https://eu.example.org']) {
        const ok = await TestClient.open(n.wsUrl, { headers: { origin } });
        ok.close();
      }
      const noOrigin = await TestClient.open(n.wsUrl);
      noOrigin.close();
    } finally {
      await n.close();
    }
    // Default: same origin only.
    const same = await TestClient.open(t.wsUrl, { headers: { origin: `http://127.0.0.1:${t.port}` } });
    same.close();
    const cross = await TestClient.open(t.wsUrl, { headers: { origin: 'http://localhost:3000' } }).catch((e) => e);
    expect(cross.status).toBe(403);
  });

  it('negotiates permessage-deflate only when configured', async () => {
    const plain = await TestClient.open(t.wsUrl);
    expect(plain.ws.extensions).toBe('');
    plain.close();
    const n = await startTestNode({ websocket: { compression: true } });
    try {
      const c = await TestClient.open(n.wsUrl);
      expect(c.ws.extensions).toContain('permessage-deflate');
      c.close();
    } finally {
      await n.close();
    }
  });
});

describe('token checks at connect', () => {
  it('refuses expired tokens with token_expired and a reconnect code', async () => {
    await expectConnectRefused(t, await expiredToken('alice'), 'token_expired', CloseCode.TokenExpired);
  });

  it('refuses unsigned (alg none) tokens', async () => {
    await expectConnectRefused(t, unsignedToken({ sub: 'alice' }), 'unauthorized', CloseCode.InvalidToken);
  });

  it('refuses tokens signed with another secret', async () => {
    await expectConnectRefused(t, await mintToken('some-other-secret-0123456789abcdef', { sub: 'alice' }), 'unauthorized', CloseCode.InvalidToken);
  });

  it('refuses HS256 tokens signed with the RSA public key, and checks aud', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const n = await startTestNode({ auth: { publicKey: pem, audience: 'tidings' } });
    try {
      const confused = await new SignJWT({ sub: 'alice', aud: 'tidings' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(pem));
      await expectConnectRefused(n, confused, 'unauthorized', CloseCode.InvalidToken);
      const wrongAud = await new SignJWT({ sub: 'alice', aud: 'someone-else' }).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
      await expectConnectRefused(n, wrongAud, 'unauthorized', CloseCode.InvalidToken);
      const good = await new SignJWT({ sub: 'alice', aud: 'tidings' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('1h').sign(privateKey);
      const { result } = await TestClient.connect(n.wsUrl, good);
      expect(result.user).toBe('alice');
    } finally {
      await n.close();
    }
  });

  it('tells the client when its token expires', async () => {
    const { client, result } = await TestClient.connect(t.wsUrl, await t.token('alice'));
    const now = Math.floor(Date.now() / 1000);
    expect(result.expires).toBeGreaterThanOrEqual(now + 3590);
    expect(result.ttl).toBeGreaterThan(3590);
    client.close();
  });
});

describe('expiry, refresh and liveness', () => {
  let n: TestNode;
  beforeAll(async () => {
    n = await startTestNode({ auth: { secret: TEST_SECRET, clockTolerance: 0 }, client: { pingInterval: 200, pongTimeout: 150, connectTimeout: 300 } });
  });
  afterAll(() => n.close());

  it('disconnects an unrefreshed session at expiry with token_expired', async () => {
    const { client } = await TestClient.connect(n.wsUrl, await mintToken(TEST_SECRET, { sub: 'alice', ttlSeconds: 1 }));
    const closed = await client.closed;
    expect(closed.code).toBe(CloseCode.TokenExpired);
    expect(client.pushes.find((p) => p.type === 'disconnect')).toMatchObject({ reconnect: true });
  });

  it('keeps a refreshed session past its first exp', async () => {
    const { client } = await TestClient.connect(n.wsUrl, await mintToken(TEST_SECRET, { sub: 'alice', ttlSeconds: 1 }));
    const refreshed = await client.ok('refresh', { token: await mintToken(TEST_SECRET, { sub: 'alice', ttlSeconds: 60 }) });
    expect(refreshed.ttl).toBeGreaterThan(50);
    expect(await client.call('refresh', { token: await mintToken(TEST_SECRET, { sub: 'mallory', ttlSeconds: 60 }) })).toMatchObject({ error: { code: 'unauthorized' } });
    await sleep(1500);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    expect(await client.ok('subscribe', { channel: 'live:after-refresh' })).toEqual({ recoverable: false });
    client.close();
  });

  it('pings, and closes a peer that stops answering', async () => {
    const { client: alive, result } = await TestClient.connect(n.wsUrl, await n.token('alive'));
    // Sub-second settings are announced rounded up, never as 0 ("no pings").
    expect(result).toMatchObject({ ping: 1, pong: 1 });
    const { client: dead } = await TestClient.connect(n.wsUrl, await n.token('dead'));
    dead.autoPong = false;
    const closed = await dead.closed;
    expect(closed.code).toBe(CloseCode.Stale);
    await sleep(300);
    expect(alive.pushes.filter((p) => p.type === 'ping').length).toBeGreaterThanOrEqual(2);
    expect(alive.ws.readyState).toBe(WebSocket.OPEN);
    alive.close();
  });

  it('closes a connection that never sends connect', async () => {
    const c = await TestClient.open(n.wsUrl);
    expect((await c.closed).code).toBe(CloseCode.ConnectTimeout);
  });
});

describe('limits on the wire', () => {
  it('closes with 1009 on frames above maxPayload; others are unaffected', async () => {
    const n = await startTestNode({ websocket: { maxPayload: 1024 } });
    try {
      const { client: good } = await TestClient.connect(n.wsUrl, await n.token('good'));
      await good.ok('subscribe', { channel: 'live:x' });
      const { client: big } = await TestClient.connect(n.wsUrl, await n.token('big'));
      big.send(JSON.stringify({ id: 2, type: 'publish', channel: 'live:x', data: 'x'.repeat(4096) }));
      expect((await big.closed).code).toBe(CloseCode.MessageTooBig);
      await n.node.publish('live:x', 'ok');
      expect(await good.waitForPush((p) => p.type === 'publication')).toMatchObject({ data: 'ok' });
      expect((await n.node.stats()).badRequestsTotal).toBeGreaterThanOrEqual(1);
      good.close();
    } finally {
      await n.close();
    }
  });

  it('terminates a slow consumer and keeps delivering to the others', async () => {
    const n = await startTestNode({ client: { maxQueueBytes: '256KiB' } });
    try {
      const { client: fast } = await TestClient.connect(n.wsUrl, await n.token('fast'));
      const { client: slow } = await TestClient.connect(n.wsUrl, await n.token('slow'));
      await fast.ok('subscribe', { channel: 'live:flood' });
      await slow.ok('subscribe', { channel: 'live:flood' });
      // Stop reading: the kernel buffers fill, then ws buffers, then our bound trips.
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const payload = 'y'.repeat(16 * 1024);
      const total = 2000;
      for (let i = 0; i < total; i++) {
        await n.node.publish('live:flood', { i, payload });
        // A few per turn: the bound is per connection in bytes, and a fast reader drains between turns.
        if (i % 4 === 3) await sleep(1);
      }
      await fast.waitForPush((p) => p.type === 'publication' && (p.data as { i: number }).i === total - 1, 10_000);
      expect(fast.publications('live:flood').length).toBe(total);
      expect((await n.node.stats()).slowDisconnectsTotal).toBe(1);
      expect((await n.node.stats()).connectedSockets).toBe(1);
      fast.close();
    } finally {
      await n.close();
    }
  }, 30_000);
});

describe('what a connection may cost', () => {
  it('closes a socket parking 1-byte continuation fragments before connect with 1008, counted (websocket.preConnectFrames)', async () => {
    const n = await startTestNode({ client: { connectTimeout: 5000 } });
    try {
      const { socket, closeCode, ended } = await rawUpgrade(n.port);
      // The attack: an unfinished text message in 5,000 one-byte fragments, and no connect.
      const fragments = [clientFrame(false, 1, Buffer.from('{')), ...Array.from({ length: 4999 }, () => clientFrame(false, 0, Buffer.from(' ')))];
      socket.write(Buffer.concat(fragments));
      expect(await closeCode).toBe(1008);
      await ended;
      expect(await limitHits(n, 'pre_connect_frames')).toBe(1);
      expect((await n.node.stats()).connectedSockets).toBe(0);
    } finally {
      await n.close();
    }
  });

  it('closes a socket sending more than websocket.preConnectBytes before connect (unsolicited pongs) with 1008, counted', async () => {
    const n = await startTestNode({ client: { connectTimeout: 5000 } });
    try {
      const { socket, closeCode, ended } = await rawUpgrade(n.port);
      // 600 pongs of 125 bytes: ~79 KiB, past the default 64 KiB; no frame here is too big or fragmented, and none is answered.
      socket.write(Buffer.concat(Array.from({ length: 600 }, () => clientFrame(true, 10, Buffer.alloc(125, 0x70)))));
      expect(await closeCode).toBe(1008);
      await ended;
      expect(await limitHits(n, 'pre_connect_bytes')).toBe(1);
    } finally {
      await n.close();
    }
  });

  it('counts the bytes that arrive with the upgrade request, and honours a smaller preConnectBytes', async () => {
    const n = await startTestNode({ websocket: { preConnectBytes: 2000 }, client: { connectTimeout: 5000 } });
    try {
      // The request and 3,000 bytes of an unfinished frame in one write: they reach the server with the upgrade.
      const socket = netConnect(n.port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise((r) => socket.once('connect', r));
      const header = Buffer.from([0x01, 0x80 | 126, 0x27, 0x10, 1, 2, 3, 4]); // text, FIN=0, 10,000 bytes announced
      socket.write(
        Buffer.concat([
          Buffer.from(
            `GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
              `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
          ),
          header,
          Buffer.alloc(3000, 0x20),
        ]),
      );
      let received = Buffer.alloc(0);
      socket.on('data', (d) => (received = Buffer.concat([received, d])));
      await new Promise((r) => socket.once('close', r));
      const frame = received.subarray(received.indexOf('\r\n\r\n') + 4);
      expect(frame[0]! & 0x0f).toBe(8);
      expect(frame.readUInt16BE(2)).toBe(1008);
      expect(await limitHits(n, 'pre_connect_bytes')).toBe(1);
    } finally {
      await n.close();
    }
  });

  it('the pre-connect guard lets go of the socket when connect is accepted, not at the next chunk read (an idle connection keeps none of it)', async () => {
    const server = createHttpServer();
    const sockets: Duplex[] = [];
    const node = createTidings({ logLevel: 'silent', auth: { secret: TEST_SECRET }, store: { path: ':memory:' }, namespaces: { chat: {} } });
    node.attach(server);
    server.prependListener('upgrade', (_req, socket: Duplex) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/connection/websocket`;
      const { client } = await TestClient.connect(url, await mintToken(TEST_SECRET, { sub: 'idle', ttlSeconds: 60 }));
      expect(sockets).toHaveLength(1);
      // ws reads the socket through one 'data' listener; the guard's own stayed beside it until the client sent something more.
      expect(sockets[0]!.listenerCount('data')).toBe(1);
      // Still read and served.
      expect(await client.ok('subscribe', { channel: 'chat:after-guard' })).toBeDefined();
      client.close();
    } finally {
      await node.close();
      server.close();
    }
  });

  it('leaves a connected client alone: a large allowed message, and one in 20 fragments, after connect', async () => {
    const n = await startTestNode({ websocket: { preConnectBytes: '4KiB', preConnectFrames: 2 } });
    try {
      const { client: reader } = await TestClient.connect(n.wsUrl, await n.token('reader'));
      await reader.ok('subscribe', { channel: 'chat:big' });
      const { client } = await TestClient.connect(n.wsUrl, await n.token('writer'));
      await client.ok('subscribe', { channel: 'chat:big' });
      const big = 'b'.repeat(60_000);
      expect(await client.ok('publish', { channel: 'chat:big', data: big })).toBeDefined();
      // The same publish again, sent in 20 frames (ws's own fragmentation API).
      const text = JSON.stringify({ id: 9, type: 'publish', channel: 'chat:big', data: 'f'.repeat(2000) });
      const step = Math.ceil(text.length / 20);
      for (let i = 0; i < 20; i++) client.ws.send(text.slice(i * step, (i + 1) * step), { fin: i === 19 });
      await reader.waitForPush((p) => p.type === 'publication' && p.data === 'f'.repeat(2000));
      expect(reader.publications('chat:big').map((p) => (p.data as string).length)).toEqual([60_000, 2000]);
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
      expect(await limitHits(n, 'pre_connect_bytes')).toBe(0);
      expect(await limitHits(n, 'pre_connect_frames')).toBe(0);
      client.close();
      reader.close();
    } finally {
      await n.close();
    }
  });

  it('closes a connected client whose message comes in more than websocket.maxFragments frames with 1008, counted', async () => {
    const n = await startTestNode();
    try {
      const { client } = await TestClient.connect(n.wsUrl, await n.token('chatty'));
      for (let i = 0; i < 40; i++) client.ws.send(' ', { fin: false });
      expect((await client.closed).code).toBe(1008);
      expect(await limitHits(n, 'websocket_fragments')).toBe(1);
    } finally {
      await n.close();
    }
  });

  it('closes a connection that trickles a frame over more socket reads than websocket.maxBufferedChunks with 1008, counted', async () => {
    const trickle = async (port: number, bytes: number) => {
      const raw = await rawUpgrade(port);
      raw.socket.setNoDelay(true);
      const frame = clientFrame(true, 0x1, Buffer.from(`"${'x'.repeat(998)}"`));
      raw.socket.write(frame.subarray(0, 8)); // header, extended length and mask
      for (let i = 8; i < 8 + bytes && !raw.socket.destroyed; i++) {
        raw.socket.write(frame.subarray(i, i + 1));
        await sleep(3);
      }
      return raw;
    };
    const n = await startTestNode({ websocket: { maxBufferedChunks: 16 } });
    try {
      const cut = await trickle(n.port, 60);
      expect(await cut.closeCode).toBe(1008);
      expect(await limitHits(n, 'websocket_buffered_chunks')).toBe(1);
      // On the default (1024 reads) the same trickle is only a slow client.
      const slow = await trickle(t.port, 60);
      await sleep(50);
      expect(slow.socket.destroyed).toBe(false);
      expect(await limitHits(t, 'websocket_buffered_chunks')).toBe(0);
      slow.socket.destroy();
    } finally {
      await n.close();
    }
  });

  it('refuses the (N+1)th open connection from one IP (limits.connectionsPerIp) over every transport, and admits again after one closes', async () => {
    const n = await startTestNode({ limits: { connectionsPerIp: 3 } });
    try {
      const a = await TestClient.open(n.wsUrl);
      const b = await TestClient.open(n.wsUrl);
      // A long-polling session holds a slot too.
      const opened = await fetch(`http://127.0.0.1:${n.port}/connection/open`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ transport: 'polling' }),
      });
      expect(opened.status).toBe(200);
      const { session } = (await opened.json()) as { session: string };
      const refused = await TestClient.open(n.wsUrl).catch((e) => e);
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'limit_exceeded', temporary: true } });
      const refusedHttp = await fetch(`http://127.0.0.1:${n.port}/connection/open`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ transport: 'sse' }),
      });
      expect(refusedHttp.status).toBe(429);
      expect(await limitHits(n, 'connections_per_ip')).toBe(2);
      a.close();
      await a.closed;
      await sleep(20);
      const c = await TestClient.open(n.wsUrl);
      // Ending the polling session frees its slot as well.
      expect((await fetch(`http://127.0.0.1:${n.port}/connection/poll/${session}`, { method: 'DELETE' })).status).toBe(204);
      const d = await TestClient.open(n.wsUrl);
      expect(await TestClient.open(n.wsUrl).catch((e) => e.status)).toBe(429);
      for (const x of [b, c, d]) x.close();
    } finally {
      await n.close();
    }
  });

  it('a refused handshake token gives its slot back', async () => {
    const n = await startTestNode({ limits: { connectionsPerIp: 1 } });
    try {
      for (let i = 0; i < 3; i++) expect((await TestClient.open(n.wsUrl, { token: 'not-a-jwt' }).catch((e) => e)).status).toBe(401);
      await sleep(20);
      const ok = await TestClient.open(n.wsUrl);
      ok.close();
    } finally {
      await n.close();
    }
  });
});

describe('frames built by the server', () => {
  /** A ws connection on 127.0.0.1 whose raw server socket we hold, as the acceptor does (handleUpgrade takes it from us). */
  async function rawPair(perMessageDeflate = false) {
    const server = createHttpServer();
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate });
    const serverSide = new Promise<{ ws: WebSocket; socket: Duplex }>((r) =>
      server.on('upgrade', (req, socket: Duplex, head) => wss.handleUpgrade(req, socket, head, (ws) => r({ ws, socket }))),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { perMessageDeflate });
    const got: string[] = [];
    client.on('message', (m) => got.push(m.toString()));
    const closed = new Promise<number>((r) => client.once('close', (code) => r(code)));
    const [{ ws, socket }] = await Promise.all([serverSide, new Promise((r) => client.once('open', r))]);
    const close = () => {
      client.terminate();
      wss.close();
      server.close();
    };
    return { ws, socket, client, got, closed, close };
  }

  it('are written whole to the connection\'s own socket, in order with ws.send', async () => {
    const p = await rawPair();
    try {
      expect(writeFrame(p.ws, p.socket, sharedTextFrame(OutFrame.fromText('{"type":"ping"}')))).toBe(true);
      p.ws.send('{"after":1}');
      while (p.got.length < 2) await sleep(5);
      expect(p.got).toEqual(['{"type":"ping"}', '{"after":1}']);
    } finally {
      p.close();
    }
  });

  it('are refused once ws has started closing: nothing follows the close frame', async () => {
    const p = await rawPair();
    try {
      p.ws.close(1000, 'bye');
      expect(writeFrame(p.ws, p.socket, sharedTextFrame(OutFrame.fromText('{"late":1}')))).toBe(false);
      expect(await p.closed).toBe(1000);
      expect(p.got).toEqual([]);
    } finally {
      p.close();
    }
  });

  it('are refused on a permessage-deflate connection (ws frames and compresses there)', async () => {
    const p = await rawPair(true);
    try {
      expect(p.ws.extensions).not.toBe('');
      expect(writeFrame(p.ws, p.socket, sharedTextFrame(OutFrame.fromText('{"raw":1}')))).toBe(false);
      const transport = new WebSocketTransport(p.ws, p.socket, { usable: true, written: 0 });
      const frame = OutFrame.fromText('{"deflated":1}');
      transport.write([frame], frame.length);
      while (p.got.length < 1) await sleep(5);
      expect(p.got).toEqual(['{"deflated":1}']);
    } finally {
      p.close();
    }
  });

  it('count toward the bytes the connection holds unsent (client.maxQueueBytes), as ws.send does', async () => {
    const p = await rawPair();
    try {
      // The peer stops reading: what the kernel does not take stays in the socket's buffer.
      p.client.pause();
      const verdict = { usable: true, written: 0 };
      const transport = new WebSocketTransport(p.ws, p.socket, verdict);
      const big = OutFrame.fromText(JSON.stringify({ data: 'z'.repeat(32 * 1024 * 1024) }));
      expect(transport.bufferedBytes).toBe(0);
      transport.write([big], big.length);
      expect(verdict.written).toBe(1);
      // Loopback kernel buffers hold a few MiB at most; the rest of the 32 MiB is counted here.
      expect(transport.bufferedBytes).toBeGreaterThan(16 * 1024 * 1024);
      expect(transport.bufferedBytes).toBeLessThanOrEqual(big.length + 10);
    } finally {
      p.close();
    }
  });

  it('pass the start-up self-test on this ws, and then travel the fast path end to end: bytes intact, in order', async () => {
    expect(await framePath.check(createLogger('silent'))).toBe(true);
    expect(framePath.usable).toBe(true);
    const n = await startTestNode({ websocket: { maxPayload: '1MiB' }, client: { maxQueueBytes: '8MiB' } });
    try {
      const { client } = await TestClient.connect(n.wsUrl, await n.token('fast'));
      await client.ok('subscribe', { channel: 'live:fast' });
      const before = framePath.written;
      const payloads = [0, 1, 120, 130, 65_530, 65_540, 100_000].map((size, i) => `${i}`.padEnd(size, String.fromCharCode(97 + i)));
      for (const p of payloads) {
        await n.node.publish('live:fast', p);
        await new Promise((r) => setImmediate(r));
      }
      await client.waitForPush(() => client.publications('live:fast').length === payloads.length, 10_000);
      expect(client.publications('live:fast').map((p) => p.data)).toEqual(payloads);
      expect(framePath.written - before).toBeGreaterThanOrEqual(payloads.length);
      client.close();
    } finally {
      await n.close();
    }
  });

  it('fail the self-test on a ws that writes differently, and the transport then uses ws.send', async () => {
    const deferred = <A extends unknown[]>(f: (...args: A) => void) => (...args: A) => void setImmediate(() => f(...args));
    // A ws whose sends are queued behind frames written later: the order breaks.
    expect(await checkFramePath({ prepare: (ws) => void (ws.send = deferred(ws.send.bind(ws)) as WebSocket['send']) })).toBe(false);
    // ...whose pings are queued: a ping arrives after the message written after it.
    expect(await checkFramePath({ prepare: (ws) => void (ws.ping = deferred(ws.ping.bind(ws)) as WebSocket['ping']) })).toBe(false);
    // ...whose sends write nothing: messages are missing when the close arrives.
    expect(await checkFramePath({ prepare: (ws) => void (ws.send = (() => {}) as WebSocket['send']), timeoutMs: 1000 })).toBe(false);
    // A connection already closing: writeFrame refuses every frame, so the path is reported missing.
    expect(await checkFramePath({ prepare: (ws) => ws.close(1000, 'early'), timeoutMs: 1000 })).toBe(false);
    // The verdict is what the transport reads: with it false, frames go through ws.send only.
    const p = await rawPair();
    try {
      let sends = 0;
      const send = p.ws.send.bind(p.ws);
      p.ws.send = ((...args: Parameters<WebSocket['send']>) => {
        sends++;
        send(...args);
      }) as WebSocket['send'];
      const verdict = { usable: false, written: 0 };
      const transport = new WebSocketTransport(p.ws, p.socket, verdict);
      const frames = ['{"a":1}', '{"b":2}'].map((t) => OutFrame.fromText(t));
      transport.write([frames[0]!], frames[0]!.length);
      transport.write(frames, frames[0]!.length + frames[1]!.length);
      while (p.got.length < 2) await sleep(5);
      expect(p.got).toEqual(['{"a":1}', '{"a":1}\n{"b":2}']);
      expect(sends).toBe(2);
      expect(verdict.written).toBe(0);
    } finally {
      p.close();
    }
  });

  it('carry payloads across every header-length boundary, alone and coalesced, with and without compression', async () => {
    const sizes = [0, 1, 100, 125, 126, 127, 1000, 65_535, 65_536, 70_000, 200_000];
    for (const compression of [false, true]) {
      const n = await startTestNode({ websocket: { compression, maxPayload: '1MiB' }, client: { maxQueueBytes: '8MiB' } });
      try {
        const { client } = await TestClient.connect(n.wsUrl, await n.token('frames'));
        await client.ok('subscribe', { channel: 'live:frames' });
        // Pad so the whole frame (not only the data) crosses each boundary.
        const base = '{"type":"publication","channel":"live:frames","data":""}'.length;
        const payloads = sizes.map((size) => 'x'.repeat(Math.max(0, size - base)));
        for (const p of payloads) await n.node.publish('live:frames', p); // one per turn: coalesced
        await new Promise((r) => setTimeout(r, 10));
        for (const p of payloads) {
          await n.node.publish('live:frames', p);
          await new Promise((r) => setImmediate(r)); // one per message: the shared pre-built frame
        }
        await client.waitForPush((p) => p.type === 'publication' && client.publications().length === payloads.length * 2, 10_000);
        expect(client.publications().map((p) => p.data)).toEqual([...payloads, ...payloads]);
        client.close();
      } finally {
        await n.close();
      }
    }
  });
});

describe('logs', () => {
  it('never contain tokens or API keys', async () => {
    let text = '';
    const sink = new Writable({
      write(chunk, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    });
    const n = await startTestNode({ logger: createLogger('trace', sink) });
    try {
      const token = await n.token('alice');
      const a = await TestClient.open(n.wsUrl, { token });
      await a.ok('connect');
      const { client: b } = await TestClient.connect(n.wsUrl, token);
      const bad = await TestClient.open(n.wsUrl, { token: token + 'tampered' }).catch((e) => e);
      expect(bad.status).toBe(401);
      await n.api('POST', '/publish', { channel: 'live:x', data: 1 });
      await n.api('GET', '/stats', undefined, { authorization: '', 'x-api-key': TEST_API_KEY + '-read' });
      await n.api('GET', '/stats', undefined, { authorization: 'Bearer wrong-key-0123456789' });
      a.close();
      b.close();
      await sleep(50);
    } finally {
      await n.close();
    }
    expect(text.length).toBeGreaterThan(0);
    expect(text).toContain('api call');
    const secretish = [TEST_API_KEY, 'wrong-key-0123456789', 'eyJ'];
    for (const s of secretish) expect(text).not.toContain(s);
  });
});
