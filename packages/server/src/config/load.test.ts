import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deepMerge, loadConfig, loadConfigInput } from './load.js';
import { ConfigError } from './schema.js';

let dir: string;
let n = 0;

/** Writes a YAML file into the temp dir and returns its path. */
async function yamlFile(text: string): Promise<string> {
  const file = join(dir, `config-${++n}.yaml`);
  await writeFile(file, text);
  return file;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tidings-load-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadConfigInput precedence', () => {
  it('merges file < env < flags, deep for objects', async () => {
    const file = await yamlFile(
      ['port: 1000', 'host: file-host', 'logLevel: warn', 'auth:', '  secret: from-file', '  allowAnonymous: true', 'client:', '  pingInterval: 30s'].join('\n'),
    );
    const input = loadConfigInput({
      file,
      env: { TIDINGS_PORT: '2000', TIDINGS_HOST: 'env-host', TIDINGS_AUTH__SECRET: 'from-env' },
      flags: { port: 3000 },
    });
    expect(input.port).toBe(3000);
    expect(input.host).toBe('env-host');
    expect(input.logLevel).toBe('warn');
    // auth.secret came from env, auth.allowAnonymous survived from the file.
    expect(input.auth).toEqual({ secret: 'from-env', allowAnonymous: true });
    expect(input.client).toEqual({ pingInterval: '30s' });
  });

  it('puts defaults below the file and lets arrays replace rather than concatenate', async () => {
    const file = await yamlFile('allowedOrigins: ["https://a.example"]\nnamespaces:\n  chat:\n    presence: true\n');
    const input = loadConfigInput({
      file,
      env: {},
      defaults: { allowedOrigins: ['*'], port: 8080, namespaces: { chat: { typing: true }, feed: {} } },
    });
    expect(input.allowedOrigins).toEqual(['https://a.example']);
    expect(input.port).toBe(8080);
    expect(input.namespaces).toEqual({ chat: { typing: true, presence: true }, feed: {} });
  });

  it('reads the file named by TIDINGS_CONFIG when no file is given, and a file option wins over it', async () => {
    const a = await yamlFile('port: 1111\n');
    const b = await yamlFile('port: 2222\n');
    expect(loadConfigInput({ env: { TIDINGS_CONFIG: a } }).port).toBe(1111);
    expect(loadConfigInput({ file: b, env: { TIDINGS_CONFIG: a } }).port).toBe(2222);
  });

  it('treats an empty file as no settings', async () => {
    expect(loadConfigInput({ file: await yamlFile('# nothing yet\n'), env: {} })).toEqual({});
  });
});

describe('env var mapping', () => {
  it('maps TIDINGS_ names to camelCase option paths', () => {
    const input = loadConfigInput({
      env: {
        TIDINGS_PORT: '9000',
        TIDINGS_AUTH__SECRET: 's3cret',
        TIDINGS_CLIENT__PING_INTERVAL: '30s',
        TIDINGS_LOG_LEVEL: 'debug',
        TIDINGS_ALLOWED_ORIGINS: '["*"]',
        TIDINGS_NAMESPACES__CHAT__HISTORY__SIZE: '10',
        HOME: '/ignored',
        NODE_ENV: 'production',
      },
    });
    expect(input).toEqual({
      port: 9000,
      auth: { secret: 's3cret' },
      client: { pingInterval: '30s' },
      logLevel: 'debug',
      allowedOrigins: ['*'],
      namespaces: { chat: { history: { size: 10 } } },
    });
  });

  it('keeps namespace names as written (lowercased), without camelCasing them', () => {
    expect(loadConfigInput({ env: { TIDINGS_NAMESPACES__CHAT_ROOM__PRESENCE: 'true' } }).namespaces).toEqual({ chat_room: { presence: true } });
  });

  it('takes plain PORT, but TIDINGS_PORT wins over it', () => {
    expect(loadConfigInput({ env: { PORT: '5000' } }).port).toBe(5000);
    expect(loadConfigInput({ env: { PORT: '5000', TIDINGS_PORT: '6000' } }).port).toBe(6000);
  });

  it('parses JSON-looking values and keeps everything else a string', () => {
    const input = loadConfigInput({
      env: {
        TIDINGS_AUTH__ALLOW_ANONYMOUS: 'false',
        TIDINGS_WEBSOCKET__COMPRESSION: 'true',
        TIDINGS_HISTORY__MAX_LIMIT: '250',
        TIDINGS_AUTH__AUDIENCE: '["a","b"]',
        TIDINGS_IDEMPOTENCY: '{"window":"1m"}',
        TIDINGS_HOST: '127.0.0.1',
        TIDINGS_DATA_DIR: '/var/lib/tidings',
        // Float rounding would change this secret, so it stays a string.
        TIDINGS_AUTH__SECRET: '123456789012345678901234567890',
      },
    });
    expect(input.auth).toEqual({ allowAnonymous: false, audience: ['a', 'b'], secret: '123456789012345678901234567890' });
    expect(input.websocket).toEqual({ compression: true });
    expect(input.history).toEqual({ maxLimit: 250 });
    expect(input.idempotency).toEqual({ window: '1m' });
    expect(input.host).toBe('127.0.0.1');
    expect(input.dataDir).toBe('/var/lib/tidings');
  });

  it('lets a nested var refine an object set as JSON, and skips empty values', () => {
    const input = loadConfigInput({ env: { TIDINGS_AUTH: '{"secret":"a","allowAnonymous":true}', TIDINGS_AUTH__SECRET: 'b', TIDINGS_HOST: '' } });
    expect(input).toEqual({ auth: { secret: 'b', allowAnonymous: true } });
  });

  it('rejects malformed JSON and malformed names, naming the env var', () => {
    expect(configError(() => loadConfigInput({ env: { TIDINGS_ALLOWED_ORIGINS: '["*"' } })).message).toContain('TIDINGS_ALLOWED_ORIGINS');
    expect(configError(() => loadConfigInput({ env: { TIDINGS_AUTH___SECRET: 'x' } })).message).toContain('TIDINGS_AUTH___SECRET');
  });

  it('produces settings resolveConfig accepts', () => {
    const config = loadConfig({ env: { TIDINGS_CLIENT__PING_INTERVAL: '30s', TIDINGS_AUTH__SECRET: '12345', PORT: '0' } });
    expect(config.client.pingInterval).toBe(30_000);
    expect(config.auth.secret).toBe('12345');
    expect(config.port).toBe(0);
  });
});

describe('errors', () => {
  it('names the file and line of a YAML syntax error', async () => {
    const file = await yamlFile('port: 8080\nauth:\n  secret: "abc\n');
    const err = configError(() => loadConfigInput({ file, env: {} }));
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/line \d+/);

    const dup = await yamlFile('port: 1\nhost: a\nport: 2\n');
    expect(configError(() => loadConfigInput({ file: dup, env: {} })).message).toContain('line 3');
  });

  it('reports a missing file and a non-mapping top level', async () => {
    const missing = join(dir, 'nope.yaml');
    expect(configError(() => loadConfigInput({ file: missing, env: {} })).message).toContain(`"${missing}" not found`);
    const list = await yamlFile('- a\n- b\n');
    expect(configError(() => loadConfigInput({ file: list, env: {} })).message).toContain('mapping');
  });

  it('reports unknown keys from the file', async () => {
    const file = await yamlFile('port: 8080\nwebsockets:\n  path: /ws\nauth:\n  secrett: x\n');
    const err = configError(() => loadConfig({ file, env: {} }));
    expect(err.message).toContain('unknown option "websockets"');
    expect(err.message).toContain('auth: unknown option "secrett"');
    expect(err.message).not.toContain('set by env');
  });

  it('names the env var behind an unknown or invalid option', () => {
    const err = configError(() => loadConfig({ env: { TIDINGS_AUTH__SECRETT: 'x', TIDINGS_FOO__BAR: '1', TIDINGS_CLIENT__PING_INTERVAL: 'soon', PORT: 'http' } }));
    expect(err.problems).toEqual(
      expect.arrayContaining([
        'auth: unknown option "secrett" (set by env TIDINGS_AUTH__SECRETT)',
        'unknown option "foo" (set by env TIDINGS_FOO__BAR)',
        expect.stringMatching(/^client\.pingInterval: .*\(set by env TIDINGS_CLIENT__PING_INTERVAL\)$/),
        expect.stringMatching(/^port: .*\(set by env PORT\)$/),
      ]),
    );
  });

  it('keeps a "__proto__" key a plain (unknown) key', async () => {
    const file = await yamlFile('__proto__:\n  polluted: true\n');
    const err = configError(() => loadConfig({ file, env: {} }));
    expect(err.message).toContain('"__proto__"');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('deepMerge', () => {
  it('merges plain objects, replaces arrays and scalars, ignores undefined', () => {
    expect(deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: undefined, e: null })).toEqual({ a: { b: 1, c: [3] }, d: 1, e: null });
  });
});
