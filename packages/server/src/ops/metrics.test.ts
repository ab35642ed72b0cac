import { describe, expect, it } from 'vitest';
import { DEFAULT_COMMAND_TYPES, NodeMetrics } from './metrics.js';

// ------------------------------------------------------------------ a strict exposition parser

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  type: string;
  help: string | undefined;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(NaN|[+-]Inf|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/;
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);

/** `a="x",b="y \\" z"`: label pairs with \\\\, \\" and \\n escapes; throws on anything else. */
function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`label without "=": ${line}`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name "${name}": ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`label value not quoted: ${line}`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`unterminated label value: ${line}`);
      if (c === '"') break;
      if (c === '\\') {
        const e = text[j + 1];
        if (e === '\\' || e === '"') value += e;
        else if (e === 'n') value += '\n';
        else throw new Error(`bad escape in label value: ${line}`);
        j += 2;
      } else {
        value += c;
        j++;
      }
    }
    if (name in labels) throw new Error(`duplicate label "${name}": ${line}`);
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ',') throw new Error(`expected "," between labels: ${line}`);
      i++;
    }
  }
  return labels;
}

/** Parses Prometheus text exposition 0.0.4 strictly: every sample belongs to a family declared by an earlier TYPE line. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const helps = new Map<string, string>();
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = HELP_LINE.exec(line);
    if (m) {
      if (helps.has(m[1]!)) throw new Error(`second HELP for ${m[1]}`);
      helps.set(m[1]!, m[2]!);
      continue;
    }
    m = TYPE_LINE.exec(line);
    if (m) {
      if (families.has(m[1]!)) throw new Error(`second TYPE for ${m[1]}`);
      families.set(m[1]!, { type: m[2]!, help: helps.get(m[1]!), samples: [] });
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment: ${line}`);
    m = SAMPLE_LINE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const [, name, labelText, valueText] = m;
    if (!VALUE.test(valueText!)) throw new Error(`value is not a number: ${line}`);
    const family = familyOf(families, name!);
    if (!family) throw new Error(`sample without a TYPE: ${line}`);
    const labels = labelText === undefined ? {} : parseLabels(labelText, line);
    if (family.type === 'histogram' && name!.endsWith('_bucket') && labels['le'] === undefined) throw new Error(`bucket without le: ${line}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`duplicate sample: ${line}`);
    seen.add(key);
    family.samples.push({ name: name!, labels, value: Number(valueText!.replace('Inf', 'Infinity')) });
  }
  return families;
}

function familyOf(families: Map<string, Family>, name: string): Family | undefined {
  const exact = families.get(name);
  if (exact) return exact;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = m ? families.get(m[1]!) : undefined;
  if (base && (base.type === 'histogram' || (base.type === 'summary' && m![2] !== 'bucket'))) return base;
  return undefined;
}

/** The value of one sample; undefined when absent. */
function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = familyOf(families, name);
  const sample = family?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length);
  return sample?.value;
}

async function scrape(m: NodeMetrics): Promise<Map<string, Family>> {
  return parseExposition(await m.render());
}

// ------------------------------------------------------------------ tests

describe('parseExposition', () => {
  it('rejects what Prometheus would reject', () => {
    expect(() => parseExposition('# TYPE a counter\na 1\n')).not.toThrow();
    expect(() => parseExposition('a 1\n')).toThrow('without a TYPE');
    expect(() => parseExposition('# TYPE a counter\na one\n')).toThrow('not a number');
    expect(() => parseExposition('# TYPE a counter\na{x="1} 1\n')).toThrow();
    expect(() => parseExposition('# TYPE a counter\na{x=1} 1\n')).toThrow('not quoted');
    expect(() => parseExposition('# TYPE a counter\n# TYPE a counter\n')).toThrow('second TYPE');
    expect(() => parseExposition('# TYPE a counter\na 1')).toThrow('newline');
  });
});

describe('NodeMetrics', () => {
  it('renders valid exposition with process metrics, including event-loop lag, under the prefix', async () => {
    const m = new NodeMetrics();
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = await scrape(m);
    for (const [name, type] of [
      ['tidings_connections', 'gauge'],
      ['tidings_commands_total', 'counter'],
      ['tidings_api_request_duration_seconds', 'histogram'],
      ['tidings_nodejs_eventloop_lag_seconds', 'gauge'],
      ['tidings_process_resident_memory_bytes', 'gauge'],
    ] as const) {
      expect(families.get(name)?.type, name).toBe(type);
    }
    for (const [name, family] of families) {
      expect(name.startsWith('tidings_'), name).toBe(true);
      expect(family.help, name).toBeTruthy();
    }
    const bare = await scrape(new NodeMetrics({ prefix: 'x_', defaultMetrics: false }));
    expect([...bare.keys()].some((n) => n.includes('nodejs') || n.includes('process_'))).toBe(false);
    expect(bare.has('x_connections')).toBe(true);
  });

  it('reads the gauges from the source at scrape time, once per scrape', async () => {
    const m = new NodeMetrics({ defaultMetrics: false });
    let calls = 0;
    let connections = 3;
    m.setSource(() => {
      calls++;
      return { connections, users: 2, subscriptions: 7, channels: 5 };
    });
    let f = await scrape(m);
    expect([value(f, 'tidings_connections'), value(f, 'tidings_users'), value(f, 'tidings_subscriptions'), value(f, 'tidings_channels')]).toEqual([3, 2, 7, 5]);
    expect(calls).toBe(1);
    connections = 4;
    f = await scrape(m);
    expect(value(f, 'tidings_connections')).toBe(4);
  });

  it('counts commands, errors, disconnects, publications, bytes and limit hits', async () => {
    const m = new NodeMetrics({ defaultMetrics: false });
    let f = await scrape(m);
    // Known label values exist from the start, so rates work from the first scrape.
    expect(value(f, 'tidings_commands_total', { type: 'publish' })).toBe(0);
    expect(value(f, 'tidings_limit_hits_total', { limit: 'command_rate' })).toBe(0);

    m.commandReceived('publish');
    m.commandReceived('publish');
    m.commandReceived('presence_stats');
    m.commandReceived('launch_missiles');
    m.commandReceived('__proto__');
    m.error('permission_denied');
    m.disconnect(4005);
    m.disconnect(4005);
    m.publicationIn('client');
    m.publicationIn('api');
    m.publicationsOut(5);
    m.publicationsOut(0);
    m.bytesIn(100);
    m.bytesOut(250);
    m.bytesOut(50);
    m.limitHit('publish_rate');
    m.limitHit('made_up_limit');
    f = await scrape(m);
    expect(value(f, 'tidings_commands_total', { type: 'publish' })).toBe(2);
    expect(value(f, 'tidings_commands_total', { type: 'presence_stats' })).toBe(1);
    expect(value(f, 'tidings_commands_total', { type: 'unknown' })).toBe(2);
    expect(f.get('tidings_commands_total')!.samples.map((s) => s.labels['type'])).not.toContain('launch_missiles');
    expect(value(f, 'tidings_errors_total', { code: 'permission_denied' })).toBe(1);
    expect(value(f, 'tidings_disconnects_total', { code: '4005' })).toBe(2);
    expect(value(f, 'tidings_publications_in_total', { source: 'client' })).toBe(1);
    expect(value(f, 'tidings_publications_in_total', { source: 'api' })).toBe(1);
    expect(value(f, 'tidings_publications_in_total', { source: 'library' })).toBe(0);
    expect(value(f, 'tidings_publications_out_total')).toBe(5);
    expect(value(f, 'tidings_bytes_in_total')).toBe(100);
    expect(value(f, 'tidings_bytes_out_total')).toBe(300);
    expect(value(f, 'tidings_limit_hits_total', { limit: 'publish_rate' })).toBe(1);
    expect(value(f, 'tidings_limit_hits_total', { limit: 'other' })).toBe(1);
  });

  it('counts every protocol command by name by default', () => {
    expect([...DEFAULT_COMMAND_TYPES].sort()).toEqual(
      ['connect', 'refresh', 'subscribe', 'unsubscribe', 'publish', 'history', 'presence', 'presence_stats', 'presence_state', 'typing', 'status', 'follow', 'unfollow', 'rpc', 'notifications', 'notification_count', 'notification_read', 'notification_delete', 'activity', 'progress', 'message_edit', 'message_delete', 'annotate', 'read', 'read_receipts', 'unread'].sort(),
    );
  });

  it('takes the command types to count by name from options', async () => {
    const m = new NodeMetrics({ defaultMetrics: false, commandTypes: ['ping'] });
    m.commandReceived('ping');
    m.commandReceived('publish');
    const f = await scrape(m);
    expect(value(f, 'tidings_commands_total', { type: 'ping' })).toBe(1);
    expect(value(f, 'tidings_commands_total', { type: 'unknown' })).toBe(1);
  });

  it('caps distinct error and close codes, lumping the rest as "other"', async () => {
    const m = new NodeMetrics({ defaultMetrics: false });
    for (let i = 0; i < 60; i++) m.error(`app_error_${i}`);
    m.error('app_error_0');
    m.error('x'.repeat(65));
    m.error('');
    for (let i = 0; i < 70; i++) m.disconnect(4000 + i);
    const f = await scrape(m);
    const codes = f.get('tidings_errors_total')!.samples.map((s) => s.labels['code']);
    expect(codes).toHaveLength(51);
    expect(value(f, 'tidings_errors_total', { code: 'app_error_0' })).toBe(2);
    expect(value(f, 'tidings_errors_total', { code: 'other' })).toBe(12);
    expect(f.get('tidings_disconnects_total')!.samples).toHaveLength(51);
    expect(value(f, 'tidings_disconnects_total', { code: 'other' })).toBe(20);

    const small = new NodeMetrics({ defaultMetrics: false, maxCodes: 2 });
    for (const c of ['a', 'b', 'c', 'a']) small.error(c);
    const g = await scrape(small);
    expect(g.get('tidings_errors_total')!.samples.map((s) => [s.labels['code'], s.value]).sort()).toEqual([
      ['a', 2],
      ['b', 1],
      ['other', 1],
    ]);
  });

  it('times API requests by route pattern, bounding methods', async () => {
    const m = new NodeMetrics({ defaultMetrics: false });
    m.apiRequest('GET', '/channels/:channel', 200, 0.003);
    m.apiRequest('GET', '/channels/:channel', 200, 0.2);
    m.apiRequest('GET', 'unmatched', 404, 0.001);
    m.apiRequest('BREW', 'unmatched', 404, 0.001);
    m.apiRequest('GET', 'unmatched', 404, Number.NaN);
    const f = await scrape(m);
    const name = 'tidings_api_request_duration_seconds';
    expect(value(f, `${name}_count`, { method: 'GET', route: '/channels/:channel', status: '200' })).toBe(2);
    expect(value(f, `${name}_sum`, { method: 'GET', route: '/channels/:channel', status: '200' })).toBeCloseTo(0.203);
    expect(value(f, `${name}_bucket`, { method: 'GET', route: '/channels/:channel', status: '200', le: '0.005' })).toBe(1);
    expect(value(f, `${name}_bucket`, { method: 'GET', route: '/channels/:channel', status: '200', le: '+Inf' })).toBe(2);
    expect(value(f, `${name}_count`, { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(value(f, `${name}_count`, { method: 'other', route: 'unmatched', status: '404' })).toBe(1);
  });

  it('never throws on odd numbers from a hot path', () => {
    const m = new NodeMetrics({ defaultMetrics: false });
    expect(() => {
      m.bytesIn(-1);
      m.bytesOut(Number.NaN);
      m.publicationsOut(Infinity);
      m.apiRequest('GET', '/stats', 200, -1);
    }).not.toThrow();
  });

  it('keeps two instances apart', async () => {
    const a = new NodeMetrics();
    const b = new NodeMetrics();
    a.commandReceived('subscribe');
    a.error('bad_request');
    a.bytesIn(10);
    a.setSource(() => ({ connections: 9, users: 9, subscriptions: 9, channels: 9 }));
    const fa = await scrape(a);
    const fb = await scrape(b);
    expect(value(fa, 'tidings_commands_total', { type: 'subscribe' })).toBe(1);
    expect(value(fb, 'tidings_commands_total', { type: 'subscribe' })).toBe(0);
    expect(value(fb, 'tidings_errors_total', { code: 'bad_request' })).toBeUndefined();
    expect(value(fb, 'tidings_bytes_in_total')).toBe(0);
    expect(value(fa, 'tidings_connections')).toBe(9);
    expect(value(fb, 'tidings_connections')).toBe(0);
    // Both carry the process metrics.
    expect(fb.has('tidings_nodejs_eventloop_lag_seconds')).toBe(true);
  });
});
