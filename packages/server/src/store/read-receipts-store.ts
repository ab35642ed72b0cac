/**
 * Users' read receipts per channel ("read up to offset"): the `read` command and `POST /read` move
 * one, `read_receipts` (seen-by) lists a channel's, `unread` reads a user's (docs/messaging.md).
 *
 * A receipt belongs to the channel's epoch it was set in: offsets of another epoch mean nothing,
 * so a mark in a new epoch replaces the receipt of an old one, and `list` returns only the
 * epoch asked for.
 *
 * Implementations: `SqliteReadReceiptsStore`, `PgReadReceiptsStore`, and the IPC proxy of
 * `--workers` (engine/ipc/ipc-stores.ts). Every implementation passes read-receipts.contract.ts.
 *
 * Guarantees: `mark` is durable once it resolves (a restarted node reads it back) and atomic per
 * (user, channel): of concurrent marks in one epoch the highest offset wins and a receipt never
 * moves back; `at` changes only when the receipt moved.
 */

/** One user's receipt in a channel, with the epoch its offset belongs to. */
export interface StoredReceipt {
  channel: string;
  user: string;
  epoch: string;
  offset: number;
  /** When it last moved, ms since the epoch. */
  at: number;
}

/** What a `mark` left: the receipt now, and whether this mark moved it (or set it in a new epoch). */
export interface MarkOutcome {
  offset: number;
  at: number;
  moved: boolean;
}

export interface ReadReceiptsStore {
  /**
   * Sets the user's receipt in `channel` to `max(old, offset)` when the old one is of `epoch`;
   * to `offset` when there was none or it was of another epoch.
   */
  mark(user: string, channel: string, epoch: string, offset: number, now: number): Promise<MarkOutcome>;
  /** The user's receipts in these channels (whatever their epoch), in no particular order; none for a channel without one. */
  get(user: string, channels: string[]): Promise<StoredReceipt[]>;
  /** The channel's receipts of `epoch`, highest offset first (then the most recent first, then by user), at most `limit`. */
  list(channel: string, epoch: string, limit: number): Promise<StoredReceipt[]>;
}
