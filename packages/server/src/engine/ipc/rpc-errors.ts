/**
 * Errors across a link: sent as their name, message and own data fields, and rebuilt on the
 * other side as the class callers test with `instanceof` (`HistoryBudgetError`,
 * `BusRequestError`, `TidingsError`, `BadCursorError`, `LinkClosedError`). Any other error
 * arrives as a plain `Error` with the same name, message and string `code`.
 */
import { TidingsError } from '../../errors.js';
import { BadCursorError } from '../../store/notification-store.js';
import { HistoryBudgetError, type HistoryBudget } from '../broker.js';
import { BusRequestError } from '../node-bus.js';
import { LinkClosedError } from './link.js';

export interface WireError {
  name: string;
  message: string;
  /** The error's own enumerable fields that are JSON primitives (code, budget, bytes, ...). */
  fields?: Record<string, string | number | boolean>;
}

export function toWireError(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const fields: Record<string, string | number | boolean> = {};
  let any = false;
  for (const [key, value] of Object.entries(err)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      fields[key] = value;
      any = true;
    }
  }
  return any ? { name: err.name, message: err.message, fields } : { name: err.name, message: err.message };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function fromWireError(wire: WireError): Error {
  const f = wire.fields ?? {};
  switch (wire.name) {
    case 'HistoryBudgetError':
      return new HistoryBudgetError(f.budget as HistoryBudget, Number(f.maxBytes), Number(f.bytes), f.tooLarge === true);
    case 'BusRequestError':
      return new BusRequestError(wire.message, (str(f.code) ?? 'remote') as BusRequestError['code'], str(f.remoteCode));
    case 'TidingsError':
      return new TidingsError(str(f.code) ?? 'internal', wire.message, { temporary: f.temporary === true });
    case 'BadCursorError':
      return Object.assign(new BadCursorError(''), { message: wire.message });
    case 'LinkClosedError':
      return new LinkClosedError(wire.message);
  }
  const err = new Error(wire.message);
  err.name = wire.name;
  const code = str(f.code);
  if (code !== undefined) Object.assign(err, { code });
  return err;
}
