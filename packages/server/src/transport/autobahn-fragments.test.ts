/**
 * Mini-Autobahn, part 2 (RFC 6455; Autobahn groups 5 and 6): fragmentation and UTF-8, byte by
 * byte against a real node on 127.0.0.1 (test-support/raw-ws.ts). Each case asserts the exact
 * close code, or the Tidings reply the fragmented command earns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import { OP, RawWs, type FrameSpec } from '../test-support/raw-ws.js';

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

async function raw(): Promise<RawWs> {
  const c = await RawWs.open(t.wsUrl);
  open.push(c);
  return c;
}

async function connected(): Promise<RawWs> {
  const c = await raw();
  await c.connect(token);
  return c;
}

/** `bytes` cut into `n` fragments (a text message, then continuations). */
function fragments(bytes: Buffer, cuts: number[], opcode: number = OP.text): FrameSpec[] {
  const points = [0, ...cuts, bytes.length];
  return points.slice(1).map((end, i) => ({
    opcode: i === 0 ? opcode : OP.cont,
    fin: i === points.length - 2,
    payload: bytes.subarray(points[i]!, end),
  }));
}

const NOP = Buffer.from('{"id":5,"type":"nop"}');

describe('autobahn 5: fragmentation', () => {
  it('5.1/5.3 a connect command in three fragments is answered', async () => {
    const c = await raw();
    const connect = Buffer.from(JSON.stringify({ id: 1, type: 'connect', token }));
    c.send(...fragments(connect, [10, 40]));
    const r = await c.reply(1);
    expect(r.result.user).toBe('alice');
  });

  it('5.5 fragments sent one TCP write at a time are joined', async () => {
    const c = await connected();
    for (const f of fragments(NOP, [3, 9, 15])) {
      c.send(f);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await c.reply(5)).error.code).toBe('unknown_command');
  });

  it('5.6/5.7 a ping between fragments is answered first, and the message still arrives whole', async () => {
    const c = await connected();
    const [a, b] = fragments(NOP, [8]);
    c.send(a!, { opcode: OP.ping, payload: 'between' }, b!);
    expect((await c.nextControl()).payload.toString()).toBe('between');
    expect((await c.reply(5)).error.code).toBe('unknown_command');
  });

  it('5.8 a ping between fragments sent apart is answered before the message completes', async () => {
    const c = await connected();
    const [a, b] = fragments(NOP, [8]);
    c.send(a!, { opcode: OP.ping, payload: 'midway' });
    expect((await c.nextControl()).payload.toString()).toBe('midway');
    c.send(b!);
    expect((await c.reply(5)).error.code).toBe('unknown_command');
  });

  it('5.9 a continuation frame without a message to continue (fin) closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.cont, fin: true, payload: NOP });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('5.10 a continuation frame without a message to continue (not fin) closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.cont, fin: false, payload: NOP });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('5.13 a continuation after a complete message closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.text, payload: NOP });
    expect((await c.reply(5)).error.code).toBe('unknown_command');
    c.send({ opcode: OP.cont, fin: true, payload: 'more' });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('5.18 a new text frame inside a fragmented message closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.text, fin: false, payload: NOP.subarray(0, 5) }, { opcode: OP.text, fin: true, payload: NOP });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('a new binary frame inside a fragmented text message closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.text, fin: false, payload: NOP.subarray(0, 5) }, { opcode: OP.binary, fin: true, payload: Buffer.from([1]) });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('5.2 a fragmented ping closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.ping, fin: false, payload: 'frag' }, { opcode: OP.cont, fin: true, payload: 'ment' });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('5.2b a fragmented pong closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.pong, fin: false, payload: 'frag' });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('a fragmented close closes with 1002', async () => {
    const c = await connected();
    c.send({ opcode: OP.close, fin: false, payload: Buffer.from([0x03, 0xe8]) });
    expect((await c.closedWithin()).code).toBe(1002);
  });

  it('5.15/5.19 empty fragments around the payload are accepted', async () => {
    const c = await connected();
    c.send({ opcode: OP.text, fin: false }, { opcode: OP.cont, fin: false, payload: NOP }, { opcode: OP.cont, fin: true });
    expect((await c.reply(5)).error.code).toBe('unknown_command');
  });

  it('a message in websocket.maxFragments (32) one-byte-ish fragments is accepted', async () => {
    const c = await connected();
    const cuts = Array.from({ length: 20 }, (_, i) => i + 1);
    c.send(...fragments(NOP, cuts));
    expect((await c.reply(5)).error.code).toBe('unknown_command');
  });

  it('a message in more than websocket.maxFragments fragments closes with 1008', async () => {
    const c = await connected();
    const long = Buffer.from(`{"id":5,"type":"nop","pad":"${'x'.repeat(40)}"}`);
    const cuts = Array.from({ length: 33 }, (_, i) => i + 1);
    c.send(...fragments(long, cuts));
    expect((await c.closedWithin()).code).toBe(1008);
  });

  it('fragments that add up to more than maxPayload close with 1009', async () => {
    const c = await connected();
    const chunk = Buffer.alloc(30_000, 0x20);
    c.send({ opcode: OP.text, fin: false, payload: chunk }, { opcode: OP.cont, fin: false, payload: chunk }, { opcode: OP.cont, fin: true, payload: chunk });
    expect((await c.closedWithin()).code).toBe(1009);
  });
});

describe('autobahn 6: UTF-8 in text messages and close reasons', () => {
  /** A subscribed connection: what it publishes comes back as a publication with the exact data. */
  async function echoing(channel: string): Promise<RawWs> {
    const c = await connected();
    const id = c.command({ type: 'subscribe', channel });
    expect((await c.reply(id)).result).toBeDefined();
    return c;
  }

  it('6.2 valid multi-byte UTF-8 split inside characters across fragments is accepted whole', async () => {
    const c = await echoing('chat:utf8-split');
    const text = 'κόσμε 日本語 🎉 é';
    const bytes = Buffer.from(JSON.stringify({ id: 9, type: 'publish', channel: 'chat:utf8-split', data: text }));
    // Cut inside every multi-byte character: between each pair of bytes of the data.
    const start = bytes.indexOf(Buffer.from('κ'));
    const cuts = Array.from({ length: Buffer.byteLength(text) - 1 }, (_, i) => start + i + 1).filter((_, i) => i % 2 === 0).slice(0, 30);
    c.send(...fragments(bytes, cuts));
    expect((await c.reply(9)).result).toBeDefined();
    const pub = await c.frame((f) => f.type === 'publication');
    expect(pub.data).toBe(text);
  });

  it('6.3 valid UTF-8 with 4-byte characters in one frame is accepted', async () => {
    const c = await echoing('chat:utf8-whole');
    const text = '\u{10FFFF}\u{1F600}\u0800\u07FF';
    c.text(JSON.stringify({ id: 9, type: 'publish', channel: 'chat:utf8-whole', data: text }));
    expect((await c.reply(9)).result).toBeDefined();
    expect((await c.frame((f) => f.type === 'publication')).data).toBe(text);
  });

  const invalid: Array<[string, number[]]> = [
    ['an overlong "/" (C0 AF)', [0xc0, 0xaf]],
    ['a lone continuation byte (80)', [0x80]],
    ['an encoded surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
    ['a truncated 3-byte sequence at the end (E6 97)', [0xe6, 0x97]],
    ['the byte FF', [0xff]],
  ];

  it.each(invalid)('6.x %s in a text message closes with 1007', async (_name, bad) => {
    const c = await connected();
    c.text(Buffer.concat([Buffer.from('{"id":5,"type":"nop","x":"'), Buffer.from(bad), Buffer.from('"}')]));
    expect((await c.closedWithin()).code).toBe(1007);
  });

  it('6.4 invalid UTF-8 arriving in the last of several fragments closes with 1007', async () => {
    const c = await connected();
    c.send({ opcode: OP.text, fin: false, payload: '{"id":5,"type":"nop","x":"κόσ' }, { opcode: OP.cont, fin: true, payload: Buffer.from([0xce, 0xbc, 0xed, 0xa0, 0x80, 0x22, 0x7d]) });
    expect((await c.closedWithin()).code).toBe(1007);
  });

  it('6.x invalid UTF-8 before connect closes with 1007 too', async () => {
    const c = await raw();
    c.text(Buffer.from([0x7b, 0xc0, 0xaf, 0x7d]));
    expect((await c.closedWithin()).code).toBe(1007);
  });

  it('7.5.1 a close reason that is not valid UTF-8 closes with 1007', async () => {
    const c = await connected();
    c.send({ opcode: OP.close, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64])]) });
    expect((await c.closedWithin()).code).toBe(1007);
  });
});
