/** UserChannelsStore on the embedded SQLite database (the `user_channels` table). */
import type { UserChannelsStore } from '../user-channels-store.js';
import type { SqliteDatabase } from './database.js';

export class SqliteUserChannelsStore implements UserChannelsStore {
  private readonly insert;
  private readonly delete;
  private readonly listStmt;
  private readonly anyStmt;

  constructor(private readonly database: SqliteDatabase) {
    const db = database.db;
    this.insert = db.prepare(`INSERT INTO user_channels (user, channel, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`);
    this.delete = db.prepare(`DELETE FROM user_channels WHERE user = ? AND channel = ?`);
    this.listStmt = db.prepare<unknown[], { channel: string }>(`SELECT channel FROM user_channels WHERE user = ? ORDER BY channel`);
    this.anyStmt = db.prepare(`SELECT 1 FROM user_channels LIMIT 1`).pluck();
  }

  add(user: string, channel: string, now: number): Promise<boolean> {
    return this.database.committer.run(() => this.insert.run(user, channel, now).changes > 0);
  }

  remove(user: string, channel: string): Promise<boolean> {
    return this.database.committer.run(() => this.delete.run(user, channel).changes > 0);
  }

  async list(user: string): Promise<string[]> {
    return this.listStmt.all(user).map((row) => row.channel);
  }

  async any(): Promise<boolean> {
    return this.anyStmt.get() !== undefined;
  }
}
