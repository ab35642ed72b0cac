import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';
import { chooseLogFormat, createPrettyStream, formatRecord } from './log-pretty.js';

/** 2026-12-07 16:34:19.123 UTC */
const T = Date.UTC(2026, 11, 7, 16, 34, 19, 123);

/** Collects what a stream writes, line by line. */
function sink(): { write(text: string): void; lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (text: string) => lines.push(...text.split('\n').filter((l) => l !== '')) };
}

async function until(what: string, ok: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('chooseLogFormat', () => {
  it('is pretty for a terminal and JSON otherwise, unless told', () => {
    expect(chooseLogFormat('auto', true)).toBe('pretty');
    expect(chooseLogFormat('auto', false)).toBe('json');
    expect(chooseLogFormat('json', true)).toBe('json');
    expect(chooseLogFormat('pretty', false)).toBe('pretty');
  });
});

describe('formatRecord', () => {
  it('writes time, level, message and the fields as key=value on one line', () => {
    const rec = { level: 30, time: T, pid: 1, hostname: 'h', service: 'tidings', port: 8080, host: '127.0.0.1', msg: 'tidings listening' };
    expect(formatRecord(rec, { timeZone: 'utc' })).toBe('16:34:19.123 INFO  tidings listening port=8080 host=127.0.0.1');
  });

  it('attack: log injection: a value or error message with control characters (ANSI escapes, newline, NUL) is written escaped, on one line', () => {
    const rec = { level: 50, time: T, msg: 'hook failed', user: 'ansi\u001b[31mred\u001b[0m', err: { message: 'bad\u001b]0;title\u0007 input\nFAKE LINE\u0000' }, path: '/a\u009bb' };
    const line = formatRecord(rec, { timeZone: 'utc' });
    expect(line).toBe('16:34:19.123 ERROR hook failed user="ansi\\u001b[31mred\\u001b[0m" err="bad\\u001b]0;title\\u0007 input\\nFAKE LINE\\u0000" path="/a\\u009bb"');
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    // An error's stack (which repeats its message) keeps its lines, each escaped.
    const withStack = formatRecord({ level: 50, time: T, msg: 'x', err: { message: 'm', stack: 'Error: \u001b[2Jwiped\n    at f (a.js:1:1)' } }, { timeZone: 'utc' });
    expect(withStack.split('\n')).toEqual(['16:34:19.123 ERROR x err=m', '    Error: \\u001b[2Jwiped', '    at f (a.js:1:1)']);
  });

  it('quotes strings with spaces and writes objects as JSON', () => {
    const rec = { level: 40, time: T, msg: 'configuration reloaded, but host changed', signal: 'SIGHUP', settings: ['host'], reason: 'going away' };
    expect(formatRecord(rec, { timeZone: 'utc' })).toBe(
      '16:34:19.123 WARN  configuration reloaded, but host changed signal=SIGHUP settings=["host"] reason="going away"',
    );
  });

  it('puts an error message on the line and its stack below, indented', () => {
    const rec = { level: 50, time: T, msg: 'shutdown failed', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at a (x.js:1:1)\n    at b (y.js:2:2)' } };
    expect(formatRecord(rec, { timeZone: 'utc' }).split('\n')).toEqual([
      '16:34:19.123 ERROR shutdown failed err=boom',
      '    Error: boom',
      '    at a (x.js:1:1)',
      '    at b (y.js:2:2)',
    ]);
  });

  it('colours the level (and dims time and keys) only when asked', () => {
    const line = formatRecord({ level: 30, time: T, msg: 'hello', user: 'ann' }, { timeZone: 'utc', colors: true });
    expect(line).toBe('\u001b[2m16:34:19.123\u001b[0m \u001b[32mINFO \u001b[0m hello \u001b[2muser=\u001b[0mann');
    expect(formatRecord({ level: 30, time: T, msg: 'hello' }, { timeZone: 'utc' })).not.toContain('\u001b');
  });
});

describe('createPrettyStream', () => {
  it('turns a pino logger into readable lines, with redaction still applied', () => {
    const out = sink();
    const logTo = createLogger('info', out, { format: 'pretty', timeZone: 'utc' });
    logTo.info({ user: 'ann', token: 'secret-token' }, 'connected');
    logTo.debug('not at info');
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d\d\d INFO  connected user=ann token=\[redacted\]$/);
  });

  it('summarises frequent audit events in one line per interval and shows the rare ones as they come', async () => {
    const out = sink();
    const log = createLogger('info', createPrettyStream(out, { summaryIntervalMs: 30, timeZone: 'utc' })).child({ audit: true });
    for (let i = 0; i < 50; i++) log.info({ type: 'connect', client: `c${i}`, user: 'ann' }, 'audit connect');
    for (let i = 0; i < 20; i++) log.info({ type: 'disconnect', client: `c${i}`, user: 'ann', code: 1000 }, 'audit disconnect');
    log.info({ type: 'auth_failure', ip: '127.0.0.1', transport: 'websocket', reason: 'invalid signature' }, 'audit auth_failure');
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatch(/ INFO  audit auth_failure type=auth_failure ip=127\.0\.0\.1 transport=websocket reason="invalid signature"$/);
    await until('the summary line', () => out.lines.length === 2);
    expect(out.lines[1]).toMatch(/ INFO  audit: 50 connect, 20 disconnect \(summarised; each event: --log-level debug or --log-format json\)$/);
    // Nothing more to say: no further summary lines.
    await new Promise((r) => setTimeout(r, 80));
    expect(out.lines).toHaveLength(2);
  });

  it('shows every audit event when asked (debug level)', () => {
    const out = sink();
    const stream = createPrettyStream(out, { auditEach: true, timeZone: 'utc' });
    const log = createLogger('debug', stream).child({ audit: true });
    log.info({ type: 'connect', client: 'c1' }, 'audit connect');
    log.info({ type: 'api_call', method: 'POST', route: '/publish', status: 200 }, 'audit api_call');
    expect(out.lines).toEqual([expect.stringMatching(/ audit connect type=connect client=c1$/), expect.stringMatching(/ audit api_call type=api_call method=POST route=\/publish status=200$/)]);
    stream.close();
  });

  it('passes through a line that is not JSON', () => {
    const out = sink();
    createPrettyStream(out).write('plain text\n');
    expect(out.lines).toEqual(['plain text']);
  });
});

describe('the library (createTidings) and logFormat', () => {
  it('logs readable lines with logFormat: pretty and JSON otherwise', async () => {
    const { spawnSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    // The built library (npm test builds first), as an application imports it.
    const index = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const run = (format: string) => {
      // A real process: pino writes to file descriptor 1, which only a child's stdout captures.
      const script =
        `const { createTidings } = await import(${JSON.stringify(index)});` +
        `const t = createTidings({ auth: { secret: 'library-log-format-secret' }, store: { path: ':memory:' }, logFormat: ${JSON.stringify(format)} });` +
        `t.log.info({ probe: 1 }, 'library probe'); await t.close();`;
      const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NO_COLOR: '1' } });
      return (out.stdout ?? '') + (out.stderr ?? '');
    };
    const pretty = run('pretty').split('\n').find((l) => l.includes('library probe'));
    expect(pretty).toBeDefined();
    expect(pretty!.startsWith('{')).toBe(false);
    expect(pretty).toContain('probe=1');
    const json = run('auto').split('\n').find((l) => l.includes('library probe'));
    expect(JSON.parse(json!)).toMatchObject({ msg: 'library probe', probe: 1 });
  });
});
