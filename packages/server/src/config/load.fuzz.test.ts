/**
 * Fuzzing the config loader with fast-check (fixed seeds; test-support/fuzz.ts scales and counts
 * the runs for `npm run soak:fuzz`): arbitrary YAML files, YAML built from the real option paths
 * with values of every type, and arbitrary `TIDINGS_*` variables all give a config or a clear
 * ConfigError (one non-empty line per problem), never another error.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { envName, loadConfig } from './load.js';
import { ConfigError, resolveConfig } from './schema.js';
import { fuzz } from '../test-support/fuzz.js';

const dir = mkdtempSync(join(tmpdir(), 'tidings-load-fuzz-'));
const file = join(dir, 'config.yaml');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Leaf option paths of the default configuration (client.pingInterval, websocket.maxPayload, ...). */
function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || prefix[0] === 'namespaces') return prefix.length > 0 ? [prefix] : [];
  const entries = Object.entries(value);
  if (entries.length === 0) return prefix.length > 0 ? [prefix] : [];
  return entries.flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
}
const PATHS = leafPaths(resolveConfig({}));

/** A config or a ConfigError whose every line says something; anything else fails the property. */
function configOrConfigError(load: () => unknown): boolean {
  try {
    const config = load();
    return typeof config === 'object' && config !== null;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.length > 0 && err.problems.every((p) => typeof p === 'string' && p.trim().length > 0);
  }
}

const scalar = fc.oneof(
  fc.constantFrom('25s', '0s', '-1s', '1ms', '10m', '1h', '64KiB', '1MiB', '0', '1e309', 'NaN', 'Infinity', 'true', 'null', '~', '', ' ', '__proto__', '*', 'https://*.example.com', '127.0.0.1', '::1'),
  fc.integer({ min: -1e6, max: 1e12 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 20 }),
);
const optionValue = fc.oneof({ weight: 6, arbitrary: scalar }, { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), scalar, { maxKeys: 3 }) });

/** A settings object at real option paths (sometimes a typo or an extra level). */
const settings = fc.array(fc.tuple(fc.constantFrom(...PATHS), optionValue, fc.constantFrom('exact', 'exact', 'exact', 'typo', 'parent')), { maxLength: 6 }).map((entries) => {
  const root: Record<string, any> = {};
  for (const [path, value, how] of entries) {
    const p = how === 'typo' ? [...path.slice(0, -1), `${path.at(-1)}x`] : how === 'parent' && path.length > 1 ? path.slice(0, -1) : path;
    let at = root;
    for (const seg of p.slice(0, -1)) {
      if (typeof at[seg] !== 'object' || at[seg] === null || Array.isArray(at[seg])) at[seg] = {};
      at = at[seg];
    }
    at[p.at(-1)!] = value;
  }
  return root;
});

describe('YAML the parser takes but cannot convert (found by the fuzzing below)', () => {
  it('an alias without its anchor is a ConfigError naming the file, not a ReferenceError', () => {
    writeFileSync(file, 'port: 8080\n<<: *a\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ file, env: {} })).toThrow(`config file "${file}": Unresolved alias (the anchor must be set before the alias): a`);
  });

  it('a "billion laughs" file (aliases expanding past the yaml limit) is a ConfigError', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) lines.push(`${'abcdefghi'[i]}: &${'abcdefghi'[i]} [${Array(9).fill(`*${'abcdefghi'[i - 1]}`).join(',')}]`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    expect(() => loadConfig({ file, env: {} })).toThrow(ConfigError);
  });
});

describe('config loader under fast-check', () => {
  it('arbitrary text as the YAML file: a config or a ConfigError', () => {
    const yamlish = fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom(':', ': ', '\n', '  ', '- ', '{', '}', '[', ']', '&a', '*a', '<<: *a', '!!binary', '---', '#', '"', "'", 'port', 'auth', 'secret', 'websocket')), { maxLength: 16 }).map((xs) => xs.join(''));
    fuzz(
      'config: arbitrary YAML text',
      fc.property(yamlish, (text) => {
        writeFileSync(file, text);
        return configOrConfigError(() => loadConfig({ file, env: {} }));
      }),
      0xc0f1,
      1500,
    );
  });

  it('YAML of real option paths with values of every type: a config or a ConfigError', () => {
    fuzz(
      'config: option paths in YAML',
      fc.property(settings, (s) => {
        writeFileSync(file, stringify(s));
        return configOrConfigError(() => loadConfig({ file, env: {} }));
      }),
      0xc0f2,
      600,
    );
  });

  it('TIDINGS_* variables (real names, malformed names, JSON-looking values): a config or a ConfigError', () => {
    const name = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...PATHS).map(envName) },
      { weight: 1, arbitrary: fc.string({ maxLength: 16 }).map((s) => `TIDINGS_${s}`) },
      { weight: 1, arbitrary: fc.constantFrom('PORT', 'TIDINGS_AUTH', 'TIDINGS_NAMESPACES__CHAT__HISTORY', 'TIDINGS___PROTO__', 'TIDINGS_CLIENT__', 'TIDINGS__') },
    );
    const raw = fc.oneof(scalar.map((v) => (typeof v === 'string' ? v : JSON.stringify(v) ?? '')), fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), fc.constantFrom('{', '[1,', '{"__proto__":{"x":1}}', '9007199254740993'));
    fuzz(
      'config: env vars',
      fc.property(fc.dictionary(name, raw, { maxKeys: 5 }), (env) => configOrConfigError(() => loadConfig({ env }))),
      0xc0f3,
      2000,
    );
  });
});
