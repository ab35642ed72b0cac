/**
 * Connection tokens, over each transport (the HTTP ones send the token with every request,
 * so a refreshed token must reach them too): refresh before expiry, expiry without
 * refresh, signed-out users, getToken failures, and timers longer than setTimeout allows.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { MAX_TIMER_DELAY, type TidingsError } from '@tidings/client';
import { mintToken } from '../../server/src/auth/token-mint.js';
import { startTestNode, TEST_SECRET, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, TRANSPORTS, sleep, until } from './support.js';

const clients = new Clients();
let server: TestNode | undefined;
afterEach(async () => {
  clients.closeAll();
  await server?.close();
});

/** When a token's `exp` (whole seconds) comes, in wall-clock ms: from then on a node without clock tolerance refuses it. */
function expiresAt(token: string): number {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp * 1000;
}

/** A node that closes expired connections on the second, without clock tolerance. */
async function strictNode(): Promise<TestNode> {
  server = await startTestNode({ auth: { secret: TEST_SECRET, clockTolerance: '0s' } });
  return server;
}

describe.each(TRANSPORTS)('over %s', (transport) => {
  const T = { ...FAST, transports: [transport] };

  test('getToken is called again before expiry and the connection outlives its first token', async () => {
    const node = await strictNode();
    let calls = 0;
    let firstExpiry = Infinity;
    const client = clients.make(node.wsUrl, {
      ...T,
      getToken: async () => {
        const token = await mintToken(TEST_SECRET, { sub: 'alice', ttlSeconds: 2 });
        if (++calls === 1) firstExpiry = expiresAt(token);
        return token;
      },
    });
    const reconnects: number[] = [];
    client.on('connecting', (ctx) => reconnects.push(ctx.code));
    await client.connect();
    const firstClient = client.clientId;
    // The first token expires within 2 s (the node closes at its exp, without tolerance): stay
    // a second past that, and until the token was refreshed twice.
    await until(() => calls >= 3 && Date.now() >= firstExpiry + 1_000, () => `${calls} getToken calls, first token expired at ${new Date(firstExpiry).toISOString()}`, 8_000);
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(client.state).toBe('connected');
    expect(client.clientId).toBe(firstClient);
    expect(reconnects).toEqual([0]);
  });

  test('the same short token without getToken: the server closes with 4003 and the client stops with token_expired', async () => {
    const node = await strictNode();
    // Two seconds: `exp` is in whole seconds, so a one-second token minted late in a second may
    // have expired before the connect reaches a busy server (the connect then fails instead).
    const client = clients.make(node.wsUrl, { ...T, token: await mintToken(TEST_SECRET, { sub: 'alice', ttlSeconds: 2 }) });
    const stopped = new Promise<{ code: number; error?: TidingsError }>((resolve) => client.on('disconnected', resolve));
    await client.connect();
    const ctx = await stopped;
    expect(ctx.code).toBe(4003);
    expect(ctx.error).toMatchObject({ code: 'token_expired', temporary: false, closeCode: 4003 });
  });

  test('an expired token from getToken: the client fetches a new one and reconnects', async () => {
    const node = await strictNode();
    const tokens = [await mintToken(TEST_SECRET, { sub: 'alice', ttlSeconds: 1 }), await mintToken(TEST_SECRET, { sub: 'alice', ttlSeconds: 3600 })];
    // Until just past the first token's exp (at most a second away): expired for the node.
    await sleep(Math.max(0, expiresAt(tokens[0]!) - Date.now()) + 150);
    expect(Date.now()).toBeGreaterThan(expiresAt(tokens[0]!));
    let calls = 0;
    const client = clients.make(node.wsUrl, { ...T, getToken: () => tokens[calls++] ?? null });
    const codes: number[] = [];
    client.on('connecting', (ctx) => codes.push(ctx.code));
    await client.connect();
    expect(calls).toBe(2);
    expect(codes).toEqual([0, 4003]);
    expect(client.user).toBe('alice');
  });

  test('getToken returning null (signed out) stops the client with unauthorized', async () => {
    const node = await strictNode();
    const client = clients.make(node.wsUrl, { ...T, getToken: () => null });
    await expect(client.connect()).rejects.toMatchObject({ code: 'unauthorized', temporary: false });
    expect(client.state).toBe('disconnected');
  });

  test('a failing getToken is retried with backoff and reported as token_unavailable', async () => {
    const node = await strictNode();
    let calls = 0;
    const client = clients.make(node.wsUrl, {
      ...T,
      getToken: async () => {
        if (++calls < 3) throw new Error('auth backend down');
        return mintToken(TEST_SECRET, { sub: 'alice', ttlSeconds: 600 });
      },
    });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    await client.connect();
    expect(calls).toBe(3);
    expect(errors).toEqual(['token_unavailable', 'token_unavailable']);
  });

  test('a token valid for longer than setTimeout allows does not refresh at once', async () => {
    const node = await strictNode();
    // 40 days: the refresh delay is beyond 2^31 − 1 ms, which Node would fire immediately.
    const ttlSeconds = 40 * 24 * 3600;
    expect(ttlSeconds * 1000 * 0.8).toBeGreaterThan(MAX_TIMER_DELAY);
    let calls = 0;
    const client = clients.make(node.wsUrl, {
      ...T,
      getToken: () => {
        calls++;
        return mintToken(TEST_SECRET, { sub: 'alice', ttlSeconds });
      },
    });
    await client.connect();
    await sleep(300);
    expect(calls).toBe(1);
    await until(() => client.state === 'connected', 'still connected');
  });
});
