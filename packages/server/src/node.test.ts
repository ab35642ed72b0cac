import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { CloseCode } from '@tidings/protocol';
import { mintToken } from './auth/token-mint.js';
import { ConfigError } from './config/schema.js';
import { TidingsError } from './errors.js';
import { createTidings } from './node.js';
import { TestClient } from './test-support/test-client.js';
import { startTestNode, TEST_NAMESPACES, TEST_SECRET } from './test-support/test-node.js';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

describe('createTidings', () => {
  it('rejects invalid options with every problem named', () => {
    expect(() => createTidings({ port: -1, namespaces: { chat: { recover: true } } } as never)).toThrow(ConfigError);
    try {
      createTidings({ port: -1, namespaces: { chat: { recover: true } } } as never);
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([expect.stringMatching(/^port: /), 'namespaces.chat.recover: recover needs history: set history.size']);
    }
  });

  it('reports bad keys and duplicates as configuration errors', () => {
    const bad = (options: object, problem: RegExp) => {
      try {
        createTidings({ logLevel: 'silent', ...options });
        throw new Error('accepted');
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).problems.join('\n')).toMatch(problem);
      }
    };
    bad({ auth: { publicKeyFile: '/nonexistent/key.pem' } }, /^auth: /);
    bad({ auth: { publicKey: 'not a pem' } }, /^auth: /);
    bad({ auth: { jwksUrl: 'ftp://example.com/jwks.json' } }, /auth\.jwksUrl: expected an http\(s\) URL/);
    bad({ auth: { issuers: [{ issuer: 'a', secret: 's' }, { issuer: 'a', secret: 't' }] } }, /issuer "a" is listed twice/);
    bad({ apiKeys: [{ id: 'one', key: 'k'.repeat(20), scopes: ['read'] }, { id: 'two', key: 'k'.repeat(20), scopes: ['admin'] }] }, /apiKeys\.1\.key: the same key/);
  });

  it('truncates long close reasons to the WebSocket limit', async () => {
    const t = await startTestNode();
    try {
      const { client } = await TestClient.connect(t.wsUrl, await t.token('long'));
      expect(await t.node.disconnectUser('long', { reason: 'é'.repeat(100) })).toBe(1);
      const closed = await client.closed;
      expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
      expect(closed.reason.startsWith('éé')).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('attaches to an existing HTTP server and leaves its other routes and upgrades alone', async () => {
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`app:${req.url}`);
    });
    const otherWss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/app-socket') otherWss.handleUpgrade(req, socket, head, (ws) => ws.send('app socket'));
    });
    const tidings = createTidings({ logLevel: 'silent', auth: { secret: TEST_SECRET }, namespaces: TEST_NAMESPACES, apiKeys: [], store: { path: ':memory:' } });
    tidings.attach(server);
    const port = await listen(server);
    try {
      expect(await (await fetch(`http://127.0.0.1:${port}/hello`)).text()).toBe('app:/hello');
      expect((await fetch(`http://127.0.0.1:${port}/api/v1/health`)).status).toBe(200);
      const { client, result } = await TestClient.connect(`ws://127.0.0.1:${port}/connection/websocket`, await mintToken(TEST_SECRET, { sub: 'alice' }));
      expect(result.user).toBe('alice');
      await client.ok('subscribe', { channel: 'live:embedded' });
      await tidings.publish('live:embedded', { from: 'backend' });
      expect(await client.waitForPush((p) => p.type === 'publication')).toMatchObject({ data: { from: 'backend' } });
      const appSocket = new WebSocket(`ws://127.0.0.1:${port}/app-socket`);
      const first = await new Promise<string>((resolve) => appSocket.once('message', (m) => resolve(m.toString())));
      expect(first).toBe('app socket');
      appSocket.terminate();
      client.close();
    } finally {
      await tidings.close();
      otherWss.close();
      server.close();
    }
  });
});

describe('hooks', () => {
  it('onConnect can refuse with a code or add server-side channels; onDisconnect sees the code', async () => {
    const t = await startTestNode();
    const disconnects: { user: string; code: number }[] = [];
    t.node.onConnect(({ user }) => {
      if (user === 'banned') throw new TidingsError('permission_denied', 'banned user');
      if (user === 'busy') throw new TidingsError('unavailable', 'try later');
      return { channels: ['news:team-42'] };
    });
    t.node.onDisconnect(({ user, code }) => {
      disconnects.push({ user, code });
    });
    try {
      const banned = await TestClient.open(t.wsUrl);
      expect(await banned.call('connect', { token: await t.token('banned') })).toMatchObject({ error: { code: 'permission_denied', message: 'banned user' } });
      expect((await banned.closed).code).toBe(CloseCode.Forbidden);
      const busy = await TestClient.open(t.wsUrl);
      expect(await busy.call('connect', { token: await t.token('busy') })).toMatchObject({ error: { code: 'unavailable', temporary: true } });
      expect((await busy.closed).code).toBe(CloseCode.InternalError);
      const { client, result } = await TestClient.connect(t.wsUrl, await t.token('alice'));
      expect(Object.keys(result.subs).sort()).toEqual(['news:team-42', 'user:#alice']);
      client.close();
      await client.closed;
      await new Promise((r) => setTimeout(r, 50));
      // Refused connections never counted as connected, so only alice's disconnect is reported.
      expect(disconnects).toEqual([{ user: 'alice', code: 1005 }]);
    } finally {
      await t.close();
    }
  });
});

describe('reload', () => {
  it('applies namespaces, token keys and API keys without dropping connections; bad input changes nothing', async () => {
    const t = await startTestNode();
    try {
      const { client } = await TestClient.connect(t.wsUrl, await t.token('stayer'));
      await client.ok('subscribe', { channel: 'live:kept' });
      const newSecret = 'rotated-secret-0123456789abcdefghij';
      const newKey = 'rotated-api-key-0123456789abcdef';
      await expect(t.node.reload({ namespaces: { fresh: { recover: true } } } as never)).rejects.toBeInstanceOf(ConfigError);
      expect((await t.api('POST', '/publish', { channel: 'fresh:x', data: 1 })).status).toBe(400);
      await t.node.reload({
        auth: { secret: newSecret },
        apiKeys: [{ id: 'rotated', key: newKey, scopes: ['admin'] }],
        namespaces: { ...TEST_NAMESPACES, fresh: { history: { size: 10 } } },
      });
      // The old connection is still there and still receives.
      await t.node.publish('live:kept', 'still');
      expect(await client.waitForPush((p) => p.type === 'publication')).toMatchObject({ data: 'still' });
      // New namespace, new API key (the old one is gone), new token key.
      expect((await t.api('POST', '/publish', { channel: 'fresh:x', data: 1 }, { authorization: `Bearer ${newKey}` })).body.data).toMatchObject({ offset: 1 });
      expect((await t.api('GET', '/stats')).status).toBe(401);
      const refused = await TestClient.open(t.wsUrl);
      expect(await refused.call('connect', { token: await t.token('old-key-user') })).toMatchObject({ error: { code: 'unauthorized' } });
      const { result } = await TestClient.connect(t.wsUrl, await mintToken(newSecret, { sub: 'new-key-user' }));
      expect(result.user).toBe('new-key-user');
      client.close();
    } finally {
      await t.close();
    }
  });
});

describe('graceful shutdown', () => {
  it('tells clients to reconnect after a delay, refuses new connections and reports not ready', async () => {
    const t = await startTestNode({ shutdown: { reconnectDelay: 2000, timeout: 2000 } });
    const { client } = await TestClient.connect(t.wsUrl, await t.token('alice'));
    const silent = await TestClient.open(t.wsUrl); // never sends connect
    const closing = t.node.close();
    expect((await silent.closed).code).toBe(CloseCode.Shutdown);
    const closed = await client.closed;
    expect(closed.code).toBe(CloseCode.Shutdown);
    const push = client.pushes.find((p) => p.type === 'disconnect');
    expect(push).toMatchObject({ code: CloseCode.Shutdown, reconnect: true });
    expect((push as { delay: number }).delay).toBeGreaterThanOrEqual(1000);
    expect((push as { delay: number }).delay).toBeLessThanOrEqual(3000);
    expect(t.node.ready).toBe(false);
    expect(t.node.health().status).toBe('shutting_down');
    await closing;
    await expect(TestClient.open(t.wsUrl)).rejects.toThrow();
  });
});
