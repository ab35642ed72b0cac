/**
 * Validation problems in words a user can act on: every problem names the key, what
 * was expected and what was given ("client.pingInterval: expected a duration like
 * "25s", ..., got true"), an unknown key gets the closest known key, a bad choice the
 * allowed values. The schema stays the single source: `configErrorMap` words zod's
 * issues while it parses, `describeIssues` adds what needs the whole path (values,
 * suggestions, hidden secrets).
 */
import { z } from 'zod';

/** One problem with a setting. `path` is the key it concerns (segments); `at` the prefix shown, when not the path itself. */
export interface ConfigProblem {
  path: string[];
  message: string;
  at?: string | undefined;
  /** "did you mean ...?" text, appended in parentheses. */
  hint?: string | undefined;
  /** For an unknown key: the known key it is probably a typo of (so a loader can name it in its own terms, e.g. as an env var). */
  suggestedPath?: string[] | undefined;
}

/** "<path>: <message> (<notes>)", or just the message for the root. */
export function formatProblem(p: ConfigProblem, notes: string[] = p.hint ? [p.hint] : []): string {
  const at = p.at ?? p.path.join('.');
  const text = at ? `${at}: ${p.message}` : p.message;
  return notes.length > 0 ? `${text} (${notes.join('; ')})` : text;
}

/** Thrown for invalid settings; `message` names every bad key, what it expects and what it got. */
export class ConfigError extends Error {
  /** One line per problem. */
  readonly problems: string[];
  /** The same problems with the key each concerns (a loader adds where a key came from). */
  readonly details: ConfigProblem[];

  constructor(problems: readonly (string | ConfigProblem)[]) {
    const details = problems.map((p) => (typeof p === 'string' ? { path: [], message: p } : p));
    const lines = problems.map((p) => (typeof p === 'string' ? p : formatProblem(p)));
    super(`invalid configuration:\n${lines.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = lines;
    this.details = details;
  }
}

/** Marks a union issue for `describeIssues` to word from its branches. */
const UNION = '\u0000union';

type RawIssue = Parameters<z.core.$ZodErrorMap>[0];

/**
 * Words for issues the schema gives no message of its own: "expected ..." (the value
 * given is added later), so `describeIssues` can append it with secrets hidden.
 */
export const configErrorMap: z.core.$ZodErrorMap = (iss: RawIssue) => {
  const schema = iss.schema ?? (iss.inst instanceof z.ZodType ? iss.inst : undefined);
  switch (iss.code) {
    case 'invalid_type':
      if (schema instanceof z.ZodNumber) return `expected ${numberPhrase(schema)}`;
      return `expected ${TYPE_WORDS[iss.expected] ?? iss.expected}`;
    case 'too_small':
    case 'too_big':
      if (schema instanceof z.ZodNumber) return `expected ${numberPhrase(schema)}`;
      return `expected ${lengthPhrase(iss.code, iss.origin, Number(iss.code === 'too_small' ? iss.minimum : iss.maximum))}`;
    case 'invalid_value':
      return iss.values.length === 1 ? `expected ${show(iss.values[0])}` : `expected one of ${iss.values.map(show).join(', ')}`;
    case 'invalid_format':
      if (iss.format === 'starts_with') return `expected a string starting with ${show(iss['prefix'])}`;
      if (iss.format === 'regex') return `expected a string matching ${String(iss['pattern'])}`;
      return `expected ${iss.format === 'url' ? 'a URL' : `a string in ${iss.format} format`}`;
    case 'invalid_union':
      return UNION;
    default:
      return undefined;
  }
};

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of options (key: value)',
  record: 'a mapping (name: settings)',
};

function numberPhrase(schema: z.ZodNumber): string {
  const bound = (v: number | null) => (v !== null && Number.isFinite(v) && Math.abs(v) < Number.MAX_SAFE_INTEGER ? v : undefined);
  const min = bound(schema.minValue);
  const max = bound(schema.maxValue);
  const noun = schema.isInt ? 'a whole number' : 'a number';
  if (min !== undefined && max !== undefined) return `${noun} from ${min} to ${max}`;
  if (min !== undefined) return `${noun} of at least ${min}`;
  if (max !== undefined) return `${noun} of at most ${max}`;
  return noun;
}

function lengthPhrase(code: 'too_small' | 'too_big', origin: string, n: number): string {
  if (origin === 'string') return code === 'too_small' ? (n <= 1 ? 'a non-empty string' : `a string of at least ${n} characters`) : `a string of at most ${n} characters`;
  if (origin === 'array') return code === 'too_small' ? (n <= 1 ? 'a non-empty list' : `a list of at least ${n} items`) : `a list of at most ${n} items`;
  return code === 'too_small' ? `at least ${n}` : `at most ${n}`;
}

/** Keys whose values are never repeated in a message. */
const SECRET_KEYS = new Set(['secret', 'key', 'apiKey', 'publicKey', 'password', 'token']);

/** A value as a message shows it: short JSON, a count for long ones, never a secret. */
export function describeValue(value: unknown, path: readonly PropertyKey[] = []): string {
  if (value === undefined) return 'nothing';
  const last = [...path].reverse().find((s) => typeof s === 'string');
  if (typeof last === 'string' && SECRET_KEYS.has(last)) {
    return typeof value === 'string' ? `a string of ${value.length} characters (not shown)` : `a ${Array.isArray(value) ? 'list' : typeof value} (not shown)`;
  }
  // A connection URL (store.url, the engine's url) may carry a password: shown without it.
  if (typeof value === 'string' && last === 'url') value = withoutPassword(value);
  if (typeof value === 'string') return value.length > 60 ? `${JSON.stringify(value.slice(0, 57))}... (${value.length} characters)` : JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return String(value);
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined;
  }
  if (json !== undefined && json.length <= 40) return Array.isArray(value) ? `a list ${json}` : `a mapping ${json}`;
  return Array.isArray(value) ? `a list of ${value.length} items` : 'a mapping';
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/**
 * The issues of a failed parse of `input` against `schema` as problems. Unknown keys
 * become one problem each with the closest known key; unions are worded from their
 * branches; "expected ..." messages get the value that was given.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], schema: z.ZodType, input: unknown): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) describeOne(issue, [], schema, input, out);
  return out;
}

function describeOne(issue: z.core.$ZodIssue, prefix: PropertyKey[], root: z.ZodType, input: unknown, out: ConfigProblem[]): void {
  const full = [...prefix, ...issue.path];
  const path = full.map(String);
  const given = valueAt(input, full);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys(schemaAt(root, full));
      for (const key of issue.keys) {
        const near = closest(key, known);
        out.push({
          path: [...path, key],
          message: 'unknown option',
          hint: near !== undefined ? `did you mean ${[...path, near].join('.')}?` : undefined,
          suggestedPath: near !== undefined ? [...path, near] : undefined,
        });
      }
      return;
    }
    case 'invalid_key': {
      // The path ends with the key itself; show it as a value of its parent.
      const key = String(full[full.length - 1]);
      const parent = path.slice(0, -1);
      const reason = issue.issues[0]?.message ?? 'not allowed';
      const what = parent[parent.length - 1] === 'namespaces' ? 'namespace name' : 'name';
      out.push({ path, at: parent.join('.'), message: `${JSON.stringify(key)} is not a valid ${what}: ${reason}` });
      return;
    }
    case 'invalid_union': {
      if (issue.message !== UNION) break;
      // A branch whose problems all lie inside the value (not its type) is the one the user meant.
      const deep = issue.errors.filter((branch) => branch.length > 0 && branch.every((i) => i.path.length > 0 || i.code === 'unrecognized_keys'));
      if (deep.length === 1) {
        for (const inner of deep[0]!) describeOne(inner, full, root, input, out);
        return;
      }
      const phrases: string[] = [];
      for (const branch of issue.errors) {
        for (const i of branch) {
          const p = i.message.replace(/^expected /, '');
          if (i.path.length === 0 && p !== UNION && !phrases.includes(p)) phrases.push(p);
        }
      }
      const expected = phrases.length > 1 ? `${phrases.slice(0, -1).join(', ')} or ${phrases[phrases.length - 1]}` : (phrases[0] ?? 'something else');
      out.push(withGiven({ path, message: `expected ${expected}` }, given, full));
      return;
    }
    case 'invalid_value': {
      const problem = withGiven({ path, message: issue.message }, given, full);
      if (typeof given === 'string') {
        const near = closest(given, issue.values.filter((v): v is string => typeof v === 'string'));
        if (near !== undefined) problem.hint = `did you mean ${JSON.stringify(near)}?`;
      }
      out.push(problem);
      return;
    }
  }
  if (issue.code === 'invalid_type' && given === undefined) {
    out.push({ path, message: `is required: ${issue.message}` });
    return;
  }
  out.push(withGiven({ path, message: issue.message }, given, full));
}

/** Appends ", got <value>" to an "expected ..." message that does not say what it got. */
function withGiven(p: ConfigProblem, given: unknown, path: PropertyKey[]): ConfigProblem {
  if (/^expected /.test(p.message) && !/\bgot\b/.test(p.message)) p.message = `${p.message}, got ${describeValue(given, path)}`;
  return p;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const seg of path) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** The object schema at a path of the input, through defaults, optionals, pipes, records and lists. */
function schemaAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = unwrap(schema);
  for (const seg of path) {
    if (s instanceof z.ZodObject) s = Object.hasOwn(s.shape, seg) ? (s.shape[seg as string] as z.ZodType) : undefined;
    else if (s instanceof z.ZodRecord) s = s.valueType as z.ZodType;
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else if (s instanceof z.ZodUnion) s = (s.options as z.ZodType[]).map(unwrap).find((o) => o instanceof z.ZodArray || o instanceof z.ZodObject);
    else return undefined;
    s = s === undefined ? undefined : unwrap(s);
  }
  return s;
}

function unwrap(s: z.ZodType): z.ZodType {
  for (let i = 0; i < 20; i++) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else break;
  }
  return s;
}

function knownKeys(s: z.ZodType | undefined): string[] {
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/**
 * The candidate `word` is most likely a typo of: the same letters ignoring case, "_"
 * and "-" (ping_interval for pingInterval), else within a small edit distance.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  const w = norm(word);
  const same = candidates.find((c) => norm(c) === w);
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, norm(c));
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const allowed = w.length <= 5 ? 1 : w.length <= 9 ? 2 : 3;
  return bestDistance <= allowed ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** `scheme://user:secret@host/…` as `scheme://user:***@host/…`; other text unchanged. */
function withoutPassword(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^@/?#]*@/i, '$1:***@');
}
