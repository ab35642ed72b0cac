import { generateKeyPair, exportSPKI, SignJWT } from 'jose';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { OutFrame } from '../hub/out-frame.js';
import { sharedTextFrame, writeFrame } from './ws-frames.js';
import { CloseCode, WS_BEARER_PREFIX, WS_SUBPROTOCOL } from '@tidings/protocol';
import { mintToken } from '../auth/token-mint.js';
import { createLogger } from '../log.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_API_KEY, TEST_SECRET, type TestNode } from '../test-support/test-node.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

  it('ignores other paths', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}/elsewhere`);
    const err = await new Promise<Error>((resolve) => ws.once('error', resolve));
    expect(err).toBeInstanceOf(Error);
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
      expect(n.node.stats().badRequestsTotal).toBeGreaterThanOrEqual(1);
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
      expect(n.node.stats().slowDisconnectsTotal).toBe(1);
      expect(n.node.stats().connectedSockets).toBe(1);
      fast.close();
    } finally {
      await n.close();
    }
  }, 30_000);
});

describe('frames built by the server', () => {
  it('go through the ws sender of this ws version (the fast path is not silently lost)', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const port = (wss.address() as AddressInfo).port;
    const serverSide = new Promise<WebSocket>((r) => wss.once('connection', r));
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    const got = new Promise<string>((r) => client.once('message', (m) => r(m.toString())));
    const ws = await serverSide;
    const frame = OutFrame.fromText('{"type":"ping"}');
    expect(writeFrame(ws, sharedTextFrame(frame))).toBe(true);
    expect(await got).toBe('{"type":"ping"}');
    client.close();
    wss.close();
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
