import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode();
});
afterAll(() => t.close());

it('connects, subscribes, receives an API publication', async () => {
  const { client, result } = await TestClient.connect(t.wsUrl, await t.token('alice', { info: { name: 'Alice' } }));
  expect(result.user).toBe('alice');
  expect(Object.keys(result.subs)).toEqual(['user:#alice']);
  const sub = await client.ok('subscribe', { channel: 'chat:lobby' });
  expect(sub).toMatchObject({ offset: 0, recoverable: true });
  const res = await t.api('POST', '/publish', { channel: 'chat:lobby', data: { text: 'hi' } });
  expect(res.status).toBe(200);
  expect(res.body.data).toMatchObject({ offset: 1 });
  const pub = await client.waitForPush((p) => p.type === 'publication');
  expect(pub).toEqual({ type: 'publication', channel: 'chat:lobby', offset: 1, data: { text: 'hi' } });
  client.close();
});
