/**
 * Binary data through the server API (issue 17): `POST /publish` and `/broadcast` take a
 * MessagePack body (`Content-Type: application/msgpack`), where a `bin` value in `data` is binary
 * data exactly as a MessagePack client's publish makes it, and a JSON body's binary data in its
 * JSON form (`{"$binary": base64}`), whose base64 is checked. A real node on loopback; a
 * MessagePack subscriber and a JSON subscriber on the same channel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packr, MsgpackClient } from '../test-support/msgpack-client.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_API_KEY, type TestNode } from '../test-support/test-node.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode();
});
afterAll(() => t.close());

const bytes = new Uint8Array([0, 1, 2, 250, 255, 10, 13, 0x7f]);
const base64 = Buffer.from(bytes).toString('base64');

/** POSTs a MessagePack body to the API with the admin key. */
async function postMsgpack(path: string, body: Uint8Array, contentType = 'application/msgpack'): Promise<{ status: number; body: any }> {
  const res = await fetch(`${t.apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': contentType }, body });
  return { status: res.status, body: await res.json() };
}

async function jsonPublications(c: TestClient, count: number, channel: string): Promise<any[]> {
  for (let i = 0; i < 300 && c.publications(channel).length < count; i++) await new Promise((r) => setTimeout(r, 10));
  return c.publications(channel);
}

async function subscribers(channel: string): Promise<{ mp: MsgpackClient; json: TestClient }> {
  const mp = await MsgpackClient.connect(t.wsUrl, await t.token('mp-sub'));
  const { client: json } = await TestClient.connect(t.wsUrl, await t.token('json-sub'));
  await mp.ok('subscribe', { channel });
  await json.ok('subscribe', { channel });
  return { mp, json };
}

describe('binary data through the server API', () => {
  it('POST /publish with a MessagePack body: MessagePack subscribers get bytes, JSON subscribers {"$binary": base64}; history keeps it', async () => {
    const { mp, json } = await subscribers('chat:api-bin');
    const res = await postMsgpack('/publish', packr.pack({ channel: 'chat:api-bin', data: { file: bytes, name: 'x.bin', list: [bytes, 1] }, event: 'file:added' }));
    expect(res).toEqual({ status: 200, body: { data: { offset: 1, epoch: expect.any(String) } } });
    const [got] = await mp.waitFor(1, 'chat:api-bin');
    expect(got!.data.file).toBeInstanceOf(Uint8Array);
    expect([...got!.data.file]).toEqual([...bytes]);
    expect([...got!.data.list[0]]).toEqual([...bytes]);
    expect(got!.event).toBe('file:added');
    const [asJson] = await jsonPublications(json, 1, 'chat:api-bin');
    expect(asJson.data).toEqual({ file: { $binary: base64 }, name: 'x.bin', list: [{ $binary: base64 }, 1] });
    const history = await t.api('GET', '/channels/chat%3Aapi-bin/history');
    expect(history.body.data.publications[0].data.file).toEqual({ $binary: base64 });
    mp.close();
    json.close();
  });

  it('POST /publish with a JSON body holding {"$binary": base64}: the same bytes to MessagePack subscribers', async () => {
    const { mp, json } = await subscribers('chat:api-bin-json');
    expect((await t.api('POST', '/publish', { channel: 'chat:api-bin-json', data: { file: { $binary: base64 } } })).status).toBe(200);
    // A top-level binary value too, and an empty one.
    expect((await t.api('POST', '/publish', { channel: 'chat:api-bin-json', data: { $binary: '' } })).status).toBe(200);
    const got = await mp.waitFor(2, 'chat:api-bin-json');
    expect([...got[0]!.data.file]).toEqual([...bytes]);
    expect(got[1]!.data).toBeInstanceOf(Uint8Array);
    expect(got[1]!.data.length).toBe(0);
    const asJson = await jsonPublications(json, 2, 'chat:api-bin-json');
    expect(asJson.map((p) => p.data)).toEqual([{ file: { $binary: base64 } }, { $binary: '' }]);
    mp.close();
    json.close();
  });

  it('POST /broadcast with a MessagePack body and with a JSON body: bytes to MessagePack subscribers of every channel', async () => {
    const a = await subscribers('chat:api-bc-a');
    const b = await subscribers('chat:api-bc-b');
    await a.mp.ok('subscribe', { channel: 'chat:api-bc-b' });
    const viaMsgpack = await postMsgpack('/broadcast', packr.pack({ channels: ['chat:api-bc-a', 'chat:api-bc-b'], data: { file: bytes } }));
    expect(viaMsgpack.status).toBe(200);
    expect(viaMsgpack.body.data.results).toHaveLength(2);
    expect((await t.api('POST', '/broadcast', { channels: ['chat:api-bc-a', 'chat:api-bc-b'], data: { file: { $binary: base64 } } })).status).toBe(200);
    // Everyone: a broadcast push with binary data, over both encodings.
    expect((await postMsgpack('/broadcast', packr.pack({ event: 'blob', data: bytes }))).status).toBe(200);
    for (const channel of ['chat:api-bc-a', 'chat:api-bc-b']) {
      const got = await a.mp.waitFor(2, channel);
      expect(got.map((p) => [...p.data.file])).toEqual([[...bytes], [...bytes]]);
    }
    for (const json of [a.json, b.json]) {
      const channel = json === a.json ? 'chat:api-bc-a' : 'chat:api-bc-b';
      expect((await jsonPublications(json, 2, channel)).map((p) => p.data)).toEqual([{ file: { $binary: base64 } }, { file: { $binary: base64 } }]);
    }
    const pushMp = await (async () => {
      for (let i = 0; i < 300 && !b.mp.pushes.some((p) => p.type === 'broadcast'); i++) await new Promise((r) => setTimeout(r, 10));
      return b.mp.pushes.find((p) => p.type === 'broadcast');
    })();
    expect([...pushMp!.data]).toEqual([...bytes]);
    const pushJson = (await b.json.waitForPush((p) => p.type === 'broadcast')) as any;
    expect(pushJson.data).toEqual({ $binary: base64 });
    for (const c of [a.mp, b.mp]) c.close();
    for (const c of [a.json, b.json]) c.close();
  });

  it('a malformed MessagePack body is 400 bad_request with a clear message; the node carries on', async () => {
    const { mp, json } = await subscribers('chat:api-bad');
    let nested = packr.pack(1);
    for (let i = 0; i < 100; i++) nested = Buffer.concat([Buffer.from([0x91]), nested]);
    const cases: [Uint8Array, RegExp][] = [
      [Buffer.from([0xc1]), /^body is not valid MessagePack: /], // never used
      [Buffer.from([0x92, 0x01]), /^body is not valid MessagePack: /], // truncated: an array of two with one
      [Buffer.from([0xd4, 0x05, 0x01]), /^body is not valid MessagePack: /], // an unknown extension type
      [packr.pack({ channel: 'chat:api-bad', data: new Date(0) }), /^body is not valid MessagePack: /], // a timestamp: no JSON form
      [Buffer.concat([packr.pack({ channel: 'chat:api-bad', data: 1 }), packr.pack({ channel: 'chat:api-bad', data: 2 })]), /expected one value, got 2/],
      [Buffer.from('{"channel":"chat:api-bad","data":1}'), /^body is not valid MessagePack|expected one value/], // JSON sent as MessagePack
      [packr.pack('just a string'), /expected object, received string/],
      [packr.pack({ channel: 'chat:api-bad' }), /^data: /],
      [Buffer.concat([Buffer.from([0x82, 0xa7]), Buffer.from('channel'), packr.pack('chat:api-bad'), Buffer.from([0xa4]), Buffer.from('data'), nested]), /^data: nested deeper than/],
      [packr.pack({ channel: 'chat:api-bad', data: { $binary: 'not base64!' } }), /^data\.\$binary: not valid base64/],
      [Buffer.concat([Buffer.alloc(500_000, 0x91), Buffer.from([0x01])]), /^body (is not valid MessagePack|nested deeper than)/], // deep enough to overflow a recursive decoder
    ];
    for (const [body, message] of cases) {
      const res = await postMsgpack('/publish', body);
      expect(res.status, String(message)).toBe(400);
      expect(res.body.error.code).toBe('bad_request');
      expect(res.body.error.message).toMatch(message);
    }
    // A content type that is neither JSON nor MessagePack is still 415.
    expect((await postMsgpack('/publish', packr.pack({ channel: 'chat:api-bad', data: 1 }), 'application/octet-stream')).status).toBe(415);
    // application/x-msgpack and a charset-less parameter are read the same way.
    expect((await postMsgpack('/publish', packr.pack({ channel: 'chat:api-bad', data: bytes }), 'application/x-msgpack')).status).toBe(200);
    expect((await postMsgpack('/publish', packr.pack({ channel: 'chat:api-bad', data: 'after' }), 'application/msgpack; q=1')).status).toBe(200);
    const [blob, after] = await mp.waitFor(2, 'chat:api-bad');
    expect([...blob!.data]).toEqual([...bytes]);
    expect(after!.data).toBe('after');
    expect((await jsonPublications(json, 2, 'chat:api-bad')).map((p) => p.data)).toEqual([{ $binary: base64 }, 'after']);
    // Counted like every refused API call: by route and status.
    const metrics = await (await fetch(`http://127.0.0.1:${t.port}/metrics`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } })).text();
    expect(metrics).toMatch(/api_request_duration_seconds_count\{method="POST",route="\/publish",status="400"\} (\d+)/);
    expect(Number(/api_request_duration_seconds_count\{method="POST",route="\/publish",status="400"\} (\d+)/.exec(metrics)![1])).toBeGreaterThanOrEqual(cases.length);
    mp.close();
    json.close();
  });

  it('binary data in its JSON form must hold base64 (standard alphabet, padded): else 400 naming the field', async () => {
    const bad: [unknown, string][] = [
      [{ $binary: 'abc' }, 'data.$binary: not valid base64 (standard alphabet, padded)'], // unpadded
      [{ file: { $binary: 'AAA*' } }, 'data.file.$binary: not valid base64 (standard alphabet, padded)'],
      [{ list: [1, { $binary: '-_-_' }] }, 'data.list[1].$binary: not valid base64 (standard alphabet, padded)'], // base64url
      [{ $binary: 'AA=A' }, 'data.$binary: not valid base64 (standard alphabet, padded)'],
      [{ $binary: '====' }, 'data.$binary: not valid base64 (standard alphabet, padded)'],
    ];
    for (const [data, message] of bad) {
      for (const [path, body] of [
        ['/publish', { channel: 'chat:api-b64', data }],
        ['/broadcast', { channels: ['chat:api-b64'], data }],
      ] as const) {
        const res = await t.api('POST', path, body);
        expect(res.status, `${path} ${JSON.stringify(data)}`).toBe(400);
        expect(res.body.error).toEqual({ code: 'bad_request', message });
      }
    }
    // Objects that are not binary data's JSON form are data like any other.
    for (const data of [{ $binary: 5 }, { $binary: 'AAAA', other: 1 }, { $binaryx: '!' }, { $binary: 'AAAA' }, { $binary: 'AA==' }, { $binary: 'AAA=' }]) {
      expect((await t.api('POST', '/publish', { channel: 'chat:api-b64', data })).status, JSON.stringify(data)).toBe(200);
    }
    // A large payload is checked in linear time.
    const big = Buffer.alloc(600_000, 7).toString('base64');
    expect((await t.api('POST', '/publish', { channel: 'chat:api-b64', data: { $binary: big } })).status).toBe(200);
    expect((await t.api('POST', '/publish', { channel: 'chat:api-b64', data: { $binary: big.slice(0, -1) + '*' } })).status).toBe(400);
  });
});
