/**
 * Attack classes on the dashboard's session (issue 20 §6), against real nodes: the cookie's flags
 * (HttpOnly, SameSite=Strict, and Secure when the browser reached the node over TLS: a real HTTPS
 * server with a self-signed certificate, or a proxy saying X-Forwarded-Proto: https), and CSRF (a
 * cross-site request carrying the cookie but not the dashboard's header, as a form or a script
 * without CORS would send it, is refused; another origin's preflight gets 403). dashboard.test.ts
 * covers sign-in itself; docs/reliability.md "Attack classes" lists every class and its test.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTidings } from '../node.js';
import { startTestNode, TEST_API_KEY, TEST_SECRET, type TestNode } from '../test-support/test-node.js';

const COOKIE_FLAGS = /^tidings_dashboard=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/;
const SECURE_COOKIE_FLAGS = /^tidings_dashboard=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/;

let t: TestNode;
let base: string;
beforeAll(async () => {
  t = await startTestNode({ allowedOrigins: ['https://app.example'] });
  base = `http://127.0.0.1:${t.port}`;
});
afterAll(() => t.close());

let ipSeq = 1;
function signIn(headers: Record<string, string> = {}) {
  return fetch(`${base}/dashboard/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.9.0.${ipSeq++}`, ...headers },
    body: JSON.stringify({ key: TEST_API_KEY }),
  });
}

describe('dashboard cookie flags', () => {
  test('attack: dashboard cookie flags: HttpOnly and SameSite=Strict always, Secure over TLS (a real HTTPS server) and behind a proxy saying https, not on plain http', async () => {
    const plain = await signIn();
    expect(plain.status).toBe(200);
    expect(plain.headers.get('set-cookie')).toMatch(COOKIE_FLAGS);
    const proxied = await signIn({ 'x-forwarded-proto': 'https' });
    expect(proxied.headers.get('set-cookie')).toMatch(SECURE_COOKIE_FLAGS);

    // A node attached to a real HTTPS server (self-signed certificate for 127.0.0.1).
    const dir = mkdtempSync(join(tmpdir(), 'tidings-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      const cert = readFileSync(join(dir, 'cert.pem'));
      const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert });
      const node = createTidings({ logLevel: 'silent', auth: { secret: TEST_SECRET }, apiKeys: [{ id: 'admin', key: TEST_API_KEY, scopes: ['admin'] }], store: { path: ':memory:' } });
      node.attach(server as unknown as HttpServer);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const { status, setCookie } = await new Promise<{ status: number; setCookie: string | undefined }>((resolve, reject) => {
          const body = JSON.stringify({ key: TEST_API_KEY });
          const req = httpsRequest(
            { host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/dashboard/api/session', method: 'POST', ca: cert, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
            (res) => {
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode!, setCookie: res.headers['set-cookie']?.[0] }));
            },
          );
          req.on('error', reject);
          req.end(body);
        });
        expect(status).toBe(200);
        expect(setCookie).toMatch(SECURE_COOKIE_FLAGS);
      } finally {
        await node.close();
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dashboard CSRF', () => {
  test('attack: dashboard CSRF: a cross-site request with the session cookie but without the dashboard header is refused, as a form or a script would send it; another origin\'s preflight gets 403', async () => {
    const cookie = (await signIn()).headers.get('set-cookie')!.split(';')[0]!;
    const evil = 'https://evil.example';
    // What a form on another site can send: no custom header, a simple content type.
    const form = await fetch(`${base}/api/v1/publish`, { method: 'POST', headers: { cookie, origin: evil, 'content-type': 'application/x-www-form-urlencoded' }, body: 'channel=news%3Ax&data=1' });
    expect(form.status).toBe(403);
    expect(((await form.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    const textPlain = await fetch(`${base}/api/v1/publish`, { method: 'POST', headers: { cookie, origin: evil, 'content-type': 'text/plain' }, body: JSON.stringify({ channel: 'news:x', data: 1 }) });
    expect(textPlain.status).toBe(403);
    // The same without an Origin header (an old browser, a redirect): the cookie alone is no key.
    const noOrigin = await fetch(`${base}/api/v1/publish`, { method: 'POST', headers: { cookie, 'content-type': 'text/plain' }, body: JSON.stringify({ channel: 'news:x', data: 1 }) });
    expect(noOrigin.status).toBe(401);
    expect(((await noOrigin.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    const revoke = await fetch(`${base}/api/v1/users/alice/disconnect`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' });
    expect(revoke.status).toBe(401);
    // The dashboard header needs a preflight, which another origin does not pass.
    const preflight = await fetch(`${base}/api/v1/publish`, { method: 'OPTIONS', headers: { origin: evil, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-tidings-dashboard,content-type' } });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    // The dashboard's own token endpoint: no CORS answer for another origin, so a page there cannot read it.
    const token = await fetch(`${base}/dashboard/api/token`, { headers: { cookie, origin: evil } });
    expect(token.headers.get('access-control-allow-origin')).toBeNull();
    expect(token.headers.get('access-control-allow-credentials')).toBeNull();
    // From the dashboard itself (same origin, with its header) the cookie works.
    const own = await fetch(`${base}/api/v1/publish`, { method: 'POST', headers: { cookie, 'x-tidings-dashboard': '1', 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'news:x', data: 1 }) });
    expect(own.status).toBe(200);
  });
});
