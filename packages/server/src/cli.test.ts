/**
 * The built `tidings` CLI as users run it: real child processes, real ports.
 * `npm test` builds first (root `pretest`); run `npm run build` before running this file alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const SECRET = 'cli-test-secret-0123456789abcdef';

let dir: string;
const children = new Set<ChildProcess>();

/** The parent's env minus anything that would configure the child behind the test's back. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TIDINGS_') && k !== 'PORT') env[k] = v;
  return { ...env, ...extra };
}

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs a command to completion (bounded) and returns its exit code and output. */
async function run(args: string[], env: Record<string, string> = {}, timeoutMs = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = start(args, env);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), timeoutMs);
  const code = await r.exited;
  clearTimeout(timer);
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

async function waitFor<T>(what: string, r: Running, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (r.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${what} did not appear (exit ${r.child.exitCode})\nstdout:\n${r.stdout()}\nstderr:\n${r.stderr()}`);
    }
    await new Promise((res) => setTimeout(res, 25));
  }
}

/** `NAME=value` on a line of its own in the banner. */
function bannerValue(text: string, name: string): string | undefined {
  return new RegExp(`^${name}=(\\S+)$`, 'm').exec(text)?.[1];
}

async function startDev(dataDir: string): Promise<{ r: Running; token: string; apiKey: string; wsUrl: string }> {
  const r = start(['dev', '--port', '0', '--data-dir', dataDir]);
  // The banner is written in one go; API_KEY comes after the others.
  await waitFor('API_KEY line', r, () => bannerValue(r.stdout(), 'API_KEY'));
  return { r, token: bannerValue(r.stdout(), 'TOKEN')!, apiKey: bannerValue(r.stdout(), 'API_KEY')!, wsUrl: bannerValue(r.stdout(), 'WS_URL')! };
}

/** SIGTERM, then expect a clean exit 0. */
async function stop(r: Running): Promise<void> {
  r.child.kill('SIGTERM');
  const timer = setTimeout(() => r.child.kill('SIGKILL'), 10_000);
  const code = await r.exited;
  clearTimeout(timer);
  expect(code, r.stderr()).toBe(0);
}

/** Connects with the token in a `connect` command and returns the reply. */
function connectReply(url: string, token: string): Promise<{ ws: WebSocket; reply: any }> {
  const ws = new WebSocket(url, ['tidings.v1']);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connect reply')), 5000);
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ id: 1, type: 'connect', token })));
    ws.on('message', (data) => {
      // A message may carry several newline-separated frames.
      for (const line of data.toString().split('\n')) {
        const frame = JSON.parse(line);
        if (frame.id === 1) {
          clearTimeout(timer);
          resolve({ ws, reply: frame });
        }
      }
    });
  });
}

function jwtPayload(jwt: string): Record<string, any> {
  const parts = jwt.trim().split('.');
  expect(parts).toHaveLength(3);
  return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (\`npm test\` does it via pretest)`);
  dir = await mkdtemp(join(tmpdir(), 'tidings-cli-'));
});

afterEach(() => {
  // Only children this file started; a failed test must not leave a server running.
  for (const child of children) child.kill('SIGKILL');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tidings', () => {
  it('prints its version and help', async () => {
    const { VERSION } = await import('./version.js');
    // Independent runs side by side (each is mostly Node's start-up).
    const [version, help] = await Promise.all([run(['--version']), run(['--help'])]);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(VERSION);

    expect(help.code).toBe(0);
    for (const cmd of ['serve', 'dev', 'token']) expect(help.stdout).toContain(cmd);
  });

  it('exits 2 on an unknown command', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('frobnicate');
  });
});

describe('tidings serve', () => {
  it('refuses to start without a key to verify tokens', async () => {
    const r = await run(['serve', '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('needs a key to verify connection tokens');
    expect(r.stderr).toContain('TIDINGS_AUTH__SECRET');
  });

  it('exits 2 naming the bad option of a config file', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'port: nope\nauth:\n  secret: x\n');
    const r = await run(['serve', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^\s*- port: /m);
  });

  it('exits 2 naming the env var of an unknown option', async () => {
    const r = await run(['serve', '--port', '0'], { TIDINGS_AUTH__SECRET: SECRET, TIDINGS_CLIENT__PING_INTERVALL: '5s' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('TIDINGS_CLIENT__PING_INTERVALL');
  });

  it('exits 2 naming the key, what it expects, the value given and where it came from', async () => {
    const file = join(dir, 'bad-values.yaml');
    await writeFile(file, 'client:\n  pingInterval: true\nauth:\n  secret: x\n  secrett: y\nnamespaces:\n  chat:\n    clientPublish: all\n');
    const r = await run(['serve', '--config', file, '--port', 'abc'], { TIDINGS_LOG_LEVEL: 'verbose', TIDINGS_WEBSOCKET__MAXPAYLOAD: '1MiB' });
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe('tidings: invalid configuration:');
    expect(lines).toEqual(
      expect.arrayContaining([
        '  - port: expected a whole number from 0 to 65535, got "abc" (set by flag --port)',
        '  - logLevel: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "verbose" (set by env TIDINGS_LOG_LEVEL)',
        '  - client.pingInterval: expected a duration like "25s", "250ms", "5m", "1h", "30d" or a number of milliseconds, got true',
        '  - auth.secrett: unknown option (did you mean auth.secret?)',
        '  - websocket.maxpayload: unknown option (set by env TIDINGS_WEBSOCKET__MAXPAYLOAD; did you mean TIDINGS_WEBSOCKET__MAX_PAYLOAD?)',
        '  - namespaces.chat.clientPublish: expected one of "none", "subscribers" or a list, got "all"',
      ]),
    );
    expect(lines.filter((l) => l.startsWith('  - '))).toHaveLength(6);
    expect(r.stderr).not.toMatch(/Invalid input|Invalid option|Invalid key in record/);
  });

  it('exits 2 on a bad --log-format, naming the flag', async () => {
    const r = await run(['serve', '--port', '0', '--log-format', 'fancy'], { TIDINGS_AUTH__SECRET: SECRET });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('  - logFormat: expected one of "auto", "json", "pretty", got "fancy" (set by flag --log-format)');
  });

  it('writes readable log lines with --log-format pretty (JSON lines when the output is not a terminal)', async () => {
    const r = start(['serve', '--port', '0', '--host', '127.0.0.1', '--log-format', 'pretty'], { TIDINGS_AUTH__SECRET: SECRET });
    const port = await waitFor('readable listening line', r, () => /^\d\d:\d\d:\d\d\.\d{3} INFO  tidings listening .*port=(\d+)/m.exec(r.stdout())?.[1]);
    expect(r.stdout()).not.toContain('"level"');
    // Piped, not a terminal: no colour codes.
    expect(r.stdout()).not.toContain('\u001b[');
    expect((await fetch(`http://127.0.0.1:${port}/api/v1/health`)).status).toBe(200);
    // A connection's audit events are counted, not printed one by one; the count is written when the server stops.
    const minted = await run(['token', 'ann', '--secret', SECRET]);
    const { ws, reply } = await connectReply(`ws://127.0.0.1:${port}/connection/websocket`, minted.stdout.trim());
    expect(reply.result?.user).toBe('ann');
    const closed = new Promise((res) => ws.once('close', res));
    ws.close();
    await closed;
    await stop(r);
    expect(r.stdout()).not.toMatch(/INFO  audit connect/);
    expect(r.stdout()).toMatch(/INFO  audit: 1 connect, 1 disconnect \(summarised; each event: --log-level debug or --log-format json\)$/m);
  });

  it('serves with a config file, answers health, and exits 0 on SIGTERM', async () => {
    const file = join(dir, 'serve.yaml');
    await writeFile(file, `host: 127.0.0.1\nlogLevel: info\nauth:\n  secret: ${SECRET}\nnamespaces:\n  chat: {}\n`);
    const r = start(['serve', '--config', file, '--port', '0']);
    // pino writes the bound port in its "tidings listening" line.
    const port = await waitFor('listening log line', r, () => /"port":(\d+).*"msg":"tidings listening"/.exec(r.stdout())?.[1]);
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/health`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).data.status).toBe('healthy');
    await stop(r);
  });
});

describe('tidings serve: SIGHUP', () => {
  it('reloads namespaces and API keys, and keeps the running configuration when the new one is broken', async () => {
    const file = join(dir, 'reload.yaml');
    const oldKey = 'old-key-0123456789abcdef';
    const newKey = 'new-key-0123456789abcdef';
    const yaml = (namespaces: string[], keys: [string, string][]) =>
      `host: 127.0.0.1\nlogLevel: info\nauth:\n  secret: ${SECRET}\n` +
      `apiKeys:\n${keys.map(([id, key]) => `  - { id: ${id}, key: ${key}, scopes: [publish] }\n`).join('')}` +
      `namespaces:\n${namespaces.map((n) => `  ${n}: {}\n`).join('')}`;
    await writeFile(file, yaml(['a'], [['old', oldKey]]));
    const r = start(['serve', '--config', file, '--port', '0']);
    const port = await waitFor('listening log line', r, () => /"port":(\d+).*"msg":"tidings listening"/.exec(r.stdout())?.[1]);
    const publish = async (key: string, channel: string) =>
      (
        await fetch(`http://127.0.0.1:${port}/api/v1/publish`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ channel, data: 1 }),
        })
      ).status;
    expect(await publish(oldKey, 'a:x')).toBe(200);
    expect(await publish(newKey, 'b:x')).toBe(401);

    await writeFile(file, yaml(['a', 'b'], [['old', oldKey], ['new', newKey]]));
    r.child.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    let status = 0;
    while ((status = await publish(newKey, 'b:x')) !== 200 && Date.now() < deadline && r.child.exitCode === null) {
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(status, `stdout:\n${r.stdout()}\nstderr:\n${r.stderr()}`).toBe(200);
    expect(await publish(oldKey, 'a:x')).toBe(200);

    await writeFile(file, 'namespaces: [unclosed\n');
    r.child.kill('SIGHUP');
    await waitFor('reload error in the log', r, () => (/configuration reload failed/.test(r.stdout() + r.stderr()) ? true : undefined));
    const output = r.stdout() + r.stderr();
    expect(output).toContain(`config file \\"${file}\\"`);
    expect(r.child.exitCode).toBeNull();
    expect(await publish(newKey, 'b:x')).toBe(200);
    expect(await publish(oldKey, 'a:x')).toBe(200);
    await stop(r);
  });
});

describe('tidings dev', () => {
  it('prints a token, API key and URL that work, and keeps its secret across restarts', async () => {
    const dataDir = join(dir, 'dev-data');
    const first = await startDev(dataDir);
    expect(first.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/connection\/websocket$/);
    // --port 0: the banner shows the port actually bound.
    expect(Number(/:(\d+)\//.exec(first.wsUrl)![1])).toBeGreaterThan(0);
    expect(first.r.stdout()).toContain('npx tidings token');
    // The curl line must use the same key and the real port.
    const base = first.wsUrl.replace(/^ws:/, 'http:').replace(/\/connection\/websocket$/, '');
    expect(first.r.stdout()).toContain(`curl -X POST ${base}/api/v1/publish -H 'Authorization: Bearer ${first.apiKey}'`);
    // Logs go to stderr so stdout stays a clean banner.
    expect(first.r.stdout()).not.toContain('"level"');

    const res = await fetch(`${base}/api/v1/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${first.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel: 'chat:lobby', data: { text: 'hello' } }),
    });
    expect(res.status).toBe(200);

    const one = await connectReply(first.wsUrl, first.token);
    expect(one.reply.result?.user, JSON.stringify(one.reply)).toBe('demo');
    one.ws.close();
    await stop(first.r);

    // Second run, same data dir: the old token still verifies, and SIGTERM with a client connected still exits 0.
    const second = await startDev(dataDir);
    expect(second.apiKey).toBe(first.apiKey);
    const two = await connectReply(second.wsUrl, first.token);
    expect(two.reply.result?.user, JSON.stringify(two.reply)).toBe('demo');
    await stop(second.r);
    two.ws.terminate();

    // `tidings token` finds the same dev secret, so its tokens verify on a dev server too.
    const minted = await run(['token', 'bob', '--data-dir', dataDir]);
    expect(minted.code).toBe(0);
    const third = await startDev(dataDir);
    const three = await connectReply(third.wsUrl, minted.stdout.trim());
    expect(three.reply.result?.user).toBe('bob');
    three.ws.close();
    await stop(third.r);
  });
});

describe('tidings token', () => {
  it('mints a connection token with roles, info and expiry', async () => {
    const dataDir = join(dir, 'token-data');
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, 'dev-secrets.json'), JSON.stringify({ secret: SECRET, apiKey: 'k'.repeat(32) }));
    const r = await run(['token', 'alice', '--role', 'admin', '--ttl', '10m', '--info', '{"name":"A"}', '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const payload = jwtPayload(r.stdout);
    expect(payload.sub).toBe('alice');
    expect(payload.roles).toEqual(['admin']);
    expect(payload.info).toEqual({ name: 'A' });
    expect(Math.abs(payload.exp - (Math.floor(Date.now() / 1000) + 600))).toBeLessThanOrEqual(5);
  });

  it('takes roles as a list, --ttl 0 for no expiry, --channel for a subscription token, and the secret from env', async () => {
    const r = await run(['token', 'carol', '-r', 'a,b', '-r', 'c', '--ttl', '0', '--channel', 'task:42'], { TIDINGS_AUTH__SECRET: SECRET });
    expect(r.code, r.stderr).toBe(0);
    const payload = jwtPayload(r.stdout);
    expect(payload).toMatchObject({ sub: 'carol', roles: ['a', 'b', 'c'], channel: 'task:42' });
    expect(payload.exp).toBeUndefined();
  });

  it('adds the audience and issuer the node checks, from flags or config', async () => {
    const [fromEnv, fromFlags] = await Promise.all([
      run(['token', 'erin', '--secret', SECRET], { TIDINGS_AUTH__AUDIENCE: '["tidings","other"]', TIDINGS_AUTH__ISSUER: 'https://issuer.example' }),
      run(['token', 'erin', '--secret', SECRET, '--audience', 'app', '--issuer', 'me']),
    ]);
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(jwtPayload(fromEnv.stdout)).toMatchObject({ sub: 'erin', aud: 'tidings', iss: 'https://issuer.example' });
    expect(jwtPayload(fromFlags.stdout)).toMatchObject({ aud: 'app', iss: 'me' });
  });

  it('exits 2 on bad --info, a bad --ttl, or no secret', async () => {
    const [badInfo, badTtl, noSecret] = await Promise.all([
      run(['token', 'alice', '--secret', SECRET, '--info', '{name:']),
      run(['token', 'alice', '--secret', SECRET, '--ttl', 'forever']),
      run(['token', 'alice', '--data-dir', join(dir, 'empty')]),
    ]);
    expect(badInfo.code).toBe(2);
    expect(badInfo.stderr).toContain('--info');
    expect(badInfo.stdout).toBe('');

    expect(badTtl.code).toBe(2);
    expect(badTtl.stderr).toContain('--ttl');

    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toContain('--secret');
  });
});
