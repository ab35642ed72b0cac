/** ReadReceiptsStore on PostgreSQL (`tidings_read_receipts`): the semantics of the SQLite store. */
import type { MarkOutcome, ReadReceiptsStore, StoredReceipt } from '../read-receipts-store.js';
import type { PostgresDatabase } from './database.js';

/** BIGINT columns come as decimal strings. */
interface ReceiptRow {
  channel: string;
  user_id: string;
  epoch: string;
  read_offset: string;
  at: string;
}

const COLUMNS = 'channel, user_id, epoch, read_offset, at';
const toReceipt = (row: ReceiptRow): StoredReceipt => ({ channel: row.channel, user: row.user_id, epoch: row.epoch, offset: Number(row.read_offset), at: Number(row.at) });

export class PgReadReceiptsStore implements ReadReceiptsStore {
  constructor(private readonly db: PostgresDatabase) {}

  mark(user: string, channel: string, epoch: string, offset: number, now: number): Promise<MarkOutcome> {
    return this.db.transaction(async (client) => {
      // The conflicting row is locked whether or not it moves, so the SELECT below reads the receipt as it stands.
      const moved = await client.query<{ read_offset: string; at: string }>(
        `INSERT INTO tidings_read_receipts (channel, user_id, epoch, read_offset, at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (channel, user_id) DO UPDATE SET epoch = excluded.epoch, read_offset = excluded.read_offset, at = excluded.at
         WHERE tidings_read_receipts.epoch <> excluded.epoch OR excluded.read_offset > tidings_read_receipts.read_offset
         RETURNING read_offset, at`,
        [channel, user, epoch, offset, now],
      );
      const row = moved.rows[0];
      if (row) return { offset: Number(row.read_offset), at: Number(row.at), moved: true };
      const current = await client.query<ReceiptRow>(`SELECT ${COLUMNS} FROM tidings_read_receipts WHERE channel = $1 AND user_id = $2`, [channel, user]);
      const r = current.rows[0]!;
      return { offset: Number(r.read_offset), at: Number(r.at), moved: false };
    });
  }

  async get(user: string, channels: string[]): Promise<StoredReceipt[]> {
    if (channels.length === 0) return [];
    const rows = await this.db.query<ReceiptRow>(`SELECT ${COLUMNS} FROM tidings_read_receipts WHERE user_id = $1 AND channel = ANY($2::text[])`, [user, [...new Set(channels)]]);
    return rows.map(toReceipt);
  }

  async list(channel: string, epoch: string, limit: number): Promise<StoredReceipt[]> {
    // COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
    const rows = await this.db.query<ReceiptRow>(
      `SELECT ${COLUMNS} FROM tidings_read_receipts WHERE channel = $1 AND epoch = $2 ORDER BY read_offset DESC, at DESC, user_id COLLATE "C" LIMIT $3`,
      [channel, epoch, limit],
    );
    return rows.map(toReceipt);
  }
}
