/**
 * `POST /webhooks/test` on a real node (createTidings, SQLite in memory) with one endpoint on a
 * real receiver: the event is in the outbox when the call answers, and reaches the endpoint
 * signed, under the id the call returned. Unknown endpoints and nodes without endpoints are refused.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import { startWebhookReceiver, type WebhookReceiver } from '../test-support/webhook-receiver.js';
import { generateSecret } from '../webhooks/sign.js';
import { verifyWebhook } from '../webhooks/verify.js';
import { webhookTestResult } from './webhook-test-route.js';

const secret = generateSecret();
let rx: WebhookReceiver;
let t: TestNode;
let bare: TestNode;

beforeAll(async () => {
  rx = await startWebhookReceiver();
  const endpoints = [
    { id: 'one', url: rx.url, secret, events: ['user.online' as const] },
    { id: 'two', url: rx.url + '?two', secret },
  ];
  t = await startTestNode({ webhooks: { pollInterval: 50, endpoints } });
  bare = await startTestNode();
});
afterAll(async () => {
  await t.close();
  await bare.close();
  await rx.close();
});

describe('POST /webhooks/test', () => {
  test('sends a signed webhook.test event to the named endpoint, whatever events it subscribes to', async () => {
    const res = await t.api('POST', '/webhooks/test', { endpoint: 'one' });
    expect(res.status).toBe(200);
    const data = webhookTestResult.parse(res.body.data);
    expect(data.endpoints).toEqual(['one']);
    await rx.until((got) => got.some((h) => h.id === data.id));
    const hook = rx.received.find((h) => h.id === data.id)!;
    expect(hook.headers['user-agent']).toMatch(/^tidings-webhooks\//);
    expect(verifyWebhook(secret, hook.headers, hook.body).payload).toMatchObject({ type: 'webhook.test', data: { message: expect.any(String) } });
  });

  test('without a body: to every endpoint, one id', async () => {
    const res = await t.api('POST', '/webhooks/test');
    expect(res.status).toBe(200);
    expect(res.body.data.endpoints).toEqual(['one', 'two']);
    await rx.until((got) => got.filter((h) => h.id === res.body.data.id).length === 2);
  });

  test('refuses an unknown endpoint (404), an unknown field (400), and a node without endpoints (409 not_available)', async () => {
    expect(await t.api('POST', '/webhooks/test', { endpoint: 'nope' })).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await t.api('POST', '/webhooks/test', { endpoint: 'one', extra: 1 })).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(await bare.api('POST', '/webhooks/test', {})).toMatchObject({ status: 409, body: { error: { code: 'not_available' } } });
  });
});
