/**
 * Attack classes on the WebSocket and HTTP front door (issue 20 §6), each a named test against a
 * real node on 127.0.0.1: the attacker gets the documented answer (HTTP status and error code, or
 * close code), and the node stays healthy (a fresh client connects, subscribes and publishes),
 * with other clients' service unaffected where that matters. docs/reliability.md "Attack classes"
 * lists every class and the test that covers it.
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, WS_BEARER_PREFIX, WS_SUBPROTOCOL } from '@tidings/protocol';
import { createLogger } from '../log.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import type { TidingsOptions } from '../node.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let nodes: TestNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  nodes = [];
});
async function node(options: TidingsOptions = {}): Promise<TestNode> {
  const n = await startTestNode(options);
  nodes.push(n);
  return n;
}

/** The node serves a fresh client end to end: connect, subscribe, publish, receive its own publication. */
async function expectHealthy(t: TestNode, user = 'fresh'): Promise<void> {
  const { client } = await TestClient.connect(t.wsUrl, await t.token(user));
  try {
    const channel = `chat:health-${randomBytes(4).toString('hex')}`;
    await client.ok('subscribe', { channel });
    await client.ok('publish', { channel, data: { ok: true } });
    const pub = await client.waitForPush((p) => p.type === 'publication' && p.channel === channel);
    expect(pub).toMatchObject({ data: { ok: true } });
  } finally {
    client.close();
  }
}

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `request` (one string, or chunks with `gapMs` between them) on a raw socket and reads the answer until the server closes. */
async function rawRequest(port: number, request: string | string[], gapMs = 0): Promise<RawAnswer> {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  let got = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
  const closed = new Promise((r) => socket.once('close', r));
  const chunks = typeof request === 'string' ? [request] : request;
  let stopped = false;
  void closed.then(() => (stopped = true));
  for (const chunk of chunks) {
    if (stopped) break;
    socket.write(chunk);
    if (gapMs > 0) await sleep(gapMs);
  }
  // A head answered without closing (101, keep-alive) is read once it is complete.
  await Promise.race([closed, waitFor(() => got.indexOf('\r\n\r\n') >= 0 && got.subarray(0, 12).toString() === 'HTTP/1.1 101')]);
  socket.destroy();
  return parseAnswer(got);
}

function parseAnswer(got: Buffer): RawAnswer {
  const end = got.indexOf('\r\n\r\n');
  const head = got.subarray(0, end < 0 ? got.length : end).toString();
  const [statusLine, ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0), headers, body: end < 0 ? '' : got.subarray(end + 4).toString() };
}

async function waitFor(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(10);
  }
}

const upgradeHead = (port: number) =>
  `GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`;
const keyAndVersion = () => `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n`;

/** Sends a ping push round trip on the Tidings protocol: a `presence_stats`-free command every client may send. */
async function roundTrip(client: TestClient): Promise<void> {
  const reply = await client.call('history', { channel: 'chat:rt', limit: 0 });
  expect(reply).toHaveProperty('id');
}

describe('attacks on the handshake', () => {
  it('attack: cross-site WebSocket hijacking (Origin not allowed) is refused with 403 forbidden, a valid token notwithstanding', async () => {
    const t = await node({ allowedOrigins: ['https://app.example.com'] });
    const token = await t.token('victim');
    for (const origin of ['https://evil.example.net', 'null', 'https://app.example.com.evil.net', 'http://app.example.com']) {
      const refused = await TestClient.open(t.wsUrl, { token, headers: { origin } }).catch((e: { status?: number; body?: string }) => e);
      expect(refused.status, origin).toBe(403);
      expect(JSON.parse(refused.body!)).toEqual({ error: { code: 'forbidden', message: 'origin not allowed' } });
    }
    // The allowed origin (the app itself) gets the user's connection.
    const ok = await TestClient.open(t.wsUrl, { token, headers: { origin: 'https://app.example.com' } });
    expect(await ok.ok('connect')).toMatchObject({ user: 'victim' });
    ok.close();
    await expectHealthy(t);
  });

  it('attack: 2,000 headers without Sec-WebSocket-Protocol (CVE-2024-37890) get 400, and the node carries on', async () => {
    const t = await node();
    const filler = Array.from({ length: 2000 }, (_, i) => `x${i}: a\r\n`).join('');
    // The handshake's own headers after the 2,000 others: Node keeps the first 2,000 (maxHeadersCount), so they are lost.
    const after = await rawRequest(t.port, `${upgradeHead(t.port)}${filler}${keyAndVersion()}\r\n`);
    expect(after.status).toBe(400);
    // Before them: a normal handshake, whatever follows.
    const before = await rawRequest(t.port, `${upgradeHead(t.port)}${keyAndVersion()}${filler}\r\n`);
    expect(before.status).toBe(101);
    await expectHealthy(t);
  });

  it('attack: a 64 KB Sec-WebSocket-Protocol (CVE-2021-32640) is answered with the documented bare 400 (a 15 KB one of separators too), while a connected client keeps its round trips', async () => {
    const t = await node();
    const { client: bystander } = await TestClient.connect(t.wsUrl, await t.token('bystander'));
    await bystander.ok('subscribe', { channel: 'chat:rt' });
    // Beyond Node's header limit (16 KiB): refused by the HTTP parser, before any subprotocol parsing
    // (docs/errors.md: a request the server cannot parse gets a bare 400 Bad Request).
    const huge = `${upgradeHead(t.port)}${keyAndVersion()}Sec-WebSocket-Protocol: ${'a,'.repeat(32 * 1024)}b\r\n\r\n`;
    const [big] = await Promise.all([rawRequest(t.port, huge), roundTrip(bystander)]);
    expect(big.status).toBe(400);
    expect(big.body).toBe('');
    // Within it: the pathological shape of the ReDoS (spaces and commas, no valid token), parsed linearly.
    const spaces = `${upgradeHead(t.port)}${keyAndVersion()}Sec-WebSocket-Protocol: b${' '.repeat(15_000)},\r\n\r\n`;
    const [sp] = await Promise.all([rawRequest(t.port, spaces), roundTrip(bystander)]);
    expect(sp.status).toBe(400);
    // A bearer entry with a long garbage token beside tidings.v1: 401 unauthorized.
    const bearer = `${upgradeHead(t.port)}${keyAndVersion()}Sec-WebSocket-Protocol: ${WS_SUBPROTOCOL}, ${WS_BEARER_PREFIX}${'x'.repeat(15_000)}\r\n\r\n`;
    const [bad] = await Promise.all([rawRequest(t.port, bearer), roundTrip(bystander)]);
    expect(bad.status).toBe(401);
    expect(JSON.parse(bad.body)).toMatchObject({ error: { code: 'unauthorized' } });
    await roundTrip(bystander);
    bystander.close();
    await expectHealthy(t);
  });
});

/** One masked client frame. */
function clientFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const n = payload.length;
  const ext = n < 126 ? Buffer.alloc(0) : Buffer.alloc(2);
  if (n >= 126) ext.writeUInt16BE(n);
  const mask = randomBytes(4);
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | (n < 126 ? n : 126)]), ext, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]);
}

/** A raw WebSocket connection that sent `connect` with `token` and got its reply; then it reads nothing unless told. */
async function rawConnected(t: TestNode, token: string): Promise<{ socket: Socket; closed: Promise<void>; received: () => Buffer }> {
  const socket = netConnect(t.port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  let got = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.write(`${upgradeHead(t.port)}${keyAndVersion()}Sec-WebSocket-Protocol: ${WS_SUBPROTOCOL}\r\n\r\n`);
  await waitFor(() => got.indexOf('\r\n\r\n') >= 0);
  expect(got.subarray(0, 12).toString()).toBe('HTTP/1.1 101');
  socket.write(clientFrame(1, Buffer.from(JSON.stringify({ id: 1, type: 'connect', token }))));
  await waitFor(() => got.includes('"result"'));
  return { socket, closed, received: () => got };
}

/** The value of `tidings_limit_hits_total{limit}` on a node. */
async function limitHits(t: TestNode, limit: string): Promise<number> {
  const m = new RegExp(`^tidings_limit_hits_total\\{limit="${limit}"\\} (\\d+)$`, 'm').exec(await t.node.metrics.render());
  return m ? Number(m[1]) : NaN;
}

/** The JSON log lines written so far. */
function logLines(text: string): Array<Record<string, unknown>> {
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Like expectAllDelivered, on a channel others publish to as well: only `publisher`'s publications are counted. */
async function expectAllDeliveredFrom(publisher: TestClient, reader: TestClient, channel: string, count: number, during: Promise<unknown>): Promise<void> {
  const publishing = (async () => {
    for (let n = 1; n <= count; n++) {
      await publisher.ok('publish', { channel, data: { n } });
      await sleep(2);
    }
  })();
  await Promise.all([publishing, during]);
  const mine = () => reader.publications(channel).filter((p) => typeof (p.data as { n?: number }).n === 'number');
  await waitFor(() => mine().length >= count);
  expect(mine().map((p) => (p.data as { n: number }).n)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
}

/** Publishes `count` messages on `channel` from `publisher` while `during` runs, and checks `reader` got every one, in order. */
async function expectAllDelivered(publisher: TestClient, reader: TestClient, channel: string, count: number, during: Promise<unknown>): Promise<void> {
  const publishing = (async () => {
    for (let n = 1; n <= count; n++) {
      await publisher.ok('publish', { channel, data: { n } });
      await sleep(2);
    }
  })();
  await Promise.all([publishing, during]);
  await waitFor(() => reader.publications(channel).length >= count);
  expect(reader.publications(channel).map((p) => (p.data as { n: number }).n)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
}

describe('floods', () => {
  it('attack: ping flood from a client that reads nothing is cut off as a slow consumer (4002 slow, counted), while another client gets every publication', async () => {
    let text = '';
    const sink = new Writable({ write(c, _e, cb) { text += c.toString(); cb(); } });
    const t = await node({ client: { maxQueueBytes: 256 * 1024 }, logger: createLogger('info', sink) });
    const { client: reader } = await TestClient.connect(t.wsUrl, await t.token('reader'));
    const { client: publisher } = await TestClient.connect(t.wsUrl, await t.token('publisher'));
    await reader.ok('subscribe', { channel: 'chat:flood' });
    await publisher.ok('subscribe', { channel: 'chat:flood' });
    const flooder = await rawConnected(t, await t.token('flooder'));
    flooder.socket.pause();
    const ping = clientFrame(9, Buffer.alloc(125, 7));
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => ping));
    let gone = false;
    void flooder.closed.then(() => (gone = true));
    const flood = (async () => {
      // At most 40 MB of pings (as many pongs held for a peer that never reads them).
      for (let i = 0; i < 300 && !gone; i++) {
        if (!flooder.socket.write(batch)) await Promise.race([new Promise((r) => flooder.socket.once('drain', r)), flooder.closed, sleep(200)]);
      }
    })();
    await expectAllDelivered(publisher, reader, 'chat:flood', 50, flood);
    // Its close frame waits behind the pongs it never read, so the node cut it off after client.closeTimeout.
    flooder.socket.resume();
    await flooder.closed;
    const disconnect = logLines(text).find((l) => l.msg === 'audit disconnect' && l.user === 'flooder');
    expect(disconnect).toMatchObject({ code: CloseCode.Slow, reason: 'slow' });
    // docs/errors.md 4002: the node held no more than client.maxQueueBytes of pongs for it, and counted it.
    expect((await t.node.stats()).slowDisconnectsTotal).toBe(1);
    reader.close();
    publisher.close();
    await expectHealthy(t);
  });

  it('attack: message flood gets rate_limited, then close 4008, while another client gets every publication', async () => {
    const t = await node({ limits: { commandRate: 100, rateLimitStrikes: 5 } });
    const { client: reader } = await TestClient.connect(t.wsUrl, await t.token('reader'));
    const { client: publisher } = await TestClient.connect(t.wsUrl, await t.token('publisher'));
    await reader.ok('subscribe', { channel: 'chat:flood' });
    await publisher.ok('subscribe', { channel: 'chat:flood' });
    const { client: flooder } = await TestClient.connect(t.wsUrl, await t.token('flooder'));
    await flooder.ok('subscribe', { channel: 'chat:flood' });
    const flood = (async () => {
      // Publishes to the very channel the others use, as fast as it can: at most 2,000 commands.
      for (let i = 0; i < 20 && flooder.ws.readyState === 1; i++) {
        for (let j = 0; j < 100; j++) flooder.send(JSON.stringify({ id: 1000 + i * 100 + j, type: 'publish', channel: 'chat:flood', data: { spam: j } }));
        await sleep(5);
      }
    })();
    const publishing = expectAllDeliveredFrom(publisher, reader, 'chat:flood', 50, flood);
    expect((await flooder.closed).code).toBe(CloseCode.RateLimit);
    await publishing;
    expect(flooder.messages.some((m) => m.includes('"rate_limited"'))).toBe(true);
    reader.close();
    publisher.close();
    await expectHealthy(t);
  });
});


describe('slowloris', () => {
  it('attack: slowloris on HTTP (request headers trickled) gets 408 after limits.handshakeTimeout, counted, and the node carries on', async () => {
    const t = await node({ limits: { handshakeTimeout: 300 } });
    const drip = ['GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n', ...Array.from({ length: 40 }, (_, i) => `X-Slow-${i}: 1\r\n`)];
    const answer = await rawRequest(t.port, drip, 50);
    expect(answer.status).toBe(408);
    expect(answer.body).toBe('');
    expect(await limitHits(t, 'handshake_timeout')).toBe(1);
    await expectHealthy(t);
  });

  it('attack: slowloris on a WebSocket upgrade (handshake headers trickled) gets 408, counted, and a connected client is unaffected', async () => {
    const t = await node({ limits: { handshakeTimeout: 300 } });
    const { client: bystander } = await TestClient.connect(t.wsUrl, await t.token('bystander'));
    const drip = [upgradeHead(t.port), ...Array.from({ length: 40 }, (_, i) => `X-Slow-${i}: 1\r\n`)];
    const [answer] = await Promise.all([rawRequest(t.port, drip, 50), roundTrip(bystander)]);
    expect(answer.status).toBe(408);
    expect(await limitHits(t, 'handshake_timeout')).toBe(1);
    await roundTrip(bystander);
    bystander.close();
    await expectHealthy(t);
  });
});

describe('secrets', () => {
  it('attack: a token never reaches a log line or a URL (WebSocket, SSE, long-polling, refusals, dashboard redirects)', async () => {
    let text = '';
    const sink = new Writable({ write(c, _e, cb) { text += c.toString(); cb(); } });
    const t = await node({ logger: createLogger('trace', sink), allowedOrigins: ['https://app.example'] });
    const base = `http://127.0.0.1:${t.port}`;
    const token = await t.token('alice');
    const tampered = token.slice(0, -4) + 'AAAA';
    const urls: string[] = [];
    // WebSocket: the bearer subprotocol, the connect command, a refused handshake and a refused connect.
    const a = await TestClient.open(t.wsUrl, { token });
    await a.ok('connect');
    const { client: b } = await TestClient.connect(t.wsUrl, token);
    expect(((await TestClient.open(t.wsUrl, { token: tampered }).catch((e) => e)) as { status: number }).status).toBe(401);
    const c = await TestClient.open(t.wsUrl);
    expect(await c.call('connect', { token: tampered })).toMatchObject({ error: { code: 'unauthorized' } });
    // A token in the query string is not read, and not logged.
    const q = await TestClient.open(`${t.wsUrl}?token=${token}`);
    expect(await q.call('connect')).toMatchObject({ error: { code: 'unauthorized' } });
    // SSE and long-polling: the token in Authorization only; the stream's URL carries a ticket.
    for (const transport of ['sse', 'polling']) {
      const res = await fetch(`${base}/connection/open`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ transport }) });
      expect(res.status).toBe(200);
      const opened = (await res.json()) as { session: string; ticket?: string };
      if (opened.ticket) urls.push(`${base}/connection/sse?ticket=${opened.ticket}`);
      urls.push(`${base}/connection/${transport === 'sse' ? 'sse' : 'poll'}/${opened.session}`);
      const refused = await fetch(`${base}/connection/open?token=${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ transport, token: tampered }) });
      expect(refused.status).toBe(401);
    }
    // The dashboard's sign-in: its redirects name no secret.
    for (const code of [token, 'nope']) {
      const res = await fetch(`${base}/dashboard/api/sign-in?code=${encodeURIComponent(code)}`, { redirect: 'manual' });
      expect(res.status).toBe(302);
      urls.push(res.headers.get('location') ?? '');
    }
    for (const client of [a, b, c, q]) client.close();
    await sleep(50);
    for (const url of urls) {
      expect(url).not.toContain(token);
      expect(url).not.toContain('eyJ');
    }
    const lines = text.split('\n').filter((l) => l.length > 0);
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      expect(() => JSON.parse(line)).not.toThrow();
      expect(line).not.toContain(token.split('.')[2]);
      expect(line).not.toContain(tampered.split('.')[2]);
      expect(line).not.toContain('eyJ');
    }
    await expectHealthy(t);
  });
});
