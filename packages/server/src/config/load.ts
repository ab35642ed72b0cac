/**
 * Where settings come from, for the CLI: a YAML file, `TIDINGS_*` env vars and
 * command-line flags, merged in that order (later wins), then validated by
 * `resolveConfig`. Validation errors name the env var or flag a bad key came from,
 * since "auth.secrt: unknown option" alone does not tell a user where to look, and
 * suggest a known key in the same terms (TIDINGS_AUTH__SECRET, not auth.secret).
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { formatProblem, type ConfigProblem } from './issues.js';
import { ConfigError, resolveConfig, type TidingsConfig, type TidingsConfigInput } from './schema.js';

export interface LoadConfigOptions {
  /** YAML config file; default: env `TIDINGS_CONFIG`, else none. */
  file?: string | undefined;
  /** Environment to read `TIDINGS_*` and `PORT` from; default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Command-line settings; they win over everything else. */
  flags?: Partial<TidingsConfigInput>;
  /** Settings below the file (used by `tidings dev` for its demo setup). */
  defaults?: TidingsConfigInput;
}

type Plain = Record<string, unknown>;

const ENV_PREFIX = 'TIDINGS_';
/** Names the loader reads itself rather than as an option. */
const LOADER_VARS = new Set(['TIDINGS_CONFIG']);

/** Merged settings, before validation. Throws ConfigError for an unreadable file or a malformed env var. */
export function loadConfigInput(opts: LoadConfigOptions = {}): TidingsConfigInput {
  return collect(opts).input;
}

/** Merged and validated settings. Throws ConfigError; problems caused by env vars or flags name them. */
export function loadConfig(opts: LoadConfigOptions = {}): TidingsConfig {
  return loadConfigWithInput(opts).config;
}

/** Both the merged input (to hand to `createTidings`) and its validated form. */
export function loadConfigWithInput(opts: LoadConfigOptions = {}): { input: TidingsConfigInput; config: TidingsConfig } {
  const { input, envOrigins } = collect(opts);
  // Where each key came from, flags over env (as they win when merged).
  const origins = new Map<string, Origin>();
  for (const [path, name] of envOrigins) origins.set(path, { kind: 'env', name });
  for (const key of Object.keys(opts.flags ?? {})) origins.set(key, { kind: 'flag', name: `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` });
  try {
    return { input, config: resolveConfig(input) };
  } catch (err) {
    if (err instanceof ConfigError && origins.size > 0) throw new ConfigError(err.details.map((p) => withOrigin(p, origins)));
    throw err;
  }
}

interface Origin {
  kind: 'env' | 'flag';
  name: string;
}

function collect(opts: LoadConfigOptions): { input: TidingsConfigInput; envOrigins: Map<string, string> } {
  const env = opts.env ?? process.env;
  const file = opts.file ?? (env['TIDINGS_CONFIG'] || undefined);
  const fromEnv = readEnv(env);
  let merged: Plain = deepMerge({}, (opts.defaults ?? {}) as Plain);
  if (file !== undefined) merged = deepMerge(merged, readYamlFile(file));
  merged = deepMerge(merged, fromEnv.values);
  merged = deepMerge(merged, (opts.flags ?? {}) as Plain);
  return { input: merged as TidingsConfigInput, envOrigins: fromEnv.origins };
}

// ------------------------------------------------------------------ file

function readYamlFile(file: string): Plain {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([code === 'ENOENT' ? `config file "${file}" not found` : `config file "${file}" could not be read: ${(err as Error).message}`]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  const error = doc.errors[0];
  if (error) {
    const pos = lineCounter.linePos(error.pos[0]);
    const where = pos.line > 0 ? `, line ${pos.line}, column ${pos.col}` : '';
    throw new ConfigError([`config file "${file}"${where}: ${error.message.split('\n')[0]}`]);
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    // Parsed, but not convertible: an alias without its anchor, or aliases expanding past the
    // yaml library's limit (a "billion laughs" file). A clear error, not a stack trace.
    throw new ConfigError([`config file "${file}": ${(err as Error).message.split('\n')[0]}`]);
  }
  // An empty file (or one with only comments) means "no settings", not an error.
  if (value === null || value === undefined) return {};
  if (!isPlain(value)) throw new ConfigError([`config file "${file}": expected a mapping of options (key: value) at the top level`]);
  return value;
}

// ------------------------------------------------------------------ env

/** `TIDINGS_CLIENT__PING_INTERVAL` → `client.pingInterval`; `PORT` → `port`. Returns values and which var set each path. */
function readEnv(env: NodeJS.ProcessEnv): { values: Plain; origins: Map<string, string> } {
  const entries: { name: string; path: string[]; raw: string }[] = [];
  for (const [name, raw] of Object.entries(env)) {
    // Empty values are skipped: compose files and CI often pass `FOO=` for "unset".
    if (raw === undefined || raw === '' || LOADER_VARS.has(name)) continue;
    if (name.startsWith(ENV_PREFIX)) entries.push({ name, path: envPath(name), raw });
  }
  // Plain PORT is what PaaS hosts set; an explicit TIDINGS_PORT wins over it.
  if (env['PORT'] && !entries.some((e) => e.path.length === 1 && e.path[0] === 'port')) {
    entries.push({ name: 'PORT', path: ['port'], raw: env['PORT'] });
  }
  // Shallow paths first so `TIDINGS_AUTH='{...}'` can be refined by `TIDINGS_AUTH__SECRET`.
  entries.sort((a, b) => a.path.length - b.path.length || a.name.localeCompare(b.name));

  const values: Plain = {};
  const origins = new Map<string, string>();
  for (const { name, path, raw } of entries) {
    let target = values;
    for (let i = 0; i < path.length - 1; i++) {
      const seg = path[i]!;
      const next = Object.hasOwn(target, seg) ? target[seg] : undefined;
      if (next === undefined) defineOwn(target, seg, {});
      else if (!isPlain(next)) throw new ConfigError([`env ${name}: ${path.slice(0, i + 1).join('.')} is already set to a non-object by ${origins.get(path.slice(0, i + 1).join('.'))}`]);
      target = target[seg] as Plain;
    }
    const leaf = path[path.length - 1]!;
    const value = envValue(name, raw);
    const existing = Object.hasOwn(target, leaf) ? target[leaf] : undefined;
    defineOwn(target, leaf, isPlain(existing) && isPlain(value) ? deepMerge(existing, value) : value);
    origins.set(path.join('.'), name);
  }
  return { values, origins };
}

function envPath(name: string): string[] {
  const segments = name.slice(ENV_PREFIX.length).split('__');
  if (segments.some((s) => !/^[A-Za-z0-9]+(_[A-Za-z0-9]+)*$/.test(s))) {
    throw new ConfigError([`env ${name}: malformed name; use TIDINGS_ + the option path in SCREAMING_SNAKE_CASE with __ between levels, e.g. TIDINGS_CLIENT__PING_INTERVAL`]);
  }
  return segments.map((s, i) =>
    // Namespace names are the user's own (they may contain "_"), so they are only lowercased.
    i > 0 && segments[i - 1] === 'NAMESPACES' ? s.toLowerCase() : s.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()),
  );
}

/** JSON-looking values (true, 42, ["*"], {...}) are parsed; anything else stays a string. */
function envValue(name: string, raw: string): unknown {
  const text = raw.trim();
  if (/^(true|false|null)$/.test(text)) return JSON.parse(text);
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(text)) {
    const n = Number(text);
    // A long numeric secret must not lose digits to float rounding.
    return /^-?\d+$/.test(text) && !Number.isSafeInteger(n) ? raw : n;
  }
  if (text.startsWith('[') || text.startsWith('{')) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ConfigError([`env ${name}: looks like JSON but does not parse (${(err as Error).message})`]);
    }
  }
  return raw;
}

/**
 * The problem as one line, with "(set by env X)" or "(set by flag --x)" when its key
 * came from there, and a suggested key named as an env var when the typo was in one.
 */
function withOrigin(problem: ConfigProblem, origins: Map<string, Origin>): string {
  let path = problem.path.join('.');
  // Problems raised outside the schema are plain "<path>: <message>" lines.
  if (path === '' && problem.at === undefined) path = /^([A-Za-z0-9_.-]+): /.exec(problem.message)?.[1] ?? '';
  const from: Origin[] = [];
  for (const [originPath, origin] of origins) {
    // The origin set exactly this key, something inside it, or an object containing it.
    if (path !== '' && (originPath === path || originPath.startsWith(`${path}.`) || path.startsWith(`${originPath}.`)) && !from.includes(origin)) from.push(origin);
  }
  if (from.length === 0) return formatProblem(problem);
  const notes = [from.map((o) => `set by ${o.kind} ${o.name}`).join(', ')];
  if (problem.suggestedPath && from.every((o) => o.kind === 'env')) notes.push(`did you mean ${envName(problem.suggestedPath)}?`);
  else if (problem.hint) notes.push(problem.hint);
  return formatProblem(problem, notes);
}

/** `client.pingInterval` → `TIDINGS_CLIENT__PING_INTERVAL` (namespace names kept as written, uppercased). */
export function envName(path: readonly string[]): string {
  const segments = path.map((seg, i) => (i > 0 && path[i - 1] === 'namespaces' ? seg : seg.replace(/([a-z0-9])([A-Z])/g, '$1_$2')).toUpperCase());
  return ENV_PREFIX + segments.join('__');
}

// ------------------------------------------------------------------ merge

function isPlain(v: unknown): v is Plain {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Own-property write, so a "__proto__" key from YAML stays a key (and is reported as unknown) instead of changing a prototype. */
function defineOwn(target: Plain, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Plain objects merge key by key; arrays and everything else replace; undefined leaves the lower value. */
export function deepMerge(base: Plain, over: Plain): Plain {
  const out: Plain = {};
  for (const [k, v] of Object.entries(base)) defineOwn(out, k, isPlain(v) ? deepMerge({}, v) : v);
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const prev = Object.hasOwn(out, k) ? out[k] : undefined;
    defineOwn(out, k, isPlain(v) ? deepMerge(isPlain(prev) ? prev : {}, v) : v);
  }
  return out;
}
