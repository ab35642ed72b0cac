import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../log.js';
import { LogAuditSink, type AuditEvent } from './audit.js';

/** A logger writing JSON lines into memory. */
function memoryLogger(level = 'info'): { log: Logger; lines: () => Record<string, unknown>[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return {
    log: createLogger(level, stream),
    lines: () =>
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('LogAuditSink', () => {
  it('logs every kind of event at info with audit: true and its fields', () => {
    const { log, lines } = memoryLogger();
    const sink = new LogAuditSink(log);
    const events: AuditEvent[] = [
      { type: 'connect', client: 'c1', user: 'alice', ip: '10.0.0.1', transport: 'websocket' },
      { type: 'disconnect', client: 'c1', user: 'alice', code: 4005, reason: 'force reconnect' },
      { type: 'auth_failure', ip: '10.0.0.2', transport: 'api', reason: 'unknown API key' },
      { type: 'limit_hit', limit: 'command_rate', user: 'bob', client: 'c2' },
      { type: 'limit_hit', limit: 'connection_rate_per_ip', ip: '10.0.0.3' },
      { type: 'api_call', keyId: 'backend', method: 'POST', route: '/publish', status: 200, requestId: 'r-1' },
    ];
    for (const e of events) sink.emit(e);
    const out = lines();
    expect(out).toHaveLength(events.length);
    out.forEach((line, i) => {
      expect(line).toMatchObject({ level: 30, audit: true, service: 'tidings', msg: `audit ${events[i]!.type}`, ...events[i] });
    });
    // Absent optional fields stay absent rather than appearing as null.
    expect(out[4]).not.toHaveProperty('user');
  });

  it('writes only event fields, so a token or key riding along never reaches the log', () => {
    const { log, lines } = memoryLogger();
    const sink = new LogAuditSink(log);
    const leaky = { type: 'auth_failure', ip: '10.0.0.2', transport: 'api', reason: 'unknown API key', presented: 'sk-live-123456', token: 'eyJhbGciOi', headers: { authorization: 'Bearer x' } };
    sink.emit(leaky as AuditEvent);
    const text = JSON.stringify(lines());
    expect(text).toContain('unknown API key');
    for (const secret of ['sk-live-123456', 'eyJhbGciOi', 'Bearer x', 'presented', 'headers']) expect(text).not.toContain(secret);
  });

  it('respects the log level and never throws', () => {
    const quiet = memoryLogger('warn');
    new LogAuditSink(quiet.log).emit({ type: 'connect', client: 'c', user: 'u', ip: '::1', transport: 'websocket' });
    expect(quiet.lines()).toEqual([]);

    const broken = {
      child: () => ({
        info: () => {
          throw new Error('disk full');
        },
      }),
    } as unknown as Logger;
    expect(() => new LogAuditSink(broken).emit({ type: 'limit_hit', limit: 'command_rate' })).not.toThrow();
  });
});
