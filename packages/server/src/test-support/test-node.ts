/**
 * Starts a Tidings node on 127.0.0.1, port 0, with short timers, for tests.
 */
import { mintToken, type MintTokenClaims } from '../auth/token-mint.js';
import { createTidings, type Tidings, type TidingsOptions } from '../node.js';

export const TEST_SECRET = 'test-secret-0123456789-abcdefghijklmnop';
export const TEST_API_KEY = 'test-api-key-0123456789abcdef';

export interface TestNode {
  node: Tidings;
  port: number;
  wsUrl: string;
  apiUrl: string;
  token(sub: string, claims?: Omit<MintTokenClaims, 'sub'>): Promise<string>;
  /** Calls the server API with the admin key. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export const TEST_NAMESPACES: TidingsOptions['namespaces'] = {
  chat: { history: { size: 1000, ttl: '10m' }, recover: true, clientPublish: 'subscribers', presence: true, joinLeave: true, typing: true },
  news: { history: { size: 100, ttl: '10m' }, recover: true },
  live: {},
  staff: { allowedRoles: ['staff'], clientPublish: ['staff'] },
  task: { private: true, history: { size: 10, ttl: '10m' }, recover: true },
  dm: { history: { size: 100, ttl: '10m' }, recover: true, clientPublish: 'subscribers' },
  open: { anonymous: true, clientPublish: 'subscribers' },
  board: { private: true, clientPublish: ['editor'] },
};

export async function startTestNode(options: TidingsOptions = {}): Promise<TestNode> {
  const node = createTidings({
    logLevel: 'silent',
    auth: { secret: TEST_SECRET },
    apiKeys: [
      { id: 'admin', key: TEST_API_KEY, scopes: ['admin'] },
      { id: 'reader', key: TEST_API_KEY + '-read', scopes: ['read'] },
      { id: 'publisher', key: TEST_API_KEY + '-pub', scopes: ['publish'] },
    ],
    namespaces: TEST_NAMESPACES,
    // Short grace and typing timers: tests wait for leaves and expiries.
    presence: { leaveGrace: 150 },
    typing: { timeout: 400, throttle: 100 },
    // An in-memory database: real SQLite, nothing left on disk. Tests of durability pass a file.
    store: { path: ':memory:' },
    ...options,
  });
  const address = await node.listen(0, '127.0.0.1');
  const base = `127.0.0.1:${address.port}`;
  return {
    node,
    port: address.port,
    wsUrl: `ws://${base}/connection/websocket`,
    apiUrl: `http://${base}/api/v1`,
    token: (sub, claims = {}) => mintToken(TEST_SECRET, { sub, ttlSeconds: 3600, ...claims }),
    async api(method, path, body, headers = {}) {
      const res = await fetch(`http://${base}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${TEST_API_KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    close: () => node.close(),
  };
}
