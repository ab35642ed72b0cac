import { afterEach, expect, test } from 'vitest';
import { Tidings } from '@tidings/client';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';

let server: TestNode;
afterEach(async () => server?.close());

test('smoke', async () => {
  server = await startTestNode();
  const token = await server.token('alice');
  const client = new Tidings(server.wsUrl, { token, debug: (m) => console.log(m) });
  await client.connect();
  const sub = client.subscribe<{ n: number }>('chat:lobby');
  await sub.ready();
  const got: number[] = [];
  sub.on('publication', (p) => got.push(p.data.n));
  const ack = await sub.publish({ n: 1 });
  expect(ack.offset).toBe(1);
  await server.api('POST', '/publish', { channel: 'chat:lobby', data: { n: 2 } });
  await new Promise((r) => setTimeout(r, 100));
  expect(got).toEqual([1, 2]);
  console.log(client.subscriptions().map((s) => s.channel), sub.presenceUsers());
  client.disconnect();
});
