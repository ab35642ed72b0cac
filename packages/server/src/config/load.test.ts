import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deepMerge, envName, loadConfig, loadConfigInput } from './load.js';
import { closest } from './issues.js';
import { ConfigError, resolveConfig } from './schema.js';

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
    expect(err.problems).toEqual(['auth.secrett: unknown option (did you mean auth.secret?)', 'websockets: unknown option (did you mean websocket?)']);
    expect(err.message).not.toContain('set by env');
  });

  it('names the env var behind an unknown or invalid option', () => {
    const err = configError(() => loadConfig({ env: { TIDINGS_AUTH__SECRETT: 'x', TIDINGS_FOO__BAR: '1', TIDINGS_CLIENT__PING_INTERVAL: 'soon', PORT: 'http' } }));
    expect(err.problems).toEqual(
      expect.arrayContaining([
        'auth.secrett: unknown option (set by env TIDINGS_AUTH__SECRETT; did you mean TIDINGS_AUTH__SECRET?)',
        'foo: unknown option (set by env TIDINGS_FOO__BAR)',
        'client.pingInterval: expected a duration like "25s", "250ms", "5m", "1h", "30d" or a number of milliseconds, got "soon" (set by env TIDINGS_CLIENT__PING_INTERVAL)',
        'port: expected a whole number from 0 to 65535, got "http" (set by env PORT)',
      ]),
    );
  });

  it('keeps a "__proto__" key a plain (unknown) key', async () => {
    const file = await yamlFile('__proto__:\n  polluted: true\n');
    const err = configError(() => loadConfig({ file, env: {} }));
    expect(err.problems).toEqual(['__proto__: unknown option']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

const DURATION = 'expected a duration like "25s", "250ms", "5m", "1h", "30d" or a number of milliseconds';
const SIZE = 'expected a size like "64KiB", "4MiB", "1MB" or a number of bytes';
const LEVELS = '"fatal", "error", "warn", "info", "debug", "trace", "silent"';

/** Bad settings and the exact lines they produce: key, what is expected, what was given. */
const BAD_SETTINGS: [string, unknown, string[]][] = [
  ['a duration of the wrong type', { client: { pingInterval: true } }, [`client.pingInterval: ${DURATION}, got true`]],
  ['an unreadable duration', { client: { pingInterval: '25 secs' } }, [`client.pingInterval: ${DURATION}, got "25 secs"`]],
  ['an unreadable size', { websocket: { maxPayload: '64 parsecs' } }, [`websocket.maxPayload: ${SIZE}, got "64 parsecs"`]],
  ['a negative size', { history: { maxBytes: -1 } }, [`history.maxBytes: ${SIZE}, got -1`]],
  ['a string for a number', { port: 'http' }, ['port: expected a whole number from 0 to 65535, got "http"']],
  ['a number out of range', { port: 70000 }, ['port: expected a whole number from 0 to 65535, got 70000']],
  ['a fraction for a whole number', { limits: { commandRate: 1.5 } }, ['limits.commandRate: expected a whole number of at least 0, got 1.5']],
  ['a number below its minimum', { namespaces: { chat: { history: { size: 0 } } } }, ['namespaces.chat.history.size: expected a whole number from 1 to 100000, got 0']],
  ['a missing required key', { namespaces: { chat: { history: { ttl: '1h' } } } }, ['namespaces.chat.history.size: is required: expected a whole number from 1 to 100000']],
  ['a string for a boolean', { websocket: { compression: 'yes' } }, ['websocket.compression: expected true or false, got "yes"']],
  ['a bad enum value', { logLevel: 'verbose' }, [`logLevel: expected one of ${LEVELS}, got "verbose"`]],
  ['a misspelt enum value', { logLevel: 'debgu' }, [`logLevel: expected one of ${LEVELS}, got "debgu" (did you mean "debug"?)`]],
  ['a bad value in a list', { apiKeys: [{ id: 'a', key: 'k'.repeat(16), scopes: ['write'] }] }, ['apiKeys.0.scopes.0: expected one of "publish", "read", "admin", got "write"']],
  ['a bad choice of a union', { namespaces: { chat: { clientPublish: 'all' } } }, ['namespaces.chat.clientPublish: expected one of "none", "subscribers" or a list, got "all"']],
  ['a bad item in the list branch of a union', { namespaces: { chat: { clientPublish: [''] } } }, ['namespaces.chat.clientPublish.0: expected a non-empty string, got ""']],
  ['a number for a string or list', { auth: { audience: 5 } }, ['auth.audience: expected a string or a list, got 5']],
  ['a string for a list', { allowedOrigins: '*' }, ['allowedOrigins: expected a list, got "*"']],
  ['a mapping for a list', { apiKeys: {} }, ['apiKeys: expected a list, got a mapping {}']],
  ['an empty list', { auth: { algorithms: [] } }, ['auth.algorithms: expected a non-empty list, got a list []']],
  ['a string for a group', { auth: 'x' }, ['auth: expected a mapping of options (key: value), got "x"']],
  ['a list for the namespaces', { namespaces: [] }, ['namespaces: expected a mapping (name: settings), got a list []']],
  ['a path without its slash', { websocket: { path: 'ws' } }, ['websocket.path: expected a string starting with "/", got "ws"']],
  ['a bad namespace name', { namespaces: { 'chat room': {} } }, ['namespaces: "chat room" is not a valid namespace name: expected 1-64 characters of A-Z a-z 0-9 _ -']],
  ['an unknown top-level key', { websockets: {} }, ['websockets: unknown option (did you mean websocket?)']],
  ['an unknown key in snake_case', { client: { ping_interval: '5s' } }, ['client.ping_interval: unknown option (did you mean client.pingInterval?)']],
  ['an unknown key inside a namespace', { namespaces: { chat: { presense: true } } }, ['namespaces.chat.presense: unknown option (did you mean namespaces.chat.presence?)']],
  ['an unknown key with nothing near it', { frobnicate: 1 }, ['frobnicate: unknown option']],
  ['inconsistent timers', { client: { pingInterval: '10s', pongTimeout: '10s' } }, ['client.pongTimeout: must be shorter than client.pingInterval (10000 ms), got 10000 ms']],
  ['a short API key (never echoed)', { apiKeys: [{ id: 'a', key: 'hunter2', scopes: ['read'] }] }, ['apiKeys.0.key: expected at least 16 characters, got a string of 7 characters (not shown)']],
  ['an empty secret (never echoed)', { auth: { secret: '' } }, ['auth.secret: expected a non-empty string, got a string of 0 characters (not shown)']],
  ['a connection URL with a password (shown without it)', { store: { type: 'postgres', url: 'mysql://app:hunter2@db/x' } }, ['store.url: expected a postgres:// or postgresql:// URL, got "mysql://app:***@db/x"']],
  ['not a mapping at all', 5, ['expected a mapping of options (key: value), got 5']],
];

describe('config error messages', () => {
  it.each(BAD_SETTINGS)('names the key, what it expects and what it got: %s', (_what, input, problems) => {
    const err = configError(() => resolveConfig(input));
    expect(err.problems).toEqual(problems);
    expect(err.message).not.toMatch(/Invalid input|Invalid key in record|Invalid option|Too (small|big)/);
  });

  it('suggests the env var a misspelt one probably meant, and names the flag behind a bad value', () => {
    const env = configError(() => loadConfig({ env: { TIDINGS_CLIENT__PINGINTERVAL: '5s', TIDINGS_LOGLEVEL: 'debug' } }));
    expect(env.problems).toEqual([
      'client.pinginterval: unknown option (set by env TIDINGS_CLIENT__PINGINTERVAL; did you mean TIDINGS_CLIENT__PING_INTERVAL?)',
      'loglevel: unknown option (set by env TIDINGS_LOGLEVEL; did you mean TIDINGS_LOG_LEVEL?)',
    ]);
    const flags = configError(() => loadConfig({ env: { TIDINGS_PORT: '1' }, flags: { port: 'abc', logLevel: 'loud' } as never }));
    expect(flags.problems).toEqual([
      'port: expected a whole number from 0 to 65535, got "abc" (set by flag --port)',
      `logLevel: expected one of ${LEVELS}, got "loud" (set by flag --log-level)`,
    ]);
  });

  it('names the env var of a bad namespace name and keeps lines from outside the schema', () => {
    const long = 'N'.repeat(65);
    const err = configError(() => loadConfig({ env: { [`TIDINGS_NAMESPACES__${long}__PRESENCE`]: 'true' } }));
    expect(err.problems).toEqual([
      `namespaces: "${long.toLowerCase()}" is not a valid namespace name: expected 1-64 characters of A-Z a-z 0-9 _ - (set by env TIDINGS_NAMESPACES__${long}__PRESENCE)`,
    ]);
    expect(new ConfigError(['auth: jwt: bad key']).problems).toEqual(['auth: jwt: bad key']);
  });

  it('finds the closest known key only when one is near', () => {
    expect(closest('pingIntervall', ['pingInterval', 'pongTimeout'])).toBe('pingInterval');
    expect(closest('PING_INTERVAL', ['pingInterval', 'pongTimeout'])).toBe('pingInterval');
    expect(closest('clinet', ['client', 'host'])).toBe('client');
    expect(closest('__proto__', ['port', 'host'])).toBeUndefined();
    expect(closest('zzz', ['port'])).toBeUndefined();
    expect(envName(['client', 'pingInterval'])).toBe('TIDINGS_CLIENT__PING_INTERVAL');
    expect(envName(['namespaces', 'chat_room', 'history', 'maxBytes'])).toBe('TIDINGS_NAMESPACES__CHAT_ROOM__HISTORY__MAX_BYTES');
  });
});

describe('deepMerge', () => {
  it('merges plain objects, replaces arrays and scalars, ignores undefined', () => {
    expect(deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: undefined, e: null })).toEqual({ a: { b: 1, c: [3] }, d: 1, e: null });
  });
});
