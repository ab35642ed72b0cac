/**
 * A client pointed at a URL where the server has no Tidings endpoint (HTTP 404) stops with a
 * clear `not_found` error naming the URL after one round of transports, instead of
 * reconnecting forever; a 404 on WebSocket alone (a proxy that does not pass upgrades) still
 * falls back to the HTTP transports.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TidingsError, type TidingsOptions } from '@tidings/client';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, sleep } from './support.js';

const clients = new Clients();
let server: TestNode;
beforeAll(async () => {
  server = await startTestNode({ auth: { allowAnonymous: true } });
});
afterAll(async () => {
  clients.closeAll();
  await server.close();
});

/** A client at `url` that records its transport opens, `connecting` events and its end. */
function watched(url: string, options: TidingsOptions) {
  const opened: string[] = [];
  const connecting: number[] = [];
  const client = clients.make(url, {
    ...FAST,
    ...options,
    debug: (message) => {
      if (message.startsWith('opening ')) opened.push(message.split(' ')[1]!);
    },
  });
  client.on('connecting', (ctx) => connecting.push(ctx.code));
  const ended = new Promise<{ code: number; reason: string; error?: TidingsError }>((resolve) => client.on('disconnected', resolve));
  return { client, opened, connecting, ended };
}

describe('a URL with no Tidings endpoint (404)', () => {
  for (const [name, transports, tried] of [
    ['WebSocket (ws reports the 404 of the handshake)', ['websocket'], ['websocket']],
    ['SSE', ['sse'], ['sse']],
    ['long-polling', ['polling'], ['polling']],
    ['every transport (the default list)', undefined, ['websocket', 'sse', 'polling']],
  ] as const) {
    test(`${name}: stops after one round with not_found naming the URL, and does not reconnect`, async () => {
      const url = `ws://127.0.0.1:${server.port}/wrong/websocket`;
      const { client, opened, connecting, ended } = watched(url, transports ? { transports: [...transports] } : {});
      const connected = client.connect().catch((e: unknown) => e);
      const end = await Promise.race([ended, sleep(5_000).then(() => undefined)]);
      expect(end, 'the client stopped within 5 s').toBeDefined();
      expect(end!.code).toBe(4404);
      expect(end!.error).toBeInstanceOf(TidingsError);
      expect(end!.error).toMatchObject({ code: 'not_found', temporary: false, closeCode: 4404 });
      expect(end!.error!.message).toBe(`no Tidings endpoint at ${url} (HTTP 404)`);
      expect(await connected).toMatchObject({ code: 'not_found' });
      expect(client.state).toBe('disconnected');
      // Well past the longest backoff (FAST: 200 ms): nothing more was tried.
      await sleep(600);
      expect(opened).toEqual(tried);
      expect(connecting).toEqual([0]);
      expect(client.state).toBe('disconnected');
    });
  }

  test('a 404 on WebSocket alone falls back to SSE (a proxy that does not pass upgrades) and connects', async () => {
    const { client, opened } = watched(`ws://127.0.0.1:${server.port}/wrong/websocket`, {
      transports: ['websocket', 'sse'],
      httpUrl: `http://127.0.0.1:${server.port}/connection`,
      upgradeProbeDelay: false,
    });
    await client.connect();
    expect(client.transport).toBe('sse');
    expect(opened).toEqual(['websocket', 'sse']);
  });

  test('a server that is down (no answer, not a 404) is still retried', async () => {
    const down = await startTestNode();
    const url = down.wsUrl;
    await down.close();
    const { client, opened } = watched(url, { transports: ['websocket'] });
    void client.connect().catch(() => {});
    await sleep(500);
    expect(client.state).toBe('connecting');
    expect(opened.length).toBeGreaterThan(1);
    client.disconnect();
  });
});
