/**
 * SSE tickets stand in for the token in the stream's URL, and URLs end up in proxy logs:
 * a ticket opens and resumes its stream only from the client that opened the session
 * (same client IP and User-Agent). Also: bad HTTP transport requests are counted like the
 * WebSocket layer's, and cross-origin preflights allow the headers clients send.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestNode, type TestNode } from '../test-support/test-node.js';

let t: TestNode;
beforeAll(async () => {
  // Behind a trusted proxy on loopback, X-Forwarded-For sets the client IP.
  t = await startTestNode({ trustedProxies: ['127.0.0.1'], allowedOrigins: ['https://app.example'] });
});
afterAll(() => t.close());

const base = () => `http://127.0.0.1:${t.port}/connection`;
const UA = 'test-browser/1.0';

async function openSse(ip: string): Promise<{ session: string; ticket: string }> {
  const res = await fetch(`${base()}/open`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await t.token('tess')}`, 'x-forwarded-for': ip, 'user-agent': UA },
    body: JSON.stringify({ transport: 'sse' }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { session: string; ticket: string };
}

/** Opens the stream and reports its status; the stream is closed again at once. */
async function streamStatus(ticket: string, headers: Record<string, string>, lastEventId?: number): Promise<number> {
  const controller = new AbortController();
  const url = `${base()}/sse?ticket=${ticket}${lastEventId !== undefined ? `&lastEventId=${lastEventId}` : ''}`;
  const res = await fetch(url, { headers, signal: controller.signal });
  const status = res.status;
  controller.abort();
  await res.body?.cancel().catch(() => {});
  return status;
}

test('a ticket opens and resumes its stream only from the client that opened the session', async () => {
  const { ticket } = await openSse('10.1.0.1');
  // Another address, or the same address with another browser, gets nothing.
  expect(await streamStatus(ticket, { 'x-forwarded-for': '10.6.6.6', 'user-agent': UA })).toBe(401);
  expect(await streamStatus(ticket, { 'x-forwarded-for': '10.1.0.1', 'user-agent': 'curl/8' })).toBe(401);
  // The opener can open it, and resume it after a drop.
  expect(await streamStatus(ticket, { 'x-forwarded-for': '10.1.0.1', 'user-agent': UA })).toBe(200);
  expect(await streamStatus(ticket, { 'x-forwarded-for': '10.1.0.1', 'user-agent': UA }, 0)).toBe(200);
  // A copy of the used ticket resuming from elsewhere is refused too.
  expect(await streamStatus(ticket, { 'x-forwarded-for': '10.6.6.6', 'user-agent': UA }, 0)).toBe(401);
});

test('a resume with Last-Event-ID 0 (nothing received yet) is still refused to another client, and accepted from the opener', async () => {
  const { ticket } = await openSse('10.1.0.2');
  const opener = { 'x-forwarded-for': '10.1.0.2', 'user-agent': UA };
  expect(await streamStatus(ticket, opener)).toBe(200);
  // The same marker from another address or another browser: 401.
  expect(await streamStatus(ticket, { 'x-forwarded-for': '10.6.6.7', 'user-agent': UA, 'last-event-id': '0' })).toBe(401);
  expect(await streamStatus(ticket, { ...opener, 'user-agent': 'curl/8', 'last-event-id': '0' })).toBe(401);
  expect(await streamStatus(ticket, { ...opener, 'last-event-id': '0' })).toBe(200);
  // Without the marker, a used ticket opens nothing even from the opener.
  expect(await streamStatus(ticket, opener)).toBe(401);
});

test('bad requests to the HTTP transports are counted as bad requests', async () => {
  const before = (await t.node.stats()).badRequestsTotal;
  for (const body of ['{"transport":"carrier-pigeon"}', 'not json']) {
    const res = await fetch(`${base()}/open`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
  }
  expect((await t.node.stats()).badRequestsTotal).toBe(before + 2);
});

test('preflights allow the headers clients and backends send', async () => {
  for (const path of ['/connection/open', '/api/v1/publish']) {
    const res = await fetch(`http://127.0.0.1:${t.port}${path}`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key, content-type' },
    });
    expect(res.status, path).toBe(204);
    expect(res.headers.get('access-control-allow-headers'), path).toContain('x-api-key');
    expect(res.headers.get('access-control-allow-origin'), path).toBe('https://app.example');
  }
});
