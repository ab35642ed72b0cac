import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ClientCloseCode,
  CloseCode,
  CloseReason,
  ErrorCode,
  TEMPORARY_ERROR_CODES,
  UnsubscribeCode,
  closeCodeIsTerminal,
  closeCodeReconnects,
  unsubscribeCodeResubscribes,
} from './codes.js';

const closeEntries = Object.entries(CloseCode);
const closeValues: number[] = Object.values(CloseCode);

describe('CloseCode', () => {
  it('values are unique', () => {
    expect(new Set(closeValues).size).toBe(closeValues.length);
  });

  it('every value has a reason, and every reason belongs to a value', () => {
    for (const [name, code] of closeEntries) {
      expect(typeof CloseReason[code], name).toBe('string');
    }
    expect(Object.keys(CloseReason).map(Number).sort()).toEqual([...closeValues].sort());
  });

  it('reasons are unique, non-empty, lowercase and fit a WebSocket close frame (<= 123 bytes)', () => {
    const reasons = Object.values(CloseReason);
    expect(new Set(reasons).size).toBe(reasons.length);
    for (const r of reasons) {
      expect(r).toMatch(/^[a-z][a-z ]*[a-z]$/);
      expect(Buffer.byteLength(r, 'utf8')).toBeLessThanOrEqual(123);
    }
  });

  it('values are standard codes (1000-1015) or application codes (4000-4999)', () => {
    for (const [name, code] of closeEntries) {
      expect((code >= 1000 && code <= 1015) || (code >= 4000 && code <= 4999), name).toBe(true);
    }
  });

  it('named 4000-4499 codes reconnect and are not terminal', () => {
    const named = closeEntries.filter(([, c]) => c >= 4000 && c <= 4499);
    expect(named.map(([n]) => n).sort()).toEqual(
      [
        'ConnectTimeout',
        'ConnectionLimit',
        'ForceReconnect',
        'InternalError',
        'RateLimit',
        'Shutdown',
        'Slow',
        'Stale',
        'TokenExpired',
      ].sort(),
    );
    for (const [name, code] of named) {
      expect(closeCodeReconnects(code), name).toBe(true);
      expect(closeCodeIsTerminal(code), name).toBe(false);
    }
  });

  it('pins the limit codes: ConnectionLimit 4007 "connection limit", RateLimit 4008 "rate limit", both reconnect', () => {
    expect(CloseCode.ConnectionLimit).toBe(4007);
    expect(CloseCode.RateLimit).toBe(4008);
    expect(CloseReason[4007]).toBe('connection limit');
    expect(CloseReason[4008]).toBe('rate limit');
    for (const code of [CloseCode.ConnectionLimit, CloseCode.RateLimit]) {
      expect(closeCodeReconnects(code), String(code)).toBe(true);
      expect(closeCodeIsTerminal(code), String(code)).toBe(false);
    }
  });

  it('pins every close code and reason (the wire values never change within v1)', () => {
    const pinned = Object.fromEntries(closeEntries.map(([name, code]) => [name, [code, CloseReason[code]]]));
    expect(pinned).toEqual({
      Normal: [1000, 'normal'],
      GoingAway: [1001, 'going away'],
      MessageTooBig: [1009, 'message too big'],
      Shutdown: [4000, 'shutdown'],
      Stale: [4001, 'stale'],
      Slow: [4002, 'slow'],
      TokenExpired: [4003, 'token expired'],
      ConnectTimeout: [4004, 'connect timeout'],
      ForceReconnect: [4005, 'force reconnect'],
      InternalError: [4006, 'internal error'],
      ConnectionLimit: [4007, 'connection limit'],
      RateLimit: [4008, 'rate limit'],
      InvalidToken: [4500, 'invalid token'],
      BadRequest: [4501, 'bad request'],
      Forbidden: [4502, 'forbidden'],
      ForceDisconnect: [4503, 'force disconnect'],
    });
  });

  it('named 4500-4999 codes are terminal and do not reconnect', () => {
    const named = closeEntries.filter(([, c]) => c >= 4500 && c <= 4999);
    expect(named.map(([n]) => n).sort()).toEqual(['BadRequest', 'ForceDisconnect', 'Forbidden', 'InvalidToken'].sort());
    for (const [name, code] of named) {
      expect(closeCodeReconnects(code), name).toBe(false);
      expect(closeCodeIsTerminal(code), name).toBe(true);
    }
  });

  it('the whole 4000-4499 range reconnects and the whole 4500-4999 range is terminal', () => {
    for (let code = 4000; code <= 4499; code++) {
      expect(closeCodeReconnects(code)).toBe(true);
      expect(closeCodeIsTerminal(code)).toBe(false);
    }
    for (let code = 4500; code <= 4999; code++) {
      expect(closeCodeReconnects(code)).toBe(false);
      expect(closeCodeIsTerminal(code)).toBe(true);
    }
  });

  it('standard codes: 1000 does not reconnect; 1006, 1009 and 1011 do; none is terminal', () => {
    expect(closeCodeReconnects(CloseCode.Normal)).toBe(false);
    expect(closeCodeReconnects(1006)).toBe(true);
    expect(closeCodeReconnects(CloseCode.MessageTooBig)).toBe(true);
    expect(closeCodeReconnects(1011)).toBe(true);
    for (let code = 1000; code <= 1015; code++) expect(closeCodeIsTerminal(code)).toBe(false);
  });

  it('a terminal code never reconnects', () => {
    for (let code = 0; code <= 6000; code++) {
      if (closeCodeIsTerminal(code)) expect(closeCodeReconnects(code)).toBe(false);
    }
  });
});

describe('UnsubscribeCode', () => {
  it('values are unique', () => {
    const values = Object.values(UnsubscribeCode);
    expect(new Set(values).size).toBe(values.length);
  });

  it('Server is final and Resubscribe resubscribes', () => {
    expect(unsubscribeCodeResubscribes(UnsubscribeCode.Server)).toBe(false);
    expect(unsubscribeCodeResubscribes(UnsubscribeCode.Resubscribe)).toBe(true);
  });

  it('2000-2499 are final, 2500-2999 resubscribe, nothing outside does', () => {
    for (let code = 2000; code <= 2499; code++) expect(unsubscribeCodeResubscribes(code)).toBe(false);
    for (let code = 2500; code <= 2999; code++) expect(unsubscribeCodeResubscribes(code)).toBe(true);
    for (const code of [0, 1999, 3000, 4000, 4500]) expect(unsubscribeCodeResubscribes(code)).toBe(false);
  });

  it('every named code is in 2000-2999', () => {
    for (const [name, code] of Object.entries(UnsubscribeCode)) expect(code >= 2000 && code <= 2999, name).toBe(true);
  });
});

describe('ErrorCode', () => {
  const values: string[] = Object.values(ErrorCode);

  it('values are unique', () => {
    expect(new Set(values).size).toBe(values.length);
  });

  it('values are lowercase snake_case', () => {
    for (const v of values) expect(v).toMatch(/^[a-z]+(_[a-z]+)*$/);
  });

  it('each key is the PascalCase of its value', () => {
    // Keys and values describe the same thing: `token_expired` is `TokenExpired`.
    for (const [key, value] of Object.entries(ErrorCode)) {
      const pascal = value.replace(/(^|_)([a-z])/g, (_m, _s: string, c: string) => c.toUpperCase());
      expect(key).toBe(pascal);
    }
  });

  it('TEMPORARY_ERROR_CODES holds only ErrorCode values', () => {
    expect(TEMPORARY_ERROR_CODES.size).toBeGreaterThan(0);
    for (const c of TEMPORARY_ERROR_CODES) expect(values).toContain(c);
  });

  it('client mistakes are not temporary', () => {
    for (const c of [
      ErrorCode.BadRequest,
      ErrorCode.UnknownCommand,
      ErrorCode.NotConnected,
      ErrorCode.AlreadyConnected,
      ErrorCode.InvalidChannel,
      ErrorCode.PermissionDenied,
    ]) {
      expect(TEMPORARY_ERROR_CODES.has(c), c).toBe(false);
    }
    expect(TEMPORARY_ERROR_CODES.has(ErrorCode.RateLimited)).toBe(true);
  });
});

// ------------------------------------------------------------ the code table against the docs

/** The rows of the first Markdown table after `heading` in `doc`, as trimmed cells (header and rule left out). */
function tableAfter(doc: string, heading: string, firstHeader: string): string[][] {
  const start = doc.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no heading ${JSON.stringify(heading)}`);
  const lines = doc.slice(start).split('\n');
  const head = lines.findIndex((l) => l.startsWith(`| ${firstHeader} |`));
  if (head < 0) throw new Error(`no table starting with "${firstHeader}" after ${heading}`);
  const rows: string[][] = [];
  for (const line of lines.slice(head + 2)) {
    if (!line.startsWith('|')) break;
    // Cells split on pipes that are not escaped (`\|` stands inside a cell).
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows;
}

const readDoc = (name: string): string => readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8');

describe('docs/errors.md agrees with the code table', () => {
  const doc = readDoc('errors.md');

  it('error codes: every ErrorCode is documented once, with the same temporary flag, and every documented code exists', () => {
    const rows = tableAfter(doc, '## Error codes', 'Code');
    const documented = rows.map(([code, temporary]) => {
      const m = /^\[`([a-z_]+)`\]\(#\1\)$/.exec(code!);
      expect(m, code).not.toBeNull();
      return { code: m![1]!, temporary: temporary!.startsWith('**yes**') };
    });
    const names = documented.map((d) => d.code);
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual([...Object.values(ErrorCode)].sort());
    for (const { code, temporary } of documented) expect(temporary, code).toBe(TEMPORARY_ERROR_CODES.has(code));
    for (const code of names) expect(doc, `section for ${code}`).toContain(`\n### ${code}\n`);
  });

  it('close codes: every CloseCode is documented with its number, reason and reconnect meaning; every documented code exists', () => {
    const rows = tableAfter(doc, '## Close codes', 'Code');
    const documented = new Map(rows.map(([code, name, reason, reconnect]) => [Number(code), { name: name!, reason: reason!, reconnect: reconnect! }]));
    expect(documented.size).toBe(rows.length);
    for (const [key, code] of closeEntries) {
      const row = documented.get(code);
      expect(row, `${key} ${code} is in the table`).toBeDefined();
      expect(row!.name, key).toBe(CloseReason[code]);
      // A standard code (1009) may carry whatever reason the WebSocket layer gives it.
      const layer = code < 4000 && row!.reason === 'from the WebSocket layer';
      expect(layer || row!.reason.startsWith(`\`${CloseReason[code]}\``), `${key}: ${row!.reason}`).toBe(true);
      expect(row!.reconnect.startsWith('no'), `${key}: ${row!.reconnect}`).toBe(!closeCodeReconnects(code));
      expect(doc, `section for ${code}`).toContain(`\n### ${code} ${CloseReason[code]}\n`);
    }
    for (const [code, row] of documented) {
      if (closeValues.includes(code)) continue;
      if (code === ClientCloseCode.NoEndpoint) {
        // Reported by the SDK itself, never sent: documented as such, with its own section.
        expect(row.name).toBe('no endpoint (SDK only, never sent)');
        expect(doc).toContain(`\n### ${code} no endpoint (client-side)\n`);
        continue;
      }
      // The rest are standard codes the WebSocket layer or the network sets; Tidings never sends them.
      expect(code >= 1000 && code <= 1015, `${code} is a named code or a standard one`).toBe(true);
      expect(row.reason === '—' || row.reason.startsWith('from the WebSocket layer'), `${code}: ${row.reason}`).toBe(true);
      expect(row.reconnect.startsWith('no'), String(code)).toBe(!closeCodeReconnects(code));
      expect(closeCodeIsTerminal(code), String(code)).toBe(false);
    }
  });

  it('close code ranges: the doc states them as the code applies them, and that terminal codes say so in the push', () => {
    expect(doc).toContain('Ranges: 4000–4499 reconnect, 4500–4999 terminal');
    expect(doc).toContain('`{"type":"disconnect","code":4600,"reason":"disconnect","reconnect":false,"terminal":true}`');
  });

  it('unsubscribe codes: every UnsubscribeCode is documented, final or resubscribing as the code says, and nothing else is', () => {
    const rows = tableAfter(doc, '## Unsubscribe codes', 'Code');
    expect(rows.map(([code]) => Number(code)).sort()).toEqual(Object.values(UnsubscribeCode).sort());
    for (const [code, , , , action] of rows) {
      expect(/^subscribe again/i.test(action!), `${code}: ${action}`).toBe(unsubscribeCodeResubscribes(Number(code)));
    }
  });
});

describe('docs/protocol.md agrees with the close code table', () => {
  it('every CloseCode is in section 14 with its reason and client action, and every code there is named or standard', () => {
    const doc = readDoc('protocol.md');
    const rows = tableAfter(doc, '### Close codes', 'Code');
    const documented = new Map(rows.map(([code, , reason, action]) => [Number(code), { reason: reason!, action: action! }]));
    for (const [key, code] of closeEntries) {
      const row = documented.get(code);
      expect(row, `${key} ${code}`).toBeDefined();
      const layer = code < 4000 && (row!.reason === 'set by the WebSocket layer' || code === CloseCode.Normal);
      expect(layer || row!.reason.startsWith(`\`${CloseReason[code]}\``), `${key}: ${row!.reason}`).toBe(true);
      expect(row!.action.startsWith('do not reconnect'), `${key}: ${row!.action}`).toBe(!closeCodeReconnects(code));
    }
    for (const [code, row] of documented) {
      if (closeValues.includes(code)) continue;
      expect(code >= 1000 && code <= 1015, String(code)).toBe(true);
      expect(row.action.startsWith('do not reconnect'), String(code)).toBe(!closeCodeReconnects(code));
    }
  });
});
