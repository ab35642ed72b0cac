/**
 * `encoding: msgpack` (`@tidings/client/msgpack`, issue 17) against a real node over loopback:
 * the SDK negotiates `tidings.v1.msgpack`, receives binary MessagePack messages, and gets the
 * same publications as a JSON client on the same channel; `Uint8Array` data published by it
 * arrives as bytes over MessagePack and as `{"$binary": base64}` over JSON; an SSE client with
 * the option stays JSON and can still publish bytes in their JSON form.
 */
import WS from 'ws';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { WebSocketConstructor } from '@tidings/client';
import { msgpack } from '../src/msgpack.js';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, collect, FAST, until } from './support.js';

let server: TestNode;
const clients = new Clients();

beforeEach(async () => {
  server = await startTestNode();
});
afterEach(async () => {
  clients.closeAll();
  await server.close();
});

/** `ws`, recording the negotiated subprotocol and how many binary and text messages came in. */
function recordingWebSocket() {
  const seen = { protocols: [] as string[], binary: 0, text: 0 };
  class Recording extends WS {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      this.on('open', () => seen.protocols.push(this.protocol));
      this.on('message', (_data, isBinary) => void (isBinary ? seen.binary++ : seen.text++));
    }
  }
  return { seen, WebSocket: Recording as unknown as WebSocketConstructor };
}

describe('encoding: msgpack', () => {
  test('negotiates MessagePack; a MessagePack and a JSON client get the same publications, in order', async () => {
    const rec = recordingWebSocket();
    const mp = clients.make(server.wsUrl, { ...FAST, transports: ['websocket'], websocket: rec.WebSocket, encoding: msgpack, token: await server.token('alice') });
    const json = clients.make(server.wsUrl, { ...FAST, transports: ['websocket'], token: await server.token('bob') });
    await Promise.all([mp.connect(), json.connect()]);
    const mpSub = mp.subscribe('chat:same');
    const jsonSub = json.subscribe('chat:same');
    const viaMp = collect(mpSub);
    const viaJson = collect(jsonSub);
    await Promise.all([mpSub.ready(), jsonSub.ready()]);
    const sent: unknown[] = [];
    for (let i = 0; i < 20; i++) {
      const data = { n: i, text: 'ü'.repeat(i * 40), list: [i, null, false] };
      sent.push(data);
      if (i % 2 === 0) await mpSub.publish(data);
      else await server.api('POST', '/publish', { channel: 'chat:same', data });
    }
    await until(() => viaMp.length === 20 && viaJson.length === 20, () => `mp ${viaMp.length}, json ${viaJson.length}`);
    expect(viaMp).toEqual(sent);
    expect(viaJson).toEqual(sent);
    expect(rec.seen.protocols).toEqual(['tidings.v1.msgpack']);
    expect(rec.seen.binary).toBeGreaterThan(0);
    expect(rec.seen.text).toBe(0);
  });

  test('Uint8Array data: bytes to MessagePack subscribers, {"$binary": base64} to JSON ones', async () => {
    const mp = clients.make(server.wsUrl, { ...FAST, transports: ['websocket'], encoding: msgpack, token: await server.token('alice') });
    const json = clients.make(server.wsUrl, { ...FAST, transports: ['websocket'], token: await server.token('bob') });
    await Promise.all([mp.connect(), json.connect()]);
    const mpSub = mp.subscribe('chat:bin');
    const jsonSub = json.subscribe('chat:bin');
    const viaMp = collect(mpSub) as Array<{ file: Uint8Array; name: string }>;
    const viaJson = collect(jsonSub);
    await Promise.all([mpSub.ready(), jsonSub.ready()]);
    const bytes = new Uint8Array([0, 1, 127, 128, 255]);
    await mp.publish('chat:bin', { file: bytes, name: 'a.bin' });
    // A Node Buffer is a Uint8Array too.
    await mp.publish('chat:bin', { file: Buffer.from('hello'), name: 'b.txt' });
    await until(() => viaMp.length === 2 && viaJson.length === 2, () => `mp ${viaMp.length}, json ${viaJson.length}`);
    expect(viaMp[0]!.file).toBeInstanceOf(Uint8Array);
    expect([...viaMp[0]!.file]).toEqual([...bytes]);
    expect(Buffer.from(viaMp[1]!.file).toString()).toBe('hello');
    expect(viaJson).toEqual([
      { file: { $binary: Buffer.from(bytes).toString('base64') }, name: 'a.bin' },
      { file: { $binary: Buffer.from('hello').toString('base64') }, name: 'b.txt' },
    ]);
  });

  test('over SSE the option keeps JSON, and bytes still go in their JSON form', async () => {
    const sse = clients.make(server.wsUrl, { ...FAST, transports: ['sse'], encoding: msgpack, token: await server.token('carol') });
    const mp = clients.make(server.wsUrl, { ...FAST, transports: ['websocket'], encoding: msgpack, token: await server.token('dave') });
    await Promise.all([sse.connect(), mp.connect()]);
    const sseSub = sse.subscribe('chat:sse');
    const mpSub = mp.subscribe('chat:sse');
    const viaSse = collect(sseSub);
    const viaMp = collect(mpSub) as Array<Uint8Array>;
    await Promise.all([sseSub.ready(), mpSub.ready()]);
    expect(sse.transport).toBe('sse');
    await sseSub.publish(new Uint8Array([9, 8, 7]));
    await until(() => viaSse.length === 1 && viaMp.length === 1, () => `sse ${viaSse.length}, mp ${viaMp.length}`);
    expect(viaSse[0]).toEqual({ $binary: Buffer.from([9, 8, 7]).toString('base64') });
    expect([...viaMp[0]!]).toEqual([9, 8, 7]);
  });
});
