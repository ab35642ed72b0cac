/** ReadReceiptsStore on the embedded SQLite database (the `read_receipts` table). */
import type { MarkOutcome, ReadReceiptsStore, StoredReceipt } from '../read-receipts-store.js';
import type { SqliteDatabase } from './database.js';

interface ReceiptRow {
  channel: string;
  user: string;
  epoch: string;
  read_offset: number;
  at: number;
}

const toReceipt = (row: ReceiptRow): StoredReceipt => ({ channel: row.channel, user: row.user, epoch: row.epoch, offset: row.read_offset, at: row.at });

/** At most this many channels per `get` query (SQLite's bound parameters); more are read in several. */
const CHANNELS_PER_QUERY = 200;

export class SqliteReadReceiptsStore implements ReadReceiptsStore {
  private readonly upsert;
  private readonly one;
  private readonly listStmt;

  constructor(private readonly database: SqliteDatabase) {
    const db = database.db;
    // Moves the receipt forward in its epoch, or replaces one of another epoch; RETURNING gives nothing when it did not move.
    this.upsert = db.prepare<unknown[], { read_offset: number; at: number }>(
      `INSERT INTO read_receipts (channel, user, epoch, read_offset, at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (channel, user) DO UPDATE SET epoch = excluded.epoch, read_offset = excluded.read_offset, at = excluded.at
       WHERE read_receipts.epoch <> excluded.epoch OR excluded.read_offset > read_receipts.read_offset
       RETURNING read_offset, at`,
    );
    this.one = db.prepare<unknown[], ReceiptRow>(`SELECT channel, user, epoch, read_offset, at FROM read_receipts WHERE channel = ? AND user = ?`);
    this.listStmt = db.prepare<unknown[], ReceiptRow>(
      `SELECT channel, user, epoch, read_offset, at FROM read_receipts WHERE channel = ? AND epoch = ? ORDER BY read_offset DESC, at DESC, user LIMIT ?`,
    );
  }

  mark(user: string, channel: string, epoch: string, offset: number, now: number): Promise<MarkOutcome> {
    return this.database.committer.run(() => {
      const moved = this.upsert.get(channel, user, epoch, offset, now);
      if (moved) return { offset: moved.read_offset, at: moved.at, moved: true };
      const row = this.one.get(channel, user)!;
      return { offset: row.read_offset, at: row.at, moved: false };
    });
  }

  async get(user: string, channels: string[]): Promise<StoredReceipt[]> {
    const unique = [...new Set(channels)];
    const out: StoredReceipt[] = [];
    for (let i = 0; i < unique.length; i += CHANNELS_PER_QUERY) {
      const part = unique.slice(i, i + CHANNELS_PER_QUERY);
      const rows = this.database.db
        .prepare<unknown[], ReceiptRow>(`SELECT channel, user, epoch, read_offset, at FROM read_receipts WHERE user = ? AND channel IN (${part.map(() => '?').join(', ')})`)
        .all(user, ...part);
      out.push(...rows.map(toReceipt));
    }
    return out;
  }

  async list(channel: string, epoch: string, limit: number): Promise<StoredReceipt[]> {
    return this.listStmt.all(channel, epoch, limit).map(toReceipt);
  }
}
