/**
 * Mini-Autobahn, part 1 (RFC 6455; Autobahn groups 1–4): framing, pings and pongs, reserved
 * bits and reserved opcodes, byte by byte against a real node on 127.0.0.1 (test-support/raw-ws.ts).
 * Each case asserts the exact close code or echo. Data frames carry Tidings commands, as the
 * server speaks the Tidings protocol over the socket; where the Tidings layer answers
 * (an empty message, binary on a JSON connection) the documented 4501 is asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import { OP, RawWs } from '../test-support/raw-ws.js';

let t: TestNode;
let token: string;
const open: RawWs[] = [];

beforeAll(async () => {
  t = await startTestNode();
  token = await t.token('alice');
});
afterAll(async () => {
  for (const c of open) c.destroy();
  await t.close();
});

async function raw(protocols?: string[]): Promise<RawWs> {
  const c = await RawWs.open(t.wsUrl, protocols ? { protocols } : {});
  open.push(c);
  return c;
}

/** A connection whose `connect` was accepted (so the pre-connect budget no longer applies). */
async function connected(protocols?: string[]): Promise<RawWs> {
  const c = await raw(protocols);
  await c.connect(token);
  return c;
}

/** A command of exactly `size` bytes: an unknown command, padded with JSON whitespace, answered `unknown_command`. */
function commandOfSize(id: number, size: number): Buffer {
  const base = `{"id":${id},"type":"nop"}`;
  expect(size).toBeGreaterThanOrEqual(base.length);
  return Buffer.from(base + ' '.repeat(size - base.length));
}

const packr = new Packr({ useRecords: false });

/** A MessagePack command of exactly `size` bytes (an unknown command with padding). */
function msgpackOfSize(id: number, size: number): Buffer {
  for (let pad = Math.max(0, size - 40); pad <= size; pad++) {
    const b = packr.pack({ id, type: 'nop', pad: 'p'.repeat(pad) });
    if (b.length === size) return b;
    if (b.length > size) break;
  }
  throw new Error(`no MessagePack command of ${size} bytes`);
}

/** The connection still works: a fresh command gets its reply. */
async function stillServes(c: RawWs): Promise<void> {
  const id = c.command({ type: 'nop' });
  expect((await c.reply(id)).error.code).toBe('unknown_command');
}

describe('autobahn 1: framing (text and binary messages by length)', () => {
  it('1.1.1 an empty text message is a message with no frame: disconnect push, then 4501', async () => {
    const c = await connected();
    c.text('');
    const push = await c.frame((f) => f.type === 'disconnect');
    expect(push.code).toBe(4501);
    expect((await c.closedWithin()).code).toBe(4501);
  });

  it.each([125, 126, 127, 65535, 65536])('1.1.x a text message of %i bytes (7-bit, 16-bit and 64-bit lengths, up to maxPayload) is read whole', async (size) => {
    const c = await connected();
    c.text(commandOfSize(7, size));
    const r = await c.reply(7);
    expect(r.error).toMatchObject({ code: 'unknown_command' });
    await stillServes(c);
  });

  it('1.1.8 a text message of maxPayload + 1 bytes closes with 1009', async () => {
    const c = await connected();
    c.text(commandOfSize(7, 65537));
    expect((await c.closedWithin()).code).toBe(1009);
  });

  it('1.2.1 a binary message on a JSON connection: disconnect push, then 4501', async () => {
    const c = await connected();
    c.send({ opcode: OP.binary, payload: Buffer.from([1, 2, 3]) });
    expect((await c.frame((f) => f.type === 'disconnect')).code).toBe(4501);
    expect((await c.closedWithin()).code).toBe(4501);
  });

  it.each([125, 126, 65535, 65536])('1.2.x a binary MessagePack message of %i bytes is read whole', async (size) => {
    const c = await connected(['tidings.v1.msgpack', 'tidings.v1']);
    expect(c.headers['sec-websocket-protocol']).toBe('tidings.v1.msgpack');
    c.send({ opcode: OP.binary, payload: msgpackOfSize(9, size) });
    const reply = await c.nextMessage();
    expect(reply.opcode).toBe(OP.binary);
    expect(packr.unpack(reply.payload)).toMatchObject({ id: 9, error: { code: 'unknown_command' } });
  });

  it('1.2.8 a binary message of maxPayload + 1 bytes closes with 1009', async () => {
    const c = await connected(['tidings.v1.msgpack', 'tidings.v1']);
    c.send({ opcode: OP.binary, payload: Buffer.alloc(65537) });
    expect((await c.closedWithin()).code).toBe(1009);
  });

  it('a frame announcing a 64-bit length with the top bit set closes with 1009', async () => {
    const c = await connected();
    c.send({ opcode: OP.text, payload: Buffer.alloc(0), announcedLength: 0x8000000000000000n });
    expect((await c.closedWithin()).code).toBe(1009);
  });

  it('an unmasked client frame closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.text, payload: '{"id":5,"type":"nop"}', unmasked: true });
    expect((await c.closedWithin()).code).toBe(1002);
  });
});

describe('autobahn 2: pings and pongs', () => {
  it('2.1 a ping without payload is answered by a pong without payload', async () => {
    const c = await connected();
    c.send({ opcode: OP.ping });
    const pong = await c.nextControl();
    expect(pong.opcode).toBe(OP.pong);
    expect(pong.payload.length).toBe(0);
  });

  it('2.2 a ping with a text payload is answered by a pong with the exact payload', async () => {
    const c = await connected();
    c.send({ opcode: OP.ping, payload: 'Hello, world!' });
    const pong = await c.nextControl();
    expect(pong.opcode).toBe(OP.pong);
    expect(pong.payload.toString()).toBe('Hello, world!');
  });

  it('2.3/2.4 a ping with 125 bytes of binary payload is echoed byte for byte', async () => {
    const c = await connected();
    const payload = Buffer.from(Array.from({ length: 125 }, (_, i) => (i * 37 + 255) & 0xff));
    c.send({ opcode: OP.ping, payload });
    const pong = await c.nextControl();
    expect(pong.opcode).toBe(OP.pong);
    expect(pong.payload.equals(payload)).toBe(true);
  });

  it('2.5 a ping with 126 bytes of payload closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.ping, payload: Buffer.alloc(126, 0xfe) });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('2.6 a ping sent a byte at a time is still echoed', async () => {
    const c = await connected();
    const frame = Buffer.from([0x89, 0x80 | 4, 1, 2, 3, 4, 'p'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2, 'n'.charCodeAt(0) ^ 3, 'g'.charCodeAt(0) ^ 4]);
    for (const byte of frame) {
      c.sendRaw(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 2));
    }
    expect((await c.nextControl()).payload.toString()).toBe('ping');
  });

  it('2.7 an unsolicited pong without payload is ignored', async () => {
    const c = await connected();
    c.send({ opcode: OP.pong });
    await stillServes(c);
    expect(c.isClosed).toBe(false);
  });

  it('2.8 an unsolicited pong with payload is ignored', async () => {
    const c = await connected();
    c.send({ opcode: OP.pong, payload: Buffer.alloc(125, 0x61) });
    await stillServes(c);
    expect(c.isClosed).toBe(false);
  });

  it('2.9 an unsolicited pong, then a ping: only the ping is answered', async () => {
    const c = await connected();
    c.send({ opcode: OP.pong, payload: 'unsolicited' }, { opcode: OP.ping, payload: 'solicited' });
    const pong = await c.nextControl();
    expect(pong.payload.toString()).toBe('solicited');
  });

  it('2.10 ten pings in a row get ten pongs, in order', async () => {
    const c = await connected();
    c.send(...Array.from({ length: 10 }, (_, i) => ({ opcode: OP.ping, payload: `payload-${i}` })));
    for (let i = 0; i < 10; i++) expect((await c.nextControl()).payload.toString()).toBe(`payload-${i}`);
  });

  it('a ping before connect is answered too', async () => {
    const c = await raw();
    c.send({ opcode: OP.ping, payload: 'early' });
    expect((await c.nextControl()).payload.toString()).toBe('early');
    await c.connect(token);
  });
});

describe('autobahn 3: reserved bits without a negotiated extension', () => {
  it.each([
    ['3.1 RSV1', 4],
    ['3.2 RSV2', 2],
    ['3.3 RSV3', 1],
    ['3.5 RSV1|RSV2|RSV3', 7],
  ])('%s on a text frame closes with 1002', async (_name, rsv) => {
    const c = await connected();
    c.send({ opcode: OP.text, payload: '{"id":5,"type":"nop"}', rsv });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('3.4 a good command answered, then RSV1|RSV2 on a frame followed by a ping: 1002 and no pong', async () => {
    const c = await connected();
    await stillServes(c);
    c.send({ opcode: OP.text, payload: '{"id":6,"type":"nop"}', rsv: 6 }, { opcode: OP.ping, payload: 'late' });
    expect((await c.closedWithin()).code).toBe(1002);
    await expect(c.nextControl(50)).rejects.toThrow(/closed/);
  });

  it('3.6 RSV3 on a ping closes with 1002 (no pong)', async () => {
    const c = await connected();
    c.send({ opcode: OP.ping, payload: 'x', rsv: 1 });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('3.7 RSV1 on a binary frame closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.binary, payload: Buffer.from([1]), rsv: 4 });
    expect((await c.closedWithin()).code).toBe(1002);
  });
});

describe('autobahn 4: reserved opcodes', () => {
  it.each([3, 4, 5, 6, 7])('4.1 reserved data opcode %i closes with 1002', async (opcode) => {
    const c = await connected();
    c.send({ opcode, payload: 'reserved' });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it.each([0xb, 0xc, 0xd, 0xe, 0xf])('4.2 reserved control opcode %i closes with 1002', async (opcode) => {
    const c = await connected();
    c.send({ opcode, payload: 'reserved' });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('4.1.3 a good command answered, then a reserved opcode followed by a ping: 1002 and no pong', async () => {
    const c = await connected();
    await stillServes(c);
    c.send({ opcode: 5 }, { opcode: OP.ping, payload: 'late' });
    expect((await c.closedWithin()).code).toBe(1002);
    await expect(c.nextControl(50)).rejects.toThrow(/closed/);
  });
});
