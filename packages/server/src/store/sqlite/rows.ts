/** Small helpers shared by the SQLite stores: JSON columns, cursors, retention. */
import { BadCursorError } from '../notification-store.js';

/** JSON text of a value for a nullable column (undefined → NULL). */
export function toJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

export function fromJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

/** Cursors are the row sequence number of the last item of a page, as decimal text. */
export function parseCursor(cursor: string | undefined): number {
  if (cursor === undefined) return Number.MAX_SAFE_INTEGER;
  if (!/^[1-9][0-9]{0,15}$/.test(cursor)) throw new BadCursorError(cursor);
  const seq = Number(cursor);
  if (!Number.isSafeInteger(seq)) throw new BadCursorError(cursor);
  return seq;
}

/** Pages are read with one row more than asked for: that row only tells there is a next page. */
export function page<R extends { seq: number }, T>(rows: R[], limit: number, map: (row: R) => T): { items: T[]; nextCursor?: string } {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const items = kept.map(map);
  return more && kept.length > 0 ? { items, nextCursor: String(kept[kept.length - 1]!.seq) } : { items };
}
