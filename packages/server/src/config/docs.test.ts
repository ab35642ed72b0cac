/**
 * Keeps docs/configuration.md true to the schema:
 * - every option of `configSchema` has a row in the doc's "Option reference" tables,
 * - each row shows the option's default (the value as a user writes it, e.g. "25s"),
 * - no row documents an option that does not exist,
 * - every YAML example and every `export TIDINGS_...` example is a valid configuration.
 *
 * The option list is derived by walking the zod schema, so a new option fails this
 * test until it is documented.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';
import { configSchema, resolveConfig } from './schema.js';

const DOC_URL = new URL('../../../../docs/configuration.md', import.meta.url);
const doc = readFileSync(DOC_URL, 'utf8');

// ------------------------------------------------------------------ schema walk

interface OptionInfo {
  /** Dotted path as the doc writes it: `client.pingInterval`, `apiKeys[].id`, `namespaces.<name>.history.size`. */
  path: string;
  /** The schema default as a user writes it (`"25s"`, `8080`, `[]`), when there is one. */
  default?: unknown;
  hasDefault: boolean;
}

/** The zod 4 definition of a schema (internal but stable across 4.x). */
interface Def {
  type: string;
  innerType?: Schema;
  defaultValue?: unknown;
  in?: Schema;
  out?: Schema;
  shape?: Record<string, Schema>;
  element?: Schema;
  valueType?: Schema;
}
interface Schema {
  _zod: { def: Def };
}

const defOf = (s: Schema): Def => s._zod.def;

/**
 * Strips wrappers, remembering a `.default()` value and whether the node is optional.
 * `.prefault({})` marks groups that are always present, such as `client`.
 */
function unwrap(schema: Schema): { core: Schema; default?: unknown; hasDefault: boolean; optional: boolean } {
  let s = schema;
  let hasDefault = false;
  let value: unknown;
  let optional = false;
  for (;;) {
    const d = defOf(s);
    if (d.type === 'default') {
      if (!hasDefault) {
        hasDefault = true;
        value = d.defaultValue;
      }
      s = d.innerType!;
    } else if (d.type === 'prefault') {
      s = d.innerType!;
    } else if (d.type === 'optional' || d.type === 'nullable' || d.type === 'readonly' || d.type === 'catch') {
      optional = true;
      s = d.innerType!;
    } else if (d.type === 'pipe') {
      // `.transform()` (durations, sizes): the input side holds the default.
      // `z.preprocess()` (secrets, keys): the input side is the transform; the output is the type.
      s = defOf(d.in!).type === 'transform' ? d.out! : d.in!;
    } else {
      break;
    }
  }
  return { core: s, ...(hasDefault ? { default: value } : {}), hasDefault, optional };
}

function walk(schema: Schema, path: string, out: OptionInfo[]): void {
  const u = unwrap(schema);
  const d = defOf(u.core);
  const add = () => out.push({ path, hasDefault: u.hasDefault, ...(u.hasDefault ? { default: u.default } : {}) });
  if (d.type === 'object') {
    // Optional objects (`history`, `rateLimit`) are options of their own. Groups that are
    // always present (`client`, `auth`), list items and namespace entries are not.
    if (u.optional) add();
    for (const [key, child] of Object.entries(d.shape!)) walk(child, path ? `${path}.${key}` : key, out);
  } else if (d.type === 'record') {
    add();
    walk(d.valueType!, `${path}.<name>`, out);
  } else if (d.type === 'array' && defOf(unwrap(d.element!).core).type === 'object') {
    add();
    walk(d.element!, `${path}[]`, out);
  } else {
    add();
  }
}

function schemaOptions(): OptionInfo[] {
  const out: OptionInfo[] = [];
  walk(configSchema as unknown as Schema, '', out);
  return out;
}

// ------------------------------------------------------------------ doc tables

/** Splits a Markdown table row into cells, honouring `\|` escapes. */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** The "## Option reference" section: rows whose first cell is a single backticked option path. */
function referenceRows(): Map<string, string[]> {
  const start = doc.indexOf('\n## Option reference');
  expect(start, 'docs/configuration.md has a "## Option reference" section').toBeGreaterThanOrEqual(0);
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    if (!line.trim().startsWith('|')) continue;
    const row = cells(line);
    const m = /^`([^`]+)`$/.exec(row[0] ?? '');
    if (m && /^[a-z][A-Za-z.<>[\]]*$/.test(m[1]!)) rows.set(m[1]!, row);
  }
  return rows;
}

/** How a default is written in the doc's Default column. */
function defaultText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.length === 0 ? '[]' : JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return Object.keys(value).length === 0 ? '{}' : JSON.stringify(value);
  return String(value);
}

// ------------------------------------------------------------------ examples

/** Fenced code blocks of one language. */
function codeBlocks(lang: string): string[] {
  const re = new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```', 'gm');
  return [...doc.matchAll(re)].map((m) => m[1]!);
}

/** `export NAME=value` lines of a shell block, with simple single or double quotes removed. */
function exportedEnv(block: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of block.split('\n')) {
    const m = /^export\s+([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2]!;
    if ((value.startsWith("'") && value.endsWith("'")) || (value.startsWith('"') && value.endsWith('"'))) value = value.slice(1, -1);
    env[m[1]!] = value;
  }
  return env;
}

// ------------------------------------------------------------------ tests

describe('docs/configuration.md', () => {
  const options = schemaOptions();
  const rows = referenceRows();

  it('finds the options by walking the schema', () => {
    const paths = options.map((o) => o.path);
    // A few known paths, so a broken walk cannot pass vacuously.
    expect(paths).toEqual(
      expect.arrayContaining([
        'host',
        'client.pingInterval',
        'auth.issuers[].jwksUrl',
        'apiKeys[].scopes',
        'personal.history.size',
        'namespaces.<name>.rateLimit.intervalMs',
      ]),
    );
    expect(paths.length).toBeGreaterThan(60);
    expect(options.find((o) => o.path === 'client.pingInterval')?.default).toBe('25s');
  });

  it('documents every option in the reference tables', () => {
    const missing = options.map((o) => o.path).filter((p) => !rows.has(p));
    expect(missing, 'options without a row in "## Option reference"').toEqual([]);
  });

  it('shows each default in the Default column of its row', () => {
    const wrong: string[] = [];
    for (const o of options) {
      if (!o.hasDefault) continue;
      const row = rows.get(o.path);
      if (!row) continue; // reported by the test above
      const want = defaultText(o.default);
      if (!(row[2] ?? '').includes(want)) wrong.push(`${o.path}: Default column ${JSON.stringify(row[2])} does not show ${JSON.stringify(want)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('documents no option that does not exist', () => {
    const known = new Set(options.map((o) => o.path));
    expect([...rows.keys()].filter((p) => !known.has(p))).toEqual([]);
  });

  it('has defaults that match resolveConfig', () => {
    // The walk reads defaults from the schema; resolveConfig applies them. Spot-check both agree.
    const config = resolveConfig({ namespaces: { demo: {} } });
    expect(config.client.pingInterval).toBe(25_000);
    expect(config.port).toBe(8080);
    expect(config.namespaces['demo']?.clientPublish).toBe('none');
  });

  it('has YAML examples that are valid configurations', () => {
    const blocks = codeBlocks('yaml');
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      expect(() => resolveConfig(parseYaml(block) ?? {}), block).not.toThrow();
    }
  });

  it('has environment-variable examples that are valid configurations', () => {
    const blocks = codeBlocks('sh').map(exportedEnv).filter((env) => Object.keys(env).some((k) => k.startsWith('TIDINGS_')));
    expect(blocks.length).toBeGreaterThan(0);
    for (const env of blocks) {
      // TIDINGS_CONFIG names a file that only exists on the reader's machine.
      const { TIDINGS_CONFIG: _file, ...rest } = env;
      expect(() => loadConfig({ env: rest }), JSON.stringify(rest)).not.toThrow();
    }
  });
});
