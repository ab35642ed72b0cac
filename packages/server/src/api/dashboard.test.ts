/**
 * The dashboard's server side: its files, sign-in with a key or a one-time code,
 * throttling, the session cookie standing for an admin key (with the CSRF header),
 * and live stats through the reserved channel tidings-admin:stats.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportSPKI, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { withNodePair } from '../test-support/node-pair.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_API_KEY, TEST_NAMESPACES, TEST_SECRET, type TestNode } from '../test-support/test-node.js';

const dir = mkdtempSync(join(tmpdir(), 'tidings-dash-'));
mkdirSync(join(dir, 'assets'));
writeFileSync(join(dir, 'index.html'), '<!doctype html><title>dash</title>');
writeFileSync(join(dir, 'assets', 'app-1234.js'), 'console.log(1)');
writeFileSync(join(dir, '..', 'secret.txt'), 'outside');

let t: TestNode;
let base: string;
beforeAll(async () => {
  // Behind a trusted proxy on loopback, X-Forwarded-For gives each test its own address.
  t = await startTestNode({ dashboard: { dir, statsInterval: 100, signInAttempts: 3 }, trustedProxies: ['127.0.0.1'] });
  base = `http://127.0.0.1:${t.port}`;
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(dir, '..', 'secret.txt'), { force: true });
});

/** Requests from distinct addresses in 127/8, so throttling of one test leaves the others alone. */
let ipSeq = 10;
function signIn(key: string, ip = `10.0.0.${ipSeq++}`) {
  return fetch(`${base}/dashboard/api/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify({ key }) });
}
const cookieOf = (res: Response) => res.headers.get('set-cookie')!.split(';')[0]!;

/**
 * A sign-in sent with `Expect: 100-continue`: `headersHandled` settles once the server has run
 * its handler on the headers (it answered 100 Continue, or already a final status); the body
 * goes only on `sendBody()`.
 */
function signInInTwoSteps(port: number, ip: string, key: string) {
  const body = JSON.stringify({ key });
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/dashboard/api/session',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-forwarded-for': ip, expect: '100-continue' },
  });
  let continued = false;
  const headersHandled = new Promise<void>((resolve) => {
    req.once('continue', () => {
      continued = true;
      resolve();
    });
    req.once('response', () => resolve());
  });
  const response = new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, body: text });
        // A refused attempt never sends its body.
        if (!continued) req.destroy();
      });
    });
  });
  req.flushHeaders();
  return { headersHandled, response, sendBody: () => (continued ? req.end(body) : undefined) };
}

describe('files', () => {
  test('serves the app, its assets, client routes, and nothing outside its directory', async () => {
    const index = await fetch(`${base}/dashboard/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('x-frame-options')).toBe('DENY');
    expect(await index.text()).toContain('<title>dash</title>');
    const asset = await fetch(`${base}/dashboard/assets/app-1234.js`);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(await (await fetch(`${base}/dashboard/channels/chat:lobby`)).text()).toContain('<title>dash</title>');
    expect((await fetch(`${base}/dashboard/assets/missing.js`)).status).toBe(404);
    for (const path of ['/dashboard/..%2fsecret.txt', '/dashboard/%2e%2e/secret.txt', '/dashboard/assets/..%2f..%2fsecret.txt']) {
      const res = await fetch(`${base}${path}`);
      expect(await res.text(), path).not.toContain('outside');
    }
    const bare = await fetch(`${base}/dashboard`, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/dashboard/');
  });
});

describe('sign-in', () => {
  test('an admin key gets an HttpOnly, SameSite=Strict session; the cookie then works as an admin key with the dashboard header only', async () => {
    expect((await fetch(`${base}/dashboard/api/me`)).status).toBe(401);
    const res = await signIn(TEST_API_KEY);
    expect(res.status).toBe(200);
    expect((await res.json()).data).toMatchObject({ name: 'admin', expiresAt: expect.any(Number) });
    const setCookie = res.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^tidings_dashboard=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect(setCookie).not.toContain(TEST_API_KEY);
    const cookie = cookieOf(res);
    const me = await fetch(`${base}/dashboard/api/me`, { headers: { cookie } });
    expect((await me.json()).data.name).toBe('admin');

    // The server API: the cookie alone is not enough (CSRF guard), with the header it is an admin key.
    expect((await fetch(`${base}/api/v1/connections`, { headers: { cookie } })).status).toBe(401);
    const api = await fetch(`${base}/api/v1/connections`, { headers: { cookie, 'x-tidings-dashboard': '1' } });
    expect(api.status).toBe(200);
    const pub = await fetch(`${base}/api/v1/publish`, { method: 'POST', headers: { cookie, 'x-tidings-dashboard': '1', 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'news:x', data: 1 }) });
    expect(pub.status).toBe(200);

    // Signing out clears the browser's cookie; the cookie is the whole session (docs/dashboard.md).
    const out = await fetch(`${base}/dashboard/api/session`, { method: 'DELETE', headers: { cookie } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toBe('tidings_dashboard=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0');
    const cleared = cookieOf(out);
    expect((await fetch(`${base}/dashboard/api/me`, { headers: { cookie: cleared } })).status).toBe(401);
    expect((await fetch(`${base}/api/v1/connections`, { headers: { cookie: cleared, 'x-tidings-dashboard': '1' } })).status).toBe(401);
  });

  test('wrong keys and keys without the admin scope are refused, and throttled per address', async () => {
    const ip = '10.9.9.9';
    const wrong = await signIn('not-the-key-0123456789', ip);
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect((await signIn(`${TEST_API_KEY}-read`, ip)).status).toBe(401);
    expect((await signIn('still-wrong-0123456789', ip)).status).toBe(401);
    const throttled = await signIn(TEST_API_KEY, ip);
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await throttled.json()).error.code).toBe('rate_limited');
    // Another address is not affected.
    expect((await signIn(TEST_API_KEY, '10.9.9.10')).status).toBe(200);
    expect((await fetch(`${base}/dashboard/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key": 5}' })).status).toBe(400);
  });

  test('40 concurrent wrong sign-ins from one address: signInAttempts (5) are evaluated, the rest get 429 with Retry-After, and so does the right key after them', async () => {
    // The documented default (5 a minute), on a node of its own.
    const own = await startTestNode({ dashboard: { dir }, trustedProxies: ['127.0.0.1'] });
    try {
      // Every request's headers are handled (the server answers 100 Continue, or refuses) before any body is sent:
      // the most concurrent the attempts can be.
      const attempts = Array.from({ length: 40 }, (_, i) => signInInTwoSteps(own.port, '10.7.7.7', `wrong-key-${i}-0123456789`));
      await Promise.all(attempts.map((a) => a.headersHandled));
      for (const a of attempts) a.sendBody();
      const answers = await Promise.all(attempts.map((a) => a.response));
      const statuses = answers.map((r) => r.status);
      expect(statuses.filter((s) => s === 401)).toHaveLength(5);
      expect(statuses.filter((s) => s === 429)).toHaveLength(35);
      for (const r of answers.filter((a) => a.status === 429)) {
        expect(Number(r.retryAfter)).toBeGreaterThan(0);
        expect(Number(r.retryAfter)).toBeLessThanOrEqual(60);
        expect(JSON.parse(r.body).error.code).toBe('rate_limited');
      }
      // Within the minute even the right key is refused (docs/dashboard.md); another address is not.
      const url = `http://127.0.0.1:${own.port}/dashboard/api/session`;
      const post = (ip: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify({ key: TEST_API_KEY }) });
      const right = await post('10.7.7.7');
      expect(right.status).toBe(429);
      expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(right.headers.get('set-cookie')).toBeNull();
      expect((await post('10.7.7.8')).status).toBe(200);
    } finally {
      await own.close();
    }
  });

  test('successful sign-ins do not use up the address\'s attempts', async () => {
    const ip = '10.8.8.8';
    // signInAttempts is 3 on this node: more successes than that, then still 3 wrong keys before 429.
    for (let i = 0; i < 5; i++) expect((await signIn(TEST_API_KEY, ip)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await signIn(`wrong-${i}-0123456789`, ip)).status).toBe(401);
    expect((await signIn(TEST_API_KEY, ip)).status).toBe(429);
  });

  test('removing the key a dashboard signed in with (and reloading) signs that dashboard out', async () => {
    const extra = { id: 'ops', key: 'ops-admin-key-0123456789', scopes: ['admin'] as ['admin'] };
    const keys = t.node.config.apiKeys.map((k) => ({ id: k.id, key: k.key, scopes: k.scopes }));
    const reload = (apiKeys: typeof keys) => t.node.reload({ auth: { secret: TEST_SECRET }, namespaces: TEST_NAMESPACES, apiKeys });
    await reload([...keys, extra]);
    const cookie = cookieOf(await signIn(extra.key));
    expect((await fetch(`${base}/api/v1/connections`, { headers: { cookie, 'x-tidings-dashboard': '1' } })).status).toBe(200);
    await reload(keys);
    expect((await fetch(`${base}/api/v1/connections`, { headers: { cookie, 'x-tidings-dashboard': '1' } })).status).toBe(401);
    expect((await fetch(`${base}/dashboard/api/me`, { headers: { cookie } })).status).toBe(401);
    expect((await fetch(`${base}/dashboard/api/token`, { headers: { cookie } })).status).toBe(401);
  });

  test('a one-time code signs in once, then redirects with signin=failed', async () => {
    const path = await t.node.dashboardSignInPath();
    expect(path).toMatch(/^\/dashboard\/api\/sign-in\?code=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/);
    const first = await fetch(`${base}${path}`, { redirect: 'manual', headers: { 'x-forwarded-for': '10.1.1.1' } });
    expect(first.status).toBe(302);
    expect(first.headers.get('location')).toBe('/dashboard/');
    const cookie = cookieOf(first);
    expect((await (await fetch(`${base}/dashboard/api/me`, { headers: { cookie } })).json()).data.name).toBe('dev');
    const again = await fetch(`${base}${path}`, { redirect: 'manual', headers: { 'x-forwarded-for': '10.1.1.1' } });
    expect(again.status).toBe(302);
    expect(again.headers.get('location')).toBe('/dashboard/?signin=failed');
    expect(again.headers.get('set-cookie')).toBeNull();
  });
});

describe('sign-in across two nodes sharing one engine (as the workers of tidings serve --workers; real sockets on 127.0.0.1)', () => {
  const twoNodes = (body: (a: TestNode, b: TestNode) => Promise<void>) => withNodePair({ dashboard: { dir, signInAttempts: 4 }, trustedProxies: ['127.0.0.1'] }, body);
  const visit = (n: TestNode, path: string, ip: string) => fetch(`http://127.0.0.1:${n.port}${path}`, { redirect: 'manual', headers: { 'x-forwarded-for': ip } });

  test('a sign-in code minted on node A works on node B once, and never again on either', () =>
    twoNodes(async (a, b) => {
      const path = await a.node.dashboardSignInPath();
      const first = await visit(b, path, '10.3.0.1');
      expect(first.status).toBe(302);
      expect(first.headers.get('location')).toBe('/dashboard/');
      const cookie = cookieOf(first);
      // The session it made is good on both nodes.
      for (const n of [a, b]) expect((await (await fetch(`http://127.0.0.1:${n.port}/dashboard/api/me`, { headers: { cookie } })).json()).data.name).toBe('dev');
      for (const n of [b, a]) {
        const again = await visit(n, path, '10.3.0.1');
        expect(again.headers.get('location')).toBe('/dashboard/?signin=failed');
        expect(again.headers.get('set-cookie')).toBeNull();
      }
    }));

  test('the sign-in throttle counts the attempts made on both nodes: signInAttempts (4) wrong keys over A and B, then 429 on both', () =>
    twoNodes(async (a, b) => {
      const post = (n: TestNode, key: string) =>
        fetch(`http://127.0.0.1:${n.port}/dashboard/api/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '10.3.0.2' }, body: JSON.stringify({ key }) });
      for (let i = 0; i < 4; i++) expect((await post(i % 2 ? a : b, `wrong-${i}-0123456789`)).status).toBe(401);
      for (const n of [a, b]) {
        const refused = await post(n, TEST_API_KEY);
        expect(refused.status).toBe(429);
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      // A sign-in link is refused as well while the address is throttled, on either node.
      const path = await a.node.dashboardSignInPath();
      expect((await visit(b, path, '10.3.0.2')).headers.get('location')).toBe('/dashboard/?signin=failed');
    }));
});

describe('sessions are the signed cookie, held by no process', () => {
  const nodes: TestNode[] = [];
  const node = async (options: Parameters<typeof startTestNode>[0] = {}) => {
    const n = await startTestNode({ dashboard: { dir }, ...options });
    nodes.push(n);
    return n;
  };
  afterAll(async () => {
    for (const n of nodes) await n.close();
  });
  const me = (n: TestNode, cookie: string) => fetch(`http://127.0.0.1:${n.port}/dashboard/api/me`, { headers: { cookie } });
  const api = (n: TestNode, cookie: string) => fetch(`${n.apiUrl}/connections`, { headers: { cookie, 'x-tidings-dashboard': '1' } });
  const signInOn = (n: TestNode, key: string) =>
    fetch(`http://127.0.0.1:${n.port}/dashboard/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key }) });

  test('a cookie from one node works on a second node with the same config (another worker, or the node restarted), not on one with another secret', async () => {
    const cookie = cookieOf(await signIn(TEST_API_KEY));
    const twin = await node();
    expect((await (await me(twin, cookie)).json()).data.name).toBe('admin');
    expect((await api(twin, cookie)).status).toBe(200);
    // The page's connection token, fetched from one node, connects on the other.
    const { data } = await (await fetch(`${base}/dashboard/api/token`, { headers: { cookie } })).json();
    const { client, result } = await TestClient.connect(twin.wsUrl, data.token);
    expect(result.user).toBe('dashboard.admin');
    client.close();
    // A restart: a new node, same config.
    await twin.close();
    nodes.splice(nodes.indexOf(twin), 1);
    const restarted = await node();
    expect((await me(restarted, cookie)).status).toBe(200);
    expect((await api(restarted, cookie)).status).toBe(200);
    const other = await node({ auth: { secret: 'another-secret-0123456789-abcdefghij' } });
    expect((await me(other, cookie)).status).toBe(401);
    expect((await api(other, cookie)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${other.port}/dashboard/api/token`, { headers: { cookie } })).status).toBe(401);
  });

  test('a tampered or expired cookie is refused', async () => {
    const cookie = cookieOf(await signIn(TEST_API_KEY));
    const [name, value] = cookie.split('=') as [string, string];
    const [body, mac] = value.split('.') as [string, string];
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const longer = Buffer.from(JSON.stringify({ ...payload, exp: (payload['exp'] as number) + 86_400_000 })).toString('base64url');
    for (const tampered of [`${name}=${longer}.${mac}`, `${name}=${body}.${mac.slice(0, -2)}AA`, `${name}=${body}`, `${name}=garbage`]) {
      expect((await fetch(`${base}/dashboard/api/me`, { headers: { cookie: tampered } })).status, tampered).toBe(401);
      expect((await fetch(`${base}/api/v1/connections`, { headers: { cookie: tampered, 'x-tidings-dashboard': '1' } })).status, tampered).toBe(401);
    }
    // Expiry: a node whose sessions last 100 ms.
    const brief = await node({ dashboard: { dir, sessionTtl: 100 } });
    const short = await signInOn(brief, TEST_API_KEY);
    expect(short.headers.get('set-cookie')).toContain('Max-Age=0');
    const shortCookie = cookieOf(short);
    expect((await me(brief, shortCookie)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 150));
    expect((await me(brief, shortCookie)).status).toBe(401);
    expect((await api(brief, shortCookie)).status).toBe(401);
    // The 12 h cookie of the main node is cut to the brief node's sessionTtl from its issue time.
    await new Promise((r) => setTimeout(r, 150));
    expect((await me(brief, cookie)).status).toBe(401);
    expect((await me(t, cookie)).status).toBe(200);
  });

  test('a removed key, or a new value for its id, ends its sessions on every node that has the change', async () => {
    const ops = { id: 'ops', key: 'ops-admin-key-0123456789', scopes: ['admin'] as ['admin'] };
    const admin = { id: 'admin', key: TEST_API_KEY, scopes: ['admin'] as ['admin'] };
    const reload = (n: TestNode, apiKeys: (typeof ops)[]) => n.node.reload({ auth: { secret: TEST_SECRET }, namespaces: TEST_NAMESPACES, apiKeys });
    const a = await node({ apiKeys: [admin, ops] });
    const b = await node({ apiKeys: [admin, ops] });
    const cookie = cookieOf(await signInOn(a, ops.key));
    expect((await api(b, cookie)).status).toBe(200);
    await reload(b, [admin]);
    expect((await api(b, cookie)).status).toBe(401);
    expect((await me(b, cookie)).status).toBe(401);
    // Only the admin scope counts.
    await reload(b, [admin, { ...ops, scopes: ['publish'] as unknown as ['admin'] }]);
    expect((await api(b, cookie)).status).toBe(401);
    // The same id with a new value: the old value's sessions are over.
    await reload(a, [admin, { ...ops, key: 'ops-admin-key-rotated-0123456789' }]);
    expect((await api(a, cookie)).status).toBe(401);
    await reload(a, [admin, ops]);
    expect((await api(a, cookie)).status).toBe(200);
  });

  test('without auth.secret (public keys only), the root is a secret created once in dataDir, at the first sign-in: shared by the nodes of that dataDir', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const dataDir = mkdtempSync(join(tmpdir(), 'tidings-dash-data-'));
    const otherDir = mkdtempSync(join(tmpdir(), 'tidings-dash-data-'));
    try {
      const first = await node({ auth: { publicKey: pem }, dataDir });
      const file = join(dataDir, 'dashboard-secret');
      expect(existsSync(file)).toBe(false);
      // A cookie check alone creates nothing.
      expect((await me(first, 'tidings_dashboard=abc.def')).status).toBe(401);
      expect(existsSync(file)).toBe(false);
      const cookie = cookieOf(await signInOn(first, TEST_API_KEY));
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const second = await node({ auth: { publicKey: pem }, dataDir });
      expect((await me(second, cookie)).status).toBe(200);
      expect((await api(second, cookie)).status).toBe(200);
      const elsewhere = await node({ auth: { publicKey: pem }, dataDir: otherDir });
      expect((await me(elsewhere, cookie)).status).toBe(401);
      expect(existsSync(join(otherDir, 'dashboard-secret'))).toBe(false);
      // Nor does the data-dir secret stand in for auth.secret on a node that has one.
      const withSecret = await node({ dataDir });
      expect((await me(withSecret, cookie)).status).toBe(401);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(otherDir, { recursive: true, force: true });
    }
  });
});

describe('a real `tidings serve` process', () => {
  const BIN = fileURLToPath(new URL('../../bin/tidings.js', import.meta.url));

  /** `tidings serve --config` in `cwd` until SIGTERM; resolves with its port once it listens. */
  async function serve(cwd: string) {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TIDINGS_') && k !== 'PORT') env[k] = v;
    const child = spawn(process.execPath, [BIN, 'serve', '--config', join(cwd, 'tidings.yaml')], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tidings serve did not listen within 20 s:\n${out}`)), 20_000);
      child.stdout!.on('data', () => {
        const line = out.split('\n').find((l) => l.includes('tidings listening'));
        if (!line) return;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`tidings serve exited early:\n${out}`));
      });
    });
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    };
    return { port, stop, output: () => out };
  }

  test('signs in, restarts the process with the same config and data dir, and the same cookie still reaches the API', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const pem = (await exportSPKI(publicKey)).trim().split('\n').join('\n    ');
    // With auth.secret, and with public keys only (the root then lives in the data dir).
    for (const auth of [`auth:\n  secret: ${TEST_SECRET}`, `auth:\n  publicKey: |\n    ${pem}`]) {
      const cwd = mkdtempSync(join(tmpdir(), 'tidings-dash-proc-'));
      try {
        const key = 'process-admin-key-0123456789';
        writeFileSync(
          join(cwd, 'tidings.yaml'),
          `host: 127.0.0.1\nport: 0\nlogLevel: info\nlogFormat: json\ndataDir: ./data\n${auth}\napiKeys:\n  - id: ops\n    key: ${key}\n    scopes: [admin]\ndashboard:\n  dir: ${dir}\n`,
        );
        const first = await serve(cwd);
        const res = await fetch(`http://127.0.0.1:${first.port}/dashboard/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key }) });
        expect(res.status, first.output()).toBe(200);
        const cookie = cookieOf(res);
        expect((await fetch(`http://127.0.0.1:${first.port}/api/v1/connections`, { headers: { cookie, 'x-tidings-dashboard': '1' } })).status).toBe(200);
        expect(await first.stop()).toBe(0);

        const second = await serve(cwd);
        try {
          const again = await fetch(`http://127.0.0.1:${second.port}/api/v1/connections`, { headers: { cookie, 'x-tidings-dashboard': '1' } });
          expect(again.status, auth).toBe(200);
          expect((await (await fetch(`http://127.0.0.1:${second.port}/dashboard/api/me`, { headers: { cookie } })).json()).data.name).toBe('ops');
        } finally {
          expect(await second.stop()).toBe(0);
        }
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    }
  }, 60_000);
});

describe('live stats', () => {
  test('the dashboard token subscribes to tidings-admin:stats and gets a snapshot every interval; other users cannot', async () => {
    const cookie = cookieOf(await signIn(TEST_API_KEY));
    const { data } = await (await fetch(`${base}/dashboard/api/token`, { headers: { cookie } })).json();
    expect(data.expiresIn).toBe(300);
    const { client: dash, result } = await TestClient.connect(t.wsUrl, data.token);
    expect(result.user).toBe('dashboard.admin');
    const { client: user } = await TestClient.connect(t.wsUrl, await t.token('someone'));
    expect(await user.call('subscribe', { channel: 'tidings-admin:stats' })).toMatchObject({ error: { code: 'permission_denied' } });
    // An app token cannot claim the dashboard's role.
    const { client: pretender } = await TestClient.connect(t.wsUrl, await t.token('pretender', { roles: ['tidings-admin', 'staff'] }));
    expect(await pretender.call('subscribe', { channel: 'tidings-admin:stats' })).toMatchObject({ error: { code: 'permission_denied' } });
    await pretender.ok('subscribe', { channel: 'staff:room' });
    pretender.close();
    await pretender.closed;
    await dash.ok('subscribe', { channel: 'tidings-admin:stats' });
    const first = await dash.waitForPush((p) => p.type === 'publication' && p.channel === 'tidings-admin:stats', 2000);
    expect((first as { data: unknown }).data).toEqual({
      time: expect.any(Number),
      node: t.node.nodeId,
      version: expect.any(String),
      uptimeSeconds: expect.any(Number),
      memory: { rss: expect.any(Number), heapUsed: expect.any(Number) },
      // The dashboard's own connection is reported apart: the figures are the apps' traffic.
      dashboards: 1,
      connections: 1,
      users: 1,
      subscriptions: 1,
      // Two personal channels; the stats channel itself is not counted.
      channels: 2,
      publicationsInPerSecond: expect.any(Number),
      publicationsOutPerSecond: expect.any(Number),
      errorsPerSecond: expect.any(Object),
      disconnectsPerSecond: expect.any(Object),
      eventLoopLagMs: { mean: expect.any(Number), p99: expect.any(Number) },
    });
    // Traffic shows up as rates: 20 publications to one subscriber within an interval.
    await user.ok('subscribe', { channel: 'news:rates' });
    for (let i = 0; i < 20; i++) await t.api('POST', '/publish', { channel: 'news:rates', data: i });
    const deadline = Date.now() + 2000;
    let saw = false;
    while (!saw && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      saw = dash.publications('tidings-admin:stats').some((p) => (p.data as { publicationsInPerSecond: number }).publicationsInPerSecond > 0);
    }
    expect(saw).toBe(true);
    // Rates leave out the stats publications themselves: an otherwise idle node shows 0 out.
    await new Promise((r) => setTimeout(r, 300));
    const idle = dash.publications('tidings-admin:stats').slice(-1)[0]!.data as { publicationsOutPerSecond: number; eventLoopLagMs: { mean: number } };
    expect(idle.publicationsOutPerSecond).toBe(0);
    expect(idle.eventLoopLagMs.mean).toBeLessThan(10);
    expect((await fetch(`${base}/dashboard/api/token`)).status).toBe(401);
    dash.close();
    user.close();
  });
});
