/**
 * Logs a person reads in a terminal: one line per event, "time LEVEL message key=value",
 * coloured when the terminal takes colour, errors with their stack below. It is a pino
 * destination: pino (and its redaction) produces the JSON line, this turns it into text.
 *
 * High-volume audit events (connect, disconnect, api_call) would bury everything else
 * in a dev terminal, so unless asked for each one they are counted and summarised in
 * one line per interval; the rarer ones (auth_failure, limit_hit) are shown as they come.
 */
import type { DestinationStream } from 'pino';

export type LogFormat = 'auto' | 'json' | 'pretty';

/** `auto` means pretty for a terminal and JSON for anything else (files, pipes, log collectors). */
export function chooseLogFormat(format: LogFormat, isTTY: boolean): 'json' | 'pretty' {
  return format === 'auto' ? (isTTY ? 'pretty' : 'json') : format;
}

export interface PrettyOptions {
  /** ANSI colours (for a terminal that is not told NO_COLOR). Default false. */
  colors?: boolean;
  /** Print every audit event, as JSON logs do. Default false: summarise the frequent ones. */
  auditEach?: boolean;
  /** Interval of the audit summary line. Default 10 s. */
  summaryIntervalMs?: number;
  /** Clock of the time column. Default local time. */
  timeZone?: 'local' | 'utc';
}

/** Audit event types counted into the summary line instead of shown one by one. */
export const SUMMARISED_AUDIT = new Set(['connect', 'disconnect', 'api_call']);

const LEVELS: Record<number, [label: string, color: string]> = {
  10: ['TRACE', '90'],
  20: ['DEBUG', '34'],
  30: ['INFO ', '32'],
  40: ['WARN ', '33'],
  50: ['ERROR', '31'],
  60: ['FATAL', '35;1'],
};

/** Fields every line has (or that only matter to machines); not repeated as key=value. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service', 'v', 'audit']);

function paint(colors: boolean, code: string, text: string): string {
  return colors ? `\u001b[${code}m${text}\u001b[0m` : text;
}

function clock(time: unknown, zone: 'local' | 'utc'): string {
  const d = new Date(typeof time === 'number' ? time : Date.now());
  const utc = zone === 'utc';
  const two = (n: number) => String(n).padStart(2, '0');
  const h = utc ? d.getUTCHours() : d.getHours();
  const m = utc ? d.getUTCMinutes() : d.getMinutes();
  const s = utc ? d.getUTCSeconds() : d.getSeconds();
  const ms = utc ? d.getUTCMilliseconds() : d.getMilliseconds();
  return `${two(h)}:${two(m)}:${two(s)}.${String(ms).padStart(3, '0')}`;
}

/** C0 and C1 control characters: a value carrying them (ANSI escapes, newlines) must not reach a terminal raw. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** JSON escapes C0 itself; DEL and C1 (\u009b is a CSI) it leaves raw. */
const C1 = /[\u007f-\u009f]/g;
const ALL_CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
const escapeChar = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

function showValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) && !CONTROL.test(v) ? v : JSON.stringify(v).replace(C1, escapeChar);
  if (v === undefined) return 'undefined';
  try {
    return (JSON.stringify(v) ?? String(v)).replace(ALL_CONTROLS, escapeChar);
  } catch {
    return String(v).replace(ALL_CONTROLS, escapeChar);
  }
}

/** One log record (pino's JSON, parsed) as text: a line, plus an indented stack for an error. */
export function formatRecord(rec: Record<string, unknown>, opts: Pick<PrettyOptions, 'colors' | 'timeZone'> = {}): string {
  const colors = opts.colors ?? false;
  const level = typeof rec['level'] === 'number' ? rec['level'] : 30;
  const [label, color] = LEVELS[level] ?? [String(level).padEnd(5), '0'];
  const parts = [paint(colors, '2', clock(rec['time'], opts.timeZone ?? 'local')), paint(colors, color, label)];
  const msg = typeof rec['msg'] === 'string' ? rec['msg'].replace(ALL_CONTROLS, escapeChar) : '';
  if (msg) parts.push(level >= 40 ? paint(colors, color, msg) : msg);
  let stack: string | undefined;
  for (const [key, value] of Object.entries(rec)) {
    if (HIDDEN.has(key)) continue;
    let v = value;
    if ((key === 'err' || key === 'error') && typeof value === 'object' && value !== null) {
      const err = value as { message?: unknown; stack?: unknown; type?: unknown };
      if (typeof err.stack === 'string') stack = err.stack;
      v = typeof err.message === 'string' ? err.message : value;
    }
    parts.push(`${paint(colors, '2', `${key}=`)}${showValue(v)}`);
  }
  let line = parts.join(' ');
  if (stack) line += `\n${stack.split('\n').map((l) => paint(colors, '2', `    ${l.trimStart().replace(ALL_CONTROLS, escapeChar)}`)).join('\n')}`;
  return line;
}

export interface PrettyStream extends DestinationStream {
  /** Writes the pending audit summary now (if any events are counted). */
  flushSummary(): void;
  /** Stops the summary timer (after writing what is pending). */
  close(): void;
}

/** A pino destination that writes readable lines to `out`. */
export function createPrettyStream(out: { write(text: string): unknown }, opts: PrettyOptions = {}): PrettyStream {
  const interval = opts.summaryIntervalMs ?? 10_000;
  const counts = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;

  const flushSummary = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    process.off('exit', flushSummary);
    if (counts.size === 0) return;
    const what = [...counts].map(([type, n]) => `${n} ${type}`).join(', ');
    counts.clear();
    const rec = { level: 30, time: Date.now(), msg: `audit: ${what} (summarised; each event: --log-level debug or --log-format json)` };
    out.write(`${formatRecord(rec, opts)}\n`);
  };

  const writeLine = (line: string) => {
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      out.write(`${line}\n`);
      return;
    }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) {
      out.write(`${line}\n`);
      return;
    }
    const r = rec as Record<string, unknown>;
    if (r['audit'] === true && !opts.auditEach && typeof r['type'] === 'string' && SUMMARISED_AUDIT.has(r['type'])) {
      counts.set(r['type'], (counts.get(r['type']) ?? 0) + 1);
      if (!timer) {
        timer = setTimeout(flushSummary, interval);
        timer.unref();
        // What is counted when the process ends is still reported (a sync `out` writes it in time).
        process.once('exit', flushSummary);
      }
      return;
    }
    out.write(`${formatRecord(r, opts)}\n`);
  };

  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line.trim() !== '') writeLine(line);
    },
    flushSummary,
    close: flushSummary,
  };
}
