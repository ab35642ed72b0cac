/**
 * WebSocket admission when the shared limits answer late: the upgrade waits for the answer
 * without reading the socket beyond its buffer, and a socket gone meanwhile gives its slot back
 * once. A real HTTP server and raw client sockets on 127.0.0.1; the limits are a
 * MemorySharedLimits behind a gate that holds its answers.
 */
import { createServer, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createJwtVerifier } from '../auth/jwt-verifier.js';
import { NodeLimits } from '../auth/limits.js';
import { resolveConfig } from '../config/schema.js';
import { MemorySharedLimits } from '../engine/memory/memory-limits.js';
import { createLogger } from '../log.js';
import { GatedLimits } from '../test-support/gated-limits.js';
import { WebSocketAcceptor } from './websocket.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Harness {
  port: number;
  gated: GatedLimits;
  limitHits: string[];
  /** The server side of each upgrade request, in order. */
  sockets: Duplex[];
  held(): Promise<number>;
}

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((close) => close()));
});

async function start(input: Record<string, unknown>): Promise<Harness> {
  const config = resolveConfig({ limits: { connectionsPerIp: 5, connectionRatePerIp: 0 }, ...input });
  const shared = new MemorySharedLimits();
  const gated = new GatedLimits(shared.node());
  const limits = new NodeLimits(config, () => {}, gated);
  const limitHits: string[] = [];
  const sockets: Duplex[] = [];
  const acceptor = new WebSocketAcceptor({
    config,
    log: createLogger('silent'),
    verifier: createJwtVerifier({ secret: 'x'.repeat(32) }),
    originAllowed: () => true,
    clientIp: () => '127.0.0.1',
    admit: (ip) => limits.admit(ip, 0),
    accepting: () => true,
    createSession: () => ({ handleMessage: () => {}, handleBadMessage: () => {}, handleTransportClosed: () => {}, connected: () => false }),
    onProtocolError: () => {},
    onAuthFailure: () => {},
    onLimit: (limit) => limitHits.push(limit),
  });
  const server: Server = createServer();
  server.on('upgrade', (req, socket, head) => {
    sockets.push(socket);
    acceptor.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  opened.push(async () => {
    acceptor.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
    await shared.close();
  });
  return { port: (server.address() as AddressInfo).port, gated, limitHits, sockets, held: () => gated.held('conn-ip\u0000127.0.0.1') };
}

function upgrade(port: number): Socket {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(
    'GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tidings.v1\r\n\r\n',
  );
  return socket;
}

/** One masked client text frame with a payload of `size` bytes. */
function textFrame(size: number): Buffer {
  const header = Buffer.alloc(14);
  header[0] = 0x81;
  header[1] = 0x80 | 127;
  header.writeUInt32BE(0, 2);
  header.writeUInt32BE(size, 6);
  // Mask 0: the payload goes out as it is.
  return Buffer.concat([header, Buffer.alloc(size, 0x61)]);
}

describe('websocket admission pending on the shared limits', () => {
  it('a socket reset while its admission is pending gives its IP slot back exactly once', async () => {
    const h = await start({});
    const client = upgrade(h.port);
    await until(() => h.sockets.length === 1, 'the upgrade request');
    client.resetAndDestroy();
    await until(() => h.sockets[0]!.destroyed, 'the server to see the reset');
    // The limits answer now: the slot is taken for a socket that is gone, and must come back.
    h.gated.open();
    await until(async () => h.gated.releases > 0, 'the release');
    await sleep(50);
    expect(h.gated.releases).toBe(1);
    expect(await h.held()).toBe(0);
  });

  it('a socket half-closed while its admission is pending gives its IP slot back exactly once, when the upgrade ends', async () => {
    const h = await start({});
    const client = upgrade(h.port);
    await until(() => h.sockets.length === 1, 'the upgrade request');
    client.end();
    await sleep(50);
    h.gated.open();
    await until(async () => h.gated.releases > 0, 'the release');
    await sleep(50);
    expect(h.gated.releases).toBe(1);
    expect(await h.held()).toBe(0);
    client.destroy();
  });

  it('does not read a socket beyond its buffer while admission is pending; what waited counts toward the pre-connect budget', async () => {
    const h = await start({ websocket: { maxPayload: 4 * 1024 * 1024, preConnectFrames: 0 } });
    const client = upgrade(h.port);
    const received: Buffer[] = [];
    client.on('data', (b: Buffer) => received.push(b));
    // 2 MiB sent before the server answers the upgrade.
    client.write(textFrame(2 * 1024 * 1024));
    await until(() => h.sockets.length === 1, 'the upgrade request');
    await sleep(150);
    const waiting = h.sockets[0]!;
    expect(waiting.readableLength).toBeLessThan(256 * 1024);
    h.gated.open();
    await until(() => h.limitHits.includes('pre_connect_bytes'), 'the pre-connect guard');
    await until(() => Buffer.concat(received).includes(Buffer.from([0x88])), 'the close frame');
    const all = Buffer.concat(received);
    expect(all.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    const close = all.subarray(all.indexOf('\r\n\r\n') + 4);
    expect(close[0]).toBe(0x88);
    expect(close.readUInt16BE(2)).toBe(1008);
    client.destroy();
    await until(async () => (await h.held()) === 0, 'the slot to come back');
    expect(h.gated.releases).toBe(1);
  });
});
