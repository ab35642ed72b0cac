/** UserChannelsStore on PostgreSQL (`tidings_user_channels`): the semantics of the SQLite store. */
import type { UserChannelsStore } from '../user-channels-store.js';
import type { PostgresDatabase } from './database.js';

export class PgUserChannelsStore implements UserChannelsStore {
  constructor(private readonly db: PostgresDatabase) {}

  async add(user: string, channel: string, now: number): Promise<boolean> {
    const rows = await this.db.transaction(async (client) => {
      const result = await client.query('INSERT INTO tidings_user_channels (user_id, channel, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING channel', [user, channel, now]);
      return result.rows;
    });
    return rows.length > 0;
  }

  async remove(user: string, channel: string): Promise<boolean> {
    const rows = await this.db.transaction(async (client) => {
      const result = await client.query('DELETE FROM tidings_user_channels WHERE user_id = $1 AND channel = $2 RETURNING channel', [user, channel]);
      return result.rows;
    });
    return rows.length > 0;
  }

  async list(user: string): Promise<string[]> {
    // COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
    const rows = await this.db.query<{ channel: string }>('SELECT channel FROM tidings_user_channels WHERE user_id = $1 ORDER BY channel COLLATE "C"', [user]);
    return rows.map((row) => row.channel);
  }

  async any(): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM tidings_user_channels LIMIT 1', [])).length > 0;
  }
}
