/**
 * Mini-Autobahn, part 3 (RFC 6455 §7.4 and RFC 7692; Autobahn groups 7, 9, 12 and 13): close
 * codes and payloads, message size limits, and permessage-deflate (round trips, reserved bits,
 * a decompression bomb), byte by byte against real nodes on 127.0.0.1 (test-support/raw-ws.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deflateRawSync } from 'node:zlib';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import { OP, RawWs, closePayload, deflate } from '../test-support/raw-ws.js';

let t: TestNode;
let z: TestNode;
let token: string;
const open: RawWs[] = [];

beforeAll(async () => {
  t = await startTestNode();
  // A node with permessage-deflate on (websocket.compression).
  z = await startTestNode({ websocket: { compression: true } });
  token = await t.token('alice');
});
afterAll(async () => {
  for (const c of open) c.destroy();
  await Promise.all([t.close(), z.close()]);
});

async function connected(node: TestNode = t, deflateOffer = false): Promise<RawWs> {
  const c = await RawWs.open(node.wsUrl, { deflate: deflateOffer });
  open.push(c);
  await c.connect(token);
  return c;
}

describe('autobahn 7: closing', () => {
  it.each([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999])('7.7 a close with valid code %i is echoed with the same code', async (code) => {
    const c = await connected();
    c.send({ opcode: OP.close, payload: closePayload(code) });
    expect((await c.closedWithin()).code).toBe(code);
  });

  it('7.1 a close with code 1000 and a reason is echoed with both', async () => {
    const c = await connected();
    c.send({ opcode: OP.close, payload: closePayload(1000, 'bye now') });
    const closed = await c.closedWithin();
    expect(closed.code).toBe(1000);
    expect(closed.reason).toBe('bye now');
  });

  it('7.3.1 a close without payload is answered by a close without payload', async () => {
    const c = await connected();
    c.send({ opcode: OP.close });
    const closed = await c.closedWithin();
    expect(closed.code).toBe(1005);
    expect(closed.payload.length).toBe(0);
  });

  it('7.3.2 a close with a 1-byte payload closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.close, payload: Buffer.from([0x03]) });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('7.3.5 a close with a 123-byte reason (125-byte payload) is echoed', async () => {
    const c = await connected();
    const reason = 'r'.repeat(123);
    c.send({ opcode: OP.close, payload: closePayload(1000, reason) });
    const closed = await c.closedWithin();
    expect(closed.code).toBe(1000);
    expect(closed.reason).toBe(reason);
  });

  it('7.3.6 a close with a 126-byte payload closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.close, payload: closePayload(1000, 'r'.repeat(124)) });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it.each([0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])('7.9 a close with invalid code %i closes with 1002', async (code) => {
    const c = await connected();
    c.send({ opcode: OP.close, payload: closePayload(code) });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('7.1.5 frames after the close are not answered', async () => {
    const c = await connected();
    c.send({ opcode: OP.close, payload: closePayload(1000) }, { opcode: OP.ping, payload: 'after' }, { opcode: OP.text, payload: '{"id":5,"type":"nop"}' });
    expect((await c.closedWithin()).code).toBe(1000);
    await expect(c.nextControl(100)).rejects.toThrow(/closed/);
  });
});

describe('autobahn 9: limits', () => {
  it('9.x a 64 KiB message (maxPayload) sent in 1 KiB fragments is read whole', async () => {
    const c = await connected();
    const body = Buffer.from(`{"id":5,"type":"nop"}${' '.repeat(65536 - 21)}`);
    const specs = Array.from({ length: 32 }, (_, i) => ({ opcode: i === 0 ? OP.text : OP.cont, fin: i === 31, payload: body.subarray(i * 2048, (i + 1) * 2048) }));
    c.send(...specs);
    expect((await c.reply(5)).error.code).toBe('unknown_command');
  });

  it('9.x a message one byte over maxPayload, in fragments, closes with 1009 and the node carries on', async () => {
    const c = await connected();
    const body = Buffer.alloc(65537, 0x20);
    c.send({ opcode: OP.text, fin: false, payload: body.subarray(0, 40000) }, { opcode: OP.cont, fin: true, payload: body.subarray(40000) });
    expect((await c.closedWithin()).code).toBe(1009);
    await connected();
  });
});

describe('autobahn 12/13: permessage-deflate', () => {
  it('13.1 the node with websocket.compression negotiates permessage-deflate; the default node does not', async () => {
    const on = await connected(z, true);
    expect(on.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate/);
    const off = await connected(t, true);
    expect(off.headers['sec-websocket-extensions']).toBeUndefined();
  });

  it('12.1 a compressed publish round trips: the compressed command is read, the publication comes back compressed', async () => {
    const c = await connected(z, true);
    const sub = c.command({ type: 'subscribe', channel: 'chat:deflate' });
    expect((await c.reply(sub)).result).toBeDefined();
    const data = { text: 'compress me '.repeat(300), n: 42 };
    c.send({ opcode: OP.text, rsv: 4, payload: deflate(JSON.stringify({ id: 9, type: 'publish', channel: 'chat:deflate', data })) });
    // The raw queue sees the publication message; it was compressed (RSV1) and inflated by the helper.
    const pub = await c.frame((f) => f.type === 'publication');
    expect(pub.data).toEqual(data);
    expect((await c.reply(9)).result).toBeDefined();
  });

  it('12.2 a compressed message in fragments (RSV1 on the first only) is read whole', async () => {
    const c = await connected(z, true);
    const compressed = deflate(`{"id":5,"type":"nop","pad":"${'abc'.repeat(200)}"}`);
    const mid = Math.floor(compressed.length / 2);
    c.send({ opcode: OP.text, fin: false, rsv: 4, payload: compressed.subarray(0, mid) }, { opcode: OP.cont, fin: true, payload: compressed.subarray(mid) });
    expect((await c.reply(5)).error.code).toBe('unknown_command');
  });

  it('uncompressed messages are still accepted on a deflate connection', async () => {
    const c = await connected(z, true);
    c.text('{"id":5,"type":"nop"}');
    expect((await c.reply(5)).error.code).toBe('unknown_command');
  });

  it('RSV1 on a continuation frame closes with 1002', async () => {
    const c = await connected(z, true);
    const compressed = deflate('{"id":5,"type":"nop"}');
    c.send({ opcode: OP.text, fin: false, rsv: 4, payload: compressed.subarray(0, 4) }, { opcode: OP.cont, fin: true, rsv: 4, payload: compressed.subarray(4) });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('RSV1 on a ping closes with 1002 even with deflate negotiated', async () => {
    const c = await connected(z, true);
    c.send({ opcode: OP.ping, rsv: 4, payload: deflate('ping') });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('a compressed payload that is not deflate data closes with 1007', async () => {
    const c = await connected(z, true);
    c.send({ opcode: OP.text, rsv: 4, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x13, 0x37]) });
    expect((await c.closedWithin()).code).toBe(1007);
  });

  it('a decompression bomb (16 MiB of zeros in ~16 KiB) closes with 1009, and the node serves a fresh client', async () => {
    const c = await connected(z, true);
    const full = deflateRawSync(Buffer.alloc(16 * 1024 * 1024), { level: 9, finishFlush: 2 });
    const bomb = full.subarray(0, full.length - 4);
    expect(bomb.length).toBeLessThan(64 * 1024);
    c.send({ opcode: OP.text, rsv: 4, payload: bomb });
    expect((await c.closedWithin()).code).toBe(1009);
    const fresh = await connected(z, true);
    fresh.text('{"id":5,"type":"nop"}');
    expect((await fresh.reply(5)).error.code).toBe('unknown_command');
  });

  it('a compressed message that inflates to maxPayload + 1 closes with 1009', async () => {
    const c = await connected(z, true);
    c.send({ opcode: OP.text, rsv: 4, payload: deflate(Buffer.alloc(65537, 0x20)) });
    expect((await c.closedWithin()).code).toBe(1009);
  });
});
