/**
 * On a MessagePack connection the bytes that count are the MessagePack bytes written, not the
 * length of the frames' JSON: `tidings_bytes_out_total` and the per-connection bound
 * `client.maxQueueBytes` (docs/configuration.md) both measure what goes on the wire. MessagePack
 * is shorter than JSON for binary data (base64 in JSON) and longer for some numbers (0.1 is
 * 3 characters of JSON, 9 bytes of MessagePack float 64), so the two differ both ways.
 */
import { describe, expect, it } from 'vitest';
import { CloseCode } from '@tidings/protocol';
import { MsgpackClient } from '../test-support/msgpack-client.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';

async function bytesOutTotal(n: TestNode): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${n.port}/metrics`)).text();
  return Number(/^tidings_bytes_out_total(?:\{[^}]*\})? (\d+)$/m.exec(text)![1]);
}

describe('bytes on a MessagePack connection', () => {
  it('tidings_bytes_out_total counts the MessagePack bytes written, not the JSON length', async () => {
    const n = await startTestNode();
    try {
      const mp = await MsgpackClient.connect(n.wsUrl, await n.token('bytes-mp'));
      await mp.ok('subscribe', { channel: 'live:bytes' });
      const before = await bytesOutTotal(n);
      const received = mp.bytesIn;
      // Binary data (MessagePack: the bytes; JSON: base64, a third longer) and float lists (MessagePack: 9 bytes each).
      for (let i = 0; i < 10; i++) await n.node.publish('live:bytes', { i, file: { $binary: Buffer.alloc(3000, i).toString('base64') } });
      for (let i = 0; i < 10; i++) await n.node.publish('live:bytes', { i, floats: Array.from({ length: 500 }, () => 0.1) });
      expect((await mp.waitFor(20, 'live:bytes')).length).toBe(20);
      const written = mp.bytesIn - received;
      expect(written).toBeGreaterThan(20 * 3000);
      expect((await bytesOutTotal(n)) - before).toBe(written);
      mp.close();
    } finally {
      await n.close();
    }
  });

  it('client.maxQueueBytes bounds the MessagePack bytes: cut off when they pass it, kept when only the JSON would', async () => {
    const bound = 16 * 1024;
    const n = await startTestNode({ client: { maxQueueBytes: bound } });
    try {
      // A 12,500-byte file: 12.5 KB of MessagePack, 16.7 KB of JSON (base64). Under the bound for MessagePack only.
      const file = { $binary: Buffer.alloc(12_500, 7).toString('base64') };
      expect(JSON.stringify(file).length).toBeGreaterThan(bound);
      const mpKept = await MsgpackClient.connect(n.wsUrl, await n.token('q-mp-1'));
      const { client: jsonCut } = await TestClient.connect(n.wsUrl, await n.token('q-json-1'));
      await mpKept.ok('subscribe', { channel: 'live:q-file' });
      await jsonCut.ok('subscribe', { channel: 'live:q-file' });
      await n.node.publish('live:q-file', { file });
      expect((await jsonCut.closed).code).toBe(CloseCode.Slow);
      const [got] = await mpKept.waitFor(1, 'live:q-file');
      expect(got!.data.file.length).toBe(12_500);

      // 2,500 floats: 10 KB of JSON, 22.5 KB of MessagePack. Over the bound for MessagePack only.
      const floats = Array.from({ length: 2500 }, () => 0.1);
      expect(JSON.stringify(floats).length).toBeLessThan(bound - 2048);
      const mpCut = await MsgpackClient.connect(n.wsUrl, await n.token('q-mp-2'));
      const { client: jsonKept } = await TestClient.connect(n.wsUrl, await n.token('q-json-2'));
      await mpCut.ok('subscribe', { channel: 'live:q-floats' });
      await jsonKept.ok('subscribe', { channel: 'live:q-floats' });
      await n.node.publish('live:q-floats', { floats });
      expect((await mpCut.closed).code).toBe(CloseCode.Slow);
      const delivered = await jsonKept.waitForPush((p) => p.type === 'publication' && p.channel === 'live:q-floats');
      expect((delivered as { data: { floats: number[] } }).data.floats).toHaveLength(2500);
      expect((await n.node.stats()).slowDisconnectsTotal).toBe(2);
      // The connection that stayed is still served.
      await n.node.publish('live:q-file', { small: true });
      expect((await mpKept.waitFor(2, 'live:q-file'))[1]!.data).toEqual({ small: true });
      mpKept.close();
      jsonKept.close();
    } finally {
      await n.close();
    }
  });
});
