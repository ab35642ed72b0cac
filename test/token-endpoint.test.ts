/**
 * The token endpoint examples of docs/token-endpoint.md (examples/token-endpoint/), each run
 * for real on 127.0.0.1, port 0, in front of a real Tidings node:
 *
 * - Express (`express.mjs`) as a `node` child process;
 * - the Next.js route handler (`next-route.ts`) imported here, its `GET` served through a
 *   small node:http adapter that builds a real `Request` and writes the real `Response`
 *   (Next.js itself is not installed; the handler uses nothing but the standard types);
 * - Python's standard library (`server.py`) as a `python3` child process. With CI set a
 *   missing python3 fails these tests; elsewhere they are skipped with a notice.
 *
 * For each: without the app's session the endpoint answers 401; with it, the body is the
 * signed-in user's HS256 token and nothing else, valid for 10 minutes with the configured
 * audience and issuer; and `@tidings/client` with `getToken` fetching the endpoint connects
 * as that user and receives a server API publication on the user's personal channel.
 * The doc's code blocks are the example files, verbatim.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Tidings } from '@tidings/client';
import { startTestNode, TEST_SECRET, type TestNode } from '../packages/server/src/test-support/test-node.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const EXAMPLES = join(ROOT, 'examples/token-endpoint');
const DOC = join(ROOT, 'docs/token-endpoint.md');
const PYTHON = process.env.PYTHON || 'python3';

// The claims deploy/tidings.production.yaml asks for, so the examples' aud and iss are exercised.
const AUDIENCE = 'tidings';
const ISSUER = 'https://app.example.com';
const ENDPOINT_ENV = { TIDINGS_AUTH__SECRET: TEST_SECRET, TIDINGS_AUTH__AUDIENCE: AUDIENCE, TIDINGS_AUTH__ISSUER: ISSUER };
/** The examples' placeholder session: a `session` cookie of the demo user alice. */
const SESSION = { cookie: 'session=demo-session-alice' };

function isCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/** For `describe.skipIf`: true (after a warning) only when python3 is missing outside CI. */
function pythonMissing(): boolean {
  if (isCI() || spawnSync(PYTHON, ['--version']).status === 0) return false;
  console.warn(`SKIPPING the Python token endpoint: ${PYTHON} not found (with CI set this fails)`);
  return true;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Endpoint {
  /** The full URL of /api/tidings-token. */
  url: string;
  close(): Promise<void>;
}

/** Runs an example as a child process with PORT=0 and waits for its "listening on <url>" line. */
async function startChild(command: string, file: string): Promise<Endpoint> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TIDINGS_') && k !== 'PORT' && k !== 'HOST') env[k] = v;
  const child: ChildProcess = spawn(command, [file], { cwd: EXAMPLES, env: { ...env, ...ENDPOINT_ENV, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await within(
    new Promise<string>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`${file} exited (${code}) before listening:\n${out}`)));
      child.stdout!.on('data', () => {
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
    }),
    15_000,
    `${file} to listen:\n${out}`,
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    url,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await within(exited, 5_000, `${file} to stop`);
    },
  };
}

/** Serves a route handler (`(request: Request) => Promise<Response>`) at `path`, as Next.js would. */
async function serveRouteHandler(handler: (request: Request) => Promise<Response>, path: string): Promise<Endpoint> {
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
      if (req.method !== 'GET' || url.pathname !== path) {
        res.writeHead(404).end();
        return;
      }
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      try {
        const response = await handler(new Request(url, { method: req.method, headers }));
        res.writeHead(response.status, Object.fromEntries(response.headers));
        res.end(Buffer.from(await response.arrayBuffer()));
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function startNextRoute(): Promise<Endpoint> {
  const saved = Object.fromEntries(Object.keys(ENDPOINT_ENV).map((k) => [k, process.env[k]]));
  Object.assign(process.env, ENDPOINT_ENV);
  const { GET } = (await import('../examples/token-endpoint/next-route.js')) as { GET: (request: Request) => Promise<Response> };
  const served = await serveRouteHandler(GET, '/api/tidings-token');
  return {
    url: served.url,
    async close() {
      await served.close();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}

const EXAMPLE_LIST = [
  { name: 'Express', file: 'express.mjs', missing: () => false, start: () => startChild(process.execPath, 'express.mjs') },
  { name: 'Next.js route handler', file: 'next-route.ts', missing: () => false, start: startNextRoute },
  { name: 'Python standard library', file: 'server.py', missing: pythonMissing, start: () => startChild(PYTHON, 'server.py') },
];

let node: TestNode;
beforeAll(async () => {
  node = await startTestNode({ auth: { secret: TEST_SECRET, audience: AUDIENCE, issuer: ISSUER } });
});
afterAll(async () => {
  await node?.close();
});

function decodePart(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

for (const example of EXAMPLE_LIST) {
  describe.skipIf(example.missing())(`token endpoint: ${example.name} (${example.file})`, () => {
    let endpoint: Endpoint;
    const clients: Tidings[] = [];
    beforeAll(async () => {
      endpoint = await example.start();
    });
    afterEach(() => {
      for (const c of clients.splice(0)) c.disconnect();
    });
    afterAll(async () => {
      await endpoint?.close();
    });

    it('answers 401 and no token without the app session', async () => {
      const res = await fetch(endpoint.url);
      expect(res.status).toBe(401);
      expect(await res.text()).not.toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const wrong = await fetch(endpoint.url, { headers: { cookie: 'session=someone-else' } });
      expect(wrong.status).toBe(401);
    });

    it("answers the signed-in user's HS256 token as plain text, valid for 10 minutes, with aud and iss", async () => {
      const res = await fetch(endpoint.url, { headers: SESSION });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const token = await res.text();
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const [header, payload] = token.split('.') as [string, string, string];
      expect(decodePart(header)).toMatchObject({ alg: 'HS256' });
      const claims = decodePart(payload);
      expect(claims).toMatchObject({ sub: 'alice', info: { name: 'Alice' }, aud: AUDIENCE, iss: ISSUER });
      expect(claims['channel']).toBeUndefined(); // a connection token, not a subscription token
      expect(Number(claims['exp']) - Number(claims['iat'])).toBe(600);
      expect(Math.abs(Number(claims['iat']) - Date.now() / 1000)).toBeLessThan(60);
    });

    it('the SDK connects with getToken from the endpoint as the signed-in user and receives an API publication', async () => {
      let calls = 0;
      const client = new Tidings(node.wsUrl, {
        getToken: () => {
          calls++;
          return fetch(endpoint.url, { headers: SESSION }).then((r) => r.text());
        },
      });
      clients.push(client);
      // Only alice's own connection has user:#alice as its server-side subscription.
      const personal = client.subscribe<{ text: string }>('user:#alice');
      const received = new Promise<{ text: string }>((resolve) => personal.on('publication', ({ data }) => resolve(data)));
      await within(client.connect(), 10_000, 'connect');
      expect(calls).toBe(1);
      expect(client.user).toBe('alice');
      expect(personal.serverSide).toBe(true);
      const published = await node.api('POST', '/publish', { channel: 'user:#alice', data: { text: `hello from ${example.file}` } });
      expect(published.status).toBe(200);
      expect(await within(received, 5_000, 'the publication')).toEqual({ text: `hello from ${example.file}` });
    });

    it("signed out: a getToken that answers null on the endpoint's 401 stops the client with unauthorized", async () => {
      const client = new Tidings(node.wsUrl, { getToken: () => fetch(endpoint.url).then((r) => (r.ok ? r.text() : null)) });
      clients.push(client);
      await expect(within(client.connect(), 10_000, 'connect')).rejects.toMatchObject({ code: 'unauthorized', temporary: false });
      expect(client.state).toBe('disconnected');
    });
  });
}

describe('docs/token-endpoint.md', () => {
  it('shows each example file verbatim in a code block', () => {
    const doc = readFileSync(DOC, 'utf8');
    for (const { file } of EXAMPLE_LIST) {
      const source = readFileSync(join(EXAMPLES, file), 'utf8').trimEnd();
      expect(doc, `${file} is not in the doc verbatim`).toContain('\n' + source + '\n```');
      expect(doc, `${file} is not linked`).toContain(`](../examples/token-endpoint/${file})`);
    }
  });

  it('next-route.ts type-checks with the standard Request and Response only (no Next.js types)', async () => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const args = ['--noEmit', '--strict', '--noUncheckedIndexedAccess', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext'];
    args.push('--lib', 'es2023,dom', '--types', 'node', '--skipLibCheck', join(EXAMPLES, 'next-route.ts'));
    const result = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(process.execPath, [tsc, ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
      );
    });
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  });
});
