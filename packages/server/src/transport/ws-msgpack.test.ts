/**
 * MessagePack negotiated per WebSocket connection (`tidings.v1.msgpack`, docs/protocol.md
 * "Encodings"): a real node on loopback, JSON clients (TestClient) and MessagePack clients
 * (test-support/msgpack-client.ts, `ws` + msgpackr) side by side on the same channels.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, WS_BEARER_PREFIX, WS_SUBPROTOCOL, WS_SUBPROTOCOL_MSGPACK, type Push } from '@tidings/protocol';
import { createLogger } from '../log.js';
import { msgpackCounters } from '../wire/msgpack.js';
import { MsgpackClient, packr } from '../test-support/msgpack-client.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import { framePath } from './ws-frame-check.js';

/** A MessagePack client of `t`, connected as `user`. */
async function connectMp(t: TestNode, user: string, protocols?: string[]): Promise<MsgpackClient> {
  return MsgpackClient.connect(t.wsUrl, await t.token(user), protocols);
}

async function jsonPublications(c: TestClient, count: number, channel: string): Promise<Extract<Push, { type: 'publication' }>[]> {
  for (let i = 0; i < 300 && c.publications(channel).length < count; i++) await new Promise((r) => setTimeout(r, 10));
  return c.publications(channel);
}

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode();
});
afterAll(() => t.close());

describe('MessagePack over WebSocket', () => {
  it('selects tidings.v1.msgpack when offered, and tidings.v1 for a client that does not offer it', async () => {
    const mp = await connectMp(t, 'neg-a');
    expect(mp.ws.protocol).toBe(WS_SUBPROTOCOL_MSGPACK);
    const { client: json } = await TestClient.connect(t.wsUrl, await t.token('neg-b'));
    expect(json.ws.protocol).toBe(WS_SUBPROTOCOL);
    // With the token in the handshake, offering only the MessagePack subprotocol is enough.
    const bearer = await connectMp(t, 'neg-c', [WS_SUBPROTOCOL_MSGPACK, WS_BEARER_PREFIX + (await t.token('neg-c'))]);
    expect(bearer.ws.protocol).toBe(WS_SUBPROTOCOL_MSGPACK);
    // Replies and pushes came as binary MessagePack, never as text.
    expect(mp.textMessages).toEqual([]);
    mp.ws.close();
    json.close();
    bearer.ws.close();
  });

  it('a MessagePack client and a JSON client on one channel get the same publications, in order', async () => {
    const mp = await connectMp(t, 'same-a');
    const { client: json } = await TestClient.connect(t.wsUrl, await t.token('same-b'));
    await mp.ok('subscribe', { channel: 'chat:same' });
    await json.ok('subscribe', { channel: 'chat:same' });
    const sent: unknown[] = [];
    for (let i = 0; i < 30; i++) {
      const data = { n: i, text: 'é'.repeat(i * 50), nested: { list: [i, null, true, 1.5] } };
      sent.push(data);
      // From the API, from the JSON client and from the MessagePack client in turn.
      if (i % 3 === 0) expect((await t.api('POST', '/publish', { channel: 'chat:same', data })).status).toBe(200);
      else if (i % 3 === 1) await json.ok('publish', { channel: 'chat:same', data });
      else await mp.ok('publish', { channel: 'chat:same', data });
    }
    const viaMp = await mp.waitFor(30, 'chat:same');
    const viaJson = await jsonPublications(json, 30, 'chat:same');
    expect(viaMp.map((p) => p.data)).toEqual(sent);
    expect(viaJson.map((p) => p.data)).toEqual(sent);
    expect(viaMp.map((p) => p.offset)).toEqual(viaJson.map((p) => p.offset));
    expect(viaMp.map((p) => p.info?.user ?? null)).toEqual(viaJson.map((p) => p.info?.user ?? null));
    mp.ws.close();
    json.close();
  });

  it('binary data from a MessagePack client reaches MessagePack subscribers as bytes and JSON subscribers as {"$binary": base64}', async () => {
    const publisher = await connectMp(t, 'bin-a');
    const mp = await connectMp(t, 'bin-b');
    const { client: json } = await TestClient.connect(t.wsUrl, await t.token('bin-c'));
    for (const c of [publisher, mp]) await c.ok('subscribe', { channel: 'chat:bin' });
    await json.ok('subscribe', { channel: 'chat:bin' });
    const bytes = new Uint8Array([0, 1, 2, 250, 255, 10, 13]);
    await publisher.ok('publish', { channel: 'chat:bin', data: { file: bytes, name: 'x.bin' } });
    const [got] = await mp.waitFor(1, 'chat:bin');
    expect(got!.data.file).toBeInstanceOf(Uint8Array);
    expect([...got!.data.file]).toEqual([...bytes]);
    expect(got!.data.name).toBe('x.bin');
    const [asJson] = await jsonPublications(json, 1, 'chat:bin');
    expect(asJson!.data).toEqual({ file: { $binary: Buffer.from(bytes).toString('base64') }, name: 'x.bin' });
    // The JSON form from a JSON client is the same bytes to a MessagePack subscriber; history keeps the JSON form.
    await json.ok('publish', { channel: 'chat:bin', data: { $binary: Buffer.from('hi').toString('base64') } });
    const both = await mp.waitFor(2, 'chat:bin');
    expect(Buffer.from(both[1]!.data as Uint8Array).toString()).toBe('hi');
    const history = await mp.ok('history', { channel: 'chat:bin' });
    expect([...history.publications[0].data.file]).toEqual([...bytes]);
    publisher.ws.close();
    mp.ws.close();
    json.close();
  });

  it('malformed MessagePack closes the connection with 4501 (bad request); the node and other clients carry on', async () => {
    const bystander = await connectMp(t, 'bad-a');
    const { client: json } = await TestClient.connect(t.wsUrl, await t.token('bad-b'));
    await bystander.ok('subscribe', { channel: 'chat:bad' });
    const cases: Buffer[] = [
      Buffer.from([0xc1]), // never used
      Buffer.from([0x92, 0x01]), // an array of two with one
      Buffer.from([0xd4, 0x05, 0x01]), // an unknown extension type
      packr.pack({ id: 1, type: 'publish', channel: 'chat:bad', data: new Date(0) }), // timestamp: no JSON form
      packr.pack('just a string'), // not a frame object
    ];
    for (const bad of cases) {
      const victim = await connectMp(t, 'bad-v');
      victim.ws.send(bad);
      expect((await victim.closed).code).toBe(CloseCode.BadRequest);
    }
    // A JSON connection still closes on any binary message, as before.
    json.ws.send(packr.pack({ id: 2, type: 'presence', channel: 'chat:bad' }));
    expect((await json.closed).code).toBe(CloseCode.BadRequest);
    await bystander.ok('publish', { channel: 'chat:bad', data: 'still here' });
    expect((await bystander.waitFor(1, 'chat:bad'))[0]!.data).toBe('still here');
    const after = await connectMp(t, 'bad-c');
    expect(await after.ok('subscribe', { channel: 'chat:bad' })).toBeDefined();
    bystander.ws.close();
    after.ws.close();
  });

  it('a publication is encoded to MessagePack once for all its MessagePack subscribers', async () => {
    const subscribers = await Promise.all(Array.from({ length: 6 }, (_, i) => connectMp(t, `fan-${i}`)));
    for (const s of subscribers) await s.ok('subscribe', { channel: 'live:fan' });
    const before = msgpackCounters.encodes;
    // From the API: its reply is HTTP JSON, so the only MessagePack encoding is the publication's.
    expect((await t.api('POST', '/publish', { channel: 'live:fan', data: { big: 'y'.repeat(2048) } })).status).toBe(200);
    for (const s of subscribers) expect((await s.waitFor(1, 'live:fan')).length).toBe(1);
    expect(msgpackCounters.encodes - before).toBe(1);
    for (const s of subscribers) s.ws.close();
  });
  it('MessagePack frames are framed once and written as is to every MessagePack socket: binary, decodable, batched frames too', async () => {
    // The pre-built frame path is in use once its start-up self-test (text and binary frames) passed.
    expect(await framePath.check(createLogger('silent'))).toBe(true);
    const subscribers = await Promise.all(Array.from({ length: 4 }, (_, i) => connectMp(t, `framed-${i}`)));
    const { client: json } = await TestClient.connect(t.wsUrl, await t.token('framed-json'));
    for (const s of subscribers) await s.ok('subscribe', { channel: 'live:framed' });
    await json.ok('subscribe', { channel: 'live:framed' });
    const messagesBefore = subscribers.map((s) => s.binaryMessages);
    // One publication: the same binary frame to the four MessagePack sockets (and a text frame to the JSON one).
    const writtenBefore = framePath.written;
    await t.node.publish('live:framed', { one: 1, file: { $binary: Buffer.from([1, 2, 3]).toString('base64') } });
    for (const s of subscribers) expect((await s.waitFor(1, 'live:framed')).length).toBe(1);
    expect(framePath.written - writtenBefore).toBeGreaterThanOrEqual(5);
    for (const s of subscribers) {
      const [p] = s.publications('live:framed');
      expect(p!.data.one).toBe(1);
      expect([...(p!.data.file as Uint8Array)]).toEqual([1, 2, 3]);
    }
    // Twenty publications in one turn: batched, several frames back to back in one binary message per flush.
    const batchWritten = framePath.written;
    const published = Array.from({ length: 20 }, (_, i) => t.node.publish('live:framed', { n: i, text: 'é'.repeat(i * 40) }));
    await Promise.all(published);
    for (const s of subscribers) {
      const got = await s.waitFor(21, 'live:framed');
      expect(got.map((p) => p.data.n ?? null)).toEqual([null, ...Array.from({ length: 20 }, (_, i) => i)]);
      expect(got.slice(1).map((p) => p.data.text)).toEqual(Array.from({ length: 20 }, (_, i) => 'é'.repeat(i * 40)));
      // Fewer messages than publications: frames were joined in binary messages.
      expect(s.binaryMessages - messagesBefore[subscribers.indexOf(s)]!).toBeLessThan(21);
      expect(s.textMessages).toEqual([]);
    }
    expect(framePath.written).toBeGreaterThan(batchWritten);
    expect((await jsonPublications(json, 21, 'live:framed')).length).toBe(21);
    for (const s of subscribers) s.close();
    json.close();
  });
});
