/**
 * Tidings behind a real nginx, as docs/deploy.md sets it up: Debian's nginx runs the site
 * file deploy/nginx/tidings.conf (only its listen addresses, upstream port and certificate
 * paths replaced) with TLS on a self-signed certificate, in front of a `tidings serve`
 * child process with `trustedProxies: [127.0.0.1]`.
 *
 * Clients connect to nginx over TLS from their own loopback addresses (127.0.0.2, ...);
 * nginx passes `$remote_addr` in X-Forwarded-For, so the server must see each client's own
 * address in its per-IP limits and audit events, not nginx's 127.0.0.1.
 *
 * The deploy files are also checked as files: the production config example loads with the
 * real schema, the systemd unit runs `tidings serve` as it should, and nginx's read timeouts
 * on the transport locations are above the long-poll and heartbeat intervals.
 *
 * With CI set, a missing nginx fails these tests (.ci/run installs it); elsewhere they are
 * skipped with a notice when nginx is absent.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WS from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Tidings, pollingTransport, sseTransport, websocketTransport, type TransportFactory } from '@tidings/client';
import { mintToken } from '../packages/server/src/auth/token-mint.js';
import { loadConfig } from '../packages/server/src/config/load.js';
import { boundFetch, boundWebSocket, type BoundFetch } from './support/bound-client.js';
import { NGINX_SITE, nginxMissing, selfSignedCert, startNginx, type Certificate, type NginxProcess } from './support/nginx.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

const ROOT = new URL('../', import.meta.url).pathname;
const PRODUCTION_YAML = join(ROOT, 'deploy/tidings.production.yaml');
const ENV_EXAMPLE = join(ROOT, 'deploy/tidings.env.example');
const UNIT = join(ROOT, 'deploy/systemd/tidings.service');

/** Bounded waits, polling every 10 ms. */
async function until(check: () => boolean | Promise<boolean>, message: string, timeout = 5_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms: ${message}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** KEY=VALUE lines of a systemd EnvironmentFile (single or double quotes around a value are removed). */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    const raw = m[2]!;
    env[m[1]!] = /^'.*'$|^".*"$/.test(raw) ? raw.slice(1, -1) : raw;
  }
  return env;
}

/** `[Section] Key=Value` pairs of a unit file; keys that repeat keep every value. */
function parseUnit(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq)}`;
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

/** nginx duration (`1h`, `90s`, `60`) in seconds. */
function nginxSeconds(value: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value);
  if (!m) throw new Error(`not an nginx duration: ${value}`);
  const scale: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
  return Number(m[1]) * scale[m[2] ?? 's']!;
}

/** The directives of one `location <spec> { ... }` block of the site file (no nested blocks there). */
function locationBlock(site: string, spec: string): string {
  const start = site.indexOf(`location ${spec} {`);
  if (start < 0) throw new Error(`deploy/nginx/tidings.conf has no "location ${spec}"`);
  return site.slice(start, site.indexOf('}', start));
}

describe('deploy files', () => {
  it('the production config example loads with the real schema, its secrets from the env example', async () => {
    const env = parseEnvFile(await readFile(ENV_EXAMPLE, 'utf8'));
    expect(Object.keys(env).sort()).toEqual(['TIDINGS_API_KEYS', 'TIDINGS_AUTH__SECRET']);
    const config = loadConfig({ file: PRODUCTION_YAML, env });
    // Only nginx on the same host reaches the node, and its X-Forwarded-For is believed.
    expect(config.host).toBe('127.0.0.1');
    expect(config.trustedProxies).toEqual(expect.arrayContaining(['127.0.0.1', '::1']));
    expect(config.allowedOrigins.length).toBeGreaterThan(0);
    expect(config.metrics.requireKey).toBe(true);
    expect(config.apiKeys.some((k) => k.scopes.includes('read'))).toBe(true);
    expect(config.auth.secret).toBe(env['TIDINGS_AUTH__SECRET']);
    // The secrets live in the env file only.
    const yaml = await readFile(PRODUCTION_YAML, 'utf8');
    expect(yaml).not.toMatch(/^\s*(secret|key):/m);
    expect(config.dataDir).toBe('/var/lib/tidings');
    expect(config.store.path.startsWith('/var/lib/tidings/')).toBe(true);
  });

  it('the systemd unit runs tidings serve as the unprivileged tidings user, reloads with SIGHUP and may write only the data dir', async () => {
    const unit = parseUnit(await readFile(UNIT, 'utf8'));
    const one = (key: string) => {
      const values = unit.get(key);
      expect(values, key).toHaveLength(1);
      return values![0]!;
    };
    expect(one('Service.ExecStart')).toMatch(/\/tidings serve --config \/etc\/tidings\/tidings\.yaml$/);
    expect(one('Service.EnvironmentFile')).toBe('/etc/tidings/tidings.env');
    expect(one('Service.User')).toBe('tidings');
    expect(one('Service.Restart')).toBe('on-failure');
    // A configuration that does not validate exits with 2: no restart loop on it.
    expect(one('Service.RestartPreventExitStatus')).toBe('2');
    expect(one('Service.ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('Service.NoNewPrivileges')).toBe('true');
    expect(one('Service.ProtectSystem')).toBe('strict');
    // The data dir of the production config is the one the unit lets it write.
    const config = loadConfig({ file: PRODUCTION_YAML, env: parseEnvFile(await readFile(ENV_EXAMPLE, 'utf8')) });
    expect(one('Service.StateDirectory')).toBe('tidings');
    expect(config.dataDir).toBe('/var/lib/tidings');
    // Graceful shutdown (shutdown.timeout) finishes before systemd's SIGKILL.
    expect(nginxSeconds(one('Service.TimeoutStopSec'))).toBeGreaterThan(config.shutdown.timeout / 1000);
    expect(Number(one('Service.LimitNOFILE'))).toBeGreaterThan(config.limits.connectionsPerNode);
  });

  it('nginx keeps transport requests open longer than a parked poll, an SSE heartbeat and a WebSocket ping', async () => {
    const site = await readFile(NGINX_SITE, 'utf8');
    const config = loadConfig({ file: PRODUCTION_YAML, env: parseEnvFile(await readFile(ENV_EXAMPLE, 'utf8')) });
    const readTimeout = (spec: string) => nginxSeconds(/proxy_read_timeout\s+(\S+);/.exec(locationBlock(site, spec))![1]!);
    const transports = locationBlock(site, '/connection/');
    expect(readTimeout('/connection/')).toBeGreaterThan(config.http.pollTimeout / 1000);
    expect(readTimeout('/connection/')).toBeGreaterThan(config.http.heartbeat / 1000);
    expect(transports).toMatch(/proxy_buffering off;/);
    expect(transports).toMatch(/gzip off;/);
    expect(readTimeout('= /connection/websocket')).toBeGreaterThan((config.client.pingInterval + config.client.pongTimeout) / 1000);
  });
});

describe.skipIf(nginxMissing())('behind nginx with TLS (deploy/nginx/tidings.conf)', () => {
  let dir: string;
  let cert: Certificate;
  let server: ServerProcess & { secret: string };
  let nginx: NginxProcess;
  let base: string;
  let wsUrl: string;
  let api: BoundFetch;
  const clients: Tidings[] = [];
  const fetches: BoundFetch[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidings-nginx-test-'));
    cert = await selfSignedCert(dir);
    server = await startServerProcess(
      [
        'trustedProxies: [127.0.0.1]',
        // One open connection per client IP: clients from different addresses must not share it.
        'limits:',
        '  connectionsPerIp: 1',
        // No heartbeat during the test: nothing but publications flows on the event streams.
        'http:',
        '  heartbeat: 60s',
        'namespaces:',
        '  feed: {}',
        '',
      ].join('\n'),
    );
    nginx = await startNginx(server.port, cert);
    base = `https://127.0.0.1:${nginx.tlsPort}`;
    wsUrl = `wss://127.0.0.1:${nginx.tlsPort}/connection/websocket`;
    api = boundFetch('127.0.0.1', cert.pem);
  });

  afterAll(async () => {
    api?.close();
    await nginx?.stop();
    await server?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    for (const f of fetches.splice(0)) f.close();
  });

  /** The server's warning and error log lines, for failure messages. */
  const serverErrors = () => server.output().split('\n').filter((l) => /"level":(40|50|60)/.test(l)).join('\n');

  /** A server API call through nginx. */
  async function call(method: string, path: string, body?: unknown, key = server.apiKey): Promise<{ status: number; json: any }> {
    const res = await api.fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }

  async function client(user: string, localAddress: string, transport: 'websocket' | 'sse' | 'polling'): Promise<{ client: Tidings; fetch: BoundFetch }> {
    const fetch = boundFetch(localAddress, cert.pem);
    fetches.push(fetch);
    const factory: TransportFactory =
      transport === 'websocket'
        ? websocketTransport(boundWebSocket(localAddress, cert.pem))
        : transport === 'sse'
          ? sseTransport({ fetch: fetch.fetch, EventSource: null })
          : pollingTransport({ fetch: fetch.fetch });
    const c = new Tidings(wsUrl, { transports: [factory], upgradeProbeDelay: false, timeout: 5_000, token: await mintToken(server.secret, { sub: user }) });
    clients.push(c);
    return { client: c, fetch };
  }

  /** Subscribes `c` to `channel`, publishes `count` messages through the API one at a time, each awaited on the client. */
  async function publishAndReceive(c: Tidings, channel: string, count: number, onEach?: () => void): Promise<unknown[]> {
    const received: unknown[] = [];
    const sub = c.subscribe<{ n: number }>(channel);
    sub.on('publication', (p) => received.push(p.data));
    await sub.ready();
    for (let n = 1; n <= count; n++) {
      const res = await call('POST', '/publish', { channel, data: { n } });
      expect(res.status, `${JSON.stringify(res.json)}\n${serverErrors()}`).toBe(200);
      // Each arrives on its own while the connection stays open: nothing waits for a buffer to fill.
      await until(() => received.length === n, `publication ${n} of ${channel} through nginx`, 3_000);
      onEach?.();
    }
    return received;
  }

  it('answers health over TLS and redirects plain HTTP to HTTPS', async () => {
    const health = await api.fetch(`${base}/api/v1/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { data: { status: string } }).data.status).toBe('healthy');
    const plain = await globalThis.fetch(`http://127.0.0.1:${nginx.httpPort}/api/v1/health`, { redirect: 'manual' });
    expect(plain.status).toBe(301);
    expect(plain.headers.get('location')).toBe(`https://127.0.0.1/api/v1/health`);
  });

  it('a WebSocket client receives publications made through the server API', async () => {
    const { client: c } = await client('ws-user', '127.0.0.11', 'websocket');
    await c.connect();
    expect(c.transport).toBe('websocket');
    expect(await publishAndReceive(c, 'feed:ws', 3)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('an SSE client gets each publication on its one open stream, unbuffered and not gzipped', async () => {
    const { client: c, fetch } = await client('sse-user', '127.0.0.12', 'sse');
    await c.connect();
    expect(c.transport).toBe('sse');
    const streams = () => fetch.responses.filter((r) => r.method === 'GET' && r.url.includes('/connection/sse?'));
    const received = await publishAndReceive(c, 'feed:sse', 3, () => {
      // Still the first stream, still open: the event came through, not the end of a buffered response.
      expect(streams()).toHaveLength(1);
      expect(streams()[0]!.ended).toBe(false);
    });
    expect(received).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const stream = streams()[0]!;
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    // The client asked for gzip; an event stream must come back as it is.
    expect(stream.contentEncoding).toBeUndefined();
  });

  it('a long-polling client gets a publication made while its poll is parked in nginx', async () => {
    const { client: c, fetch } = await client('poll-user', '127.0.0.13', 'polling');
    await c.connect();
    expect(c.transport).toBe('polling');
    const sub = c.subscribe<{ n: number }>('feed:poll');
    const received: unknown[] = [];
    sub.on('publication', (p) => received.push(p.data));
    await sub.ready();
    const polls = () => fetch.responses.filter((r) => r.url.includes('/connection/poll/')).length;
    // A poll with nothing to deliver waits in the server (http.pollTimeout); nginx holds it.
    await new Promise((r) => setTimeout(r, 1_000));
    const before = polls();
    expect((await call('POST', '/publish', { channel: 'feed:poll', data: { n: 1 } })).status).toBe(200);
    await until(() => received.length === 1, 'the publication through a parked poll', 3_000);
    expect(received).toEqual([{ n: 1 }]);
    // The parked poll answered it: one more poll response, not a storm of empty ones.
    expect(polls() - before).toBeLessThanOrEqual(2);
  });

  it('per-IP limits and audit events see the client address nginx forwards, not the proxy', async () => {
    const { client: a } = await client('ip-a', '127.0.0.2', 'websocket');
    await a.connect();
    // A second connection from 127.0.0.2 is over limits.connectionsPerIp (1).
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WS(wsUrl, 'tidings.v1', { ca: cert.pem, localAddress: '127.0.0.2' });
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.once('open', () => {
        ws.terminate();
        reject(new Error('a second connection from 127.0.0.2 was let in'));
      });
      ws.once('error', (err) => reject(err));
    });
    expect(status).toBe(429);
    // Another address still gets in: the limit counts clients, not nginx's 127.0.0.1.
    const { client: b } = await client('ip-b', '127.0.0.3', 'websocket');
    await b.connect();
    expect(b.transport).toBe('websocket');

    const audit = async (query: string) => ((await call('GET', `/audit?${query}`)).json as { data: { events: Array<Record<string, unknown>> } }).data.events;
    await until(async () => (await audit('type=connect&user=ip-a')).length > 0 && (await audit('type=connect&user=ip-b')).length > 0, 'connect audit events');
    expect((await audit('type=connect&user=ip-a'))[0]).toMatchObject({ ip: '127.0.0.2', transport: 'websocket' });
    expect((await audit('type=connect&user=ip-b'))[0]).toMatchObject({ ip: '127.0.0.3', transport: 'websocket' });
    await until(async () => (await audit('type=limit_hit')).some((e) => e['limit'] === 'connections_per_ip'), 'limit_hit audit event');
    expect((await audit('type=limit_hit')).find((e) => e['limit'] === 'connections_per_ip')).toMatchObject({ ip: '127.0.0.2' });
  });

  it('X-Forwarded-Proto tells the server the browser is on HTTPS: the dashboard cookie is Secure', async () => {
    const res = await api.fetch(`${base}/dashboard/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: server.apiKey }),
    });
    expect(res.status).toBe(200);
    expect(res.headers?.get('set-cookie')).toMatch(/;\s*Secure/i);
  });

  it('SIGHUP (the unit\'s ExecReload) applies a new API key without a restart', async () => {
    const newKey = 'reloaded-key-0123456789abcdef';
    expect((await call('GET', '/stats', undefined, newKey)).status).toBe(401);
    // The helper started the server with --config <file>: add a key to that file.
    const args = server.child.spawnargs;
    const file = args[args.indexOf('--config') + 1]!;
    const yaml = await readFile(file, 'utf8');
    await writeFile(file, yaml.replace('apiKeys:\n', `apiKeys:\n  - id: reloaded\n    key: ${newKey}\n    scopes: [read]\n`));
    const pid = server.child.pid!;
    process.kill(pid, 'SIGHUP');
    await until(async () => (await call('GET', '/stats', undefined, newKey)).status === 200, 'the new key works after SIGHUP');
    expect(server.child.pid).toBe(pid);
    expect(server.child.exitCode).toBeNull();
  });
});
