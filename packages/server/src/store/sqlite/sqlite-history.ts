/**
 * The memory engine's history kept in the node's SQLite database (`history.store: sqlite`):
 * each channel's epoch and top offset (`history_streams`) and its stored publications
 * (`history_items`), loaded when the engine starts so that clients recover across a restart.
 *
 * Write-behind: the engine tells every change synchronously (engine/memory/history-persistence.ts)
 * and this queues it; the changes of `flushIntervalMs` (10 ms) are written as one write of the
 * database's group commit (one transaction, one fsync, shared with the other stores' writes of that
 * turn): committing every event-loop turn cost more than half of fan-out throughput with one publication
 * per turn (bench/RESULTS.md). Within a batch, a channel's stream row is written once (its last
 * state). Rows are appended in publish order and deleted by their `seq`, which this class keeps per
 * channel (`kept`): no index by (channel, offset) to update, whose leaf pages, one per channel a batch
 * touches, were most of what a batch wrote to the WAL (and of its cost) on small fan-outs; the deleted
 * rows of a batch are mostly consecutive, so they go as a few seq ranges. A publish is acknowledged before its batch commits:
 * a graceful shutdown commits everything queued and marks the history complete (`close()` before
 * the database closes). A kill -9 or a power cut loses at most the publications of the last ~10 ms;
 * the next start, finding no mark, loads what was committed under a new epoch per stream, because
 * the next publications would reuse the lost ones' offsets: clients get recovered: false (as without
 * this store) rather than a silent gap.
 */
import { randomBytes } from 'node:crypto';
import type { ClientInfo } from '@tidings/protocol';
import type { HistoryPersistence, PersistedPublication, PersistedStream } from '../../engine/memory/history-persistence.js';
import type { SqliteDatabase } from './database.js';

type Shared = { name: string; maxBytes: number } | undefined;

type Change =
  | { kind: 'created'; channel: string; epoch: string; at: number }
  | { kind: 'appended'; publication: PersistedPublication; epoch: string; at: number; shared: Shared }
  | { kind: 'trimmed'; channel: string; offset: number }
  | { kind: 'forgotten'; channel: string }
  | { kind: 'clean' };

/** A channel's stored rows, oldest first: their offsets and their `seq`s. */
interface KeptRows {
  offsets: number[];
  seqs: number[];
}

interface StreamRow {
  epoch: string;
  top: number;
  at: number;
  shared: Shared;
}

export class SqliteHistory implements HistoryPersistence {
  private changes: Change[] = [];
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failed = false;
  /** A batch failed after `kept` changed (it was rolled back): read `kept` again before the next one. */
  private resync = false;
  private readonly upsertStream;
  private readonly insertItem;
  private readonly deleteRows;
  private readonly deleteStream;
  private readonly markClean;
  /** Per channel, its rows in the database (as of the last batch written). */
  private readonly kept = new Map<string, KeptRows>();

  /**
   * `onError`: a batch that could not be written (the disk is full). `flushIntervalMs`: changes
   * wait this long to be written together (one fsync for all of them), default 10 ms.
   */
  constructor(
    private readonly database: SqliteDatabase,
    private readonly onError: (error: Error) => void,
    private readonly flushIntervalMs = 10,
  ) {
    const db = database.db;
    this.upsertStream = db.prepare(
      `INSERT INTO history_streams (channel, epoch, top, touched_at, pool, pool_max) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (channel) DO UPDATE SET epoch = excluded.epoch, top = excluded.top, touched_at = excluded.touched_at, pool = excluded.pool, pool_max = excluded.pool_max`,
    );
    this.insertItem = db.prepare('INSERT INTO history_items (channel, pos, json, info, event, expires_at) VALUES (?, ?, ?, ?, ?, ?)');
    this.deleteRows = db.prepare('DELETE FROM history_items WHERE seq BETWEEN ? AND ?');
    this.deleteStream = db.prepare('DELETE FROM history_streams WHERE channel = ?');
    this.markClean = db.prepare("INSERT OR REPLACE INTO history_meta (key, value) VALUES ('clean', '1')");
  }

  /**
   * After a graceful stop, the streams as they were. After a crash, the stored publications with
   * a new epoch for every stream: publications acknowledged in the last ~10 ms may be lost, and the
   * next ones would reuse their offsets, so a client that saw a lost one must not recover "with no
   * gap" from the same epoch (it gets recovered: false, as after a restart without this store).
   */
  load(): { streams: PersistedStream[]; publications: PersistedPublication[] } {
    const db = this.database.db;
    const clean = db.prepare("SELECT value FROM history_meta WHERE key = 'clean'").get() !== undefined;
    // From now until the next graceful stop, a crash must be noticed.
    db.prepare("DELETE FROM history_meta WHERE key = 'clean'").run();
    if (!clean) {
      const rekey = db.prepare('UPDATE history_streams SET epoch = ? WHERE channel = ?');
      db.transaction(() => {
        for (const { channel } of db.prepare('SELECT channel FROM history_streams').all() as { channel: string }[]) rekey.run(randomBytes(6).toString('base64url'), channel);
      })();
    }
    const streamRows = db.prepare('SELECT channel, epoch, top, touched_at, pool, pool_max FROM history_streams ORDER BY touched_at').all() as Array<{
      channel: string;
      epoch: string;
      top: number;
      touched_at: number;
      pool: string | null;
      pool_max: number | null;
    }>;
    const streams = streamRows.map((r) => ({
      channel: r.channel,
      epoch: r.epoch,
      top: r.top,
      touchedAt: r.touched_at,
      shared: r.pool !== null && r.pool_max !== null ? { name: r.pool, maxBytes: r.pool_max } : undefined,
    }));
    const items = db.prepare('SELECT seq, channel, pos, json, info, event, expires_at FROM history_items ORDER BY seq').all() as Array<{
      seq: number;
      channel: string;
      pos: number;
      json: string;
      info: string | null;
      event: string | null;
      expires_at: number;
    }>;
    // Rows no stream can hold (its stream row is gone, or past its top after a lost write) go now;
    // the others are kept per channel, so that the streams' trims and re-creations delete them by seq.
    const tops = new Map(streams.map((s) => [s.channel, s.top]));
    const orphans: number[] = [];
    const loaded = items.filter((r) => {
      const top = tops.get(r.channel);
      if (top === undefined || r.pos > top) {
        orphans.push(r.seq);
        return false;
      }
      this.keep(r.channel, r.pos, r.seq);
      return true;
    });
    if (orphans.length > 0) db.transaction(() => this.deleteSeqs(orphans))();
    const publications = loaded.map((r) => ({
      channel: r.channel,
      offset: r.pos,
      json: r.json,
      info: r.info === null ? undefined : (JSON.parse(r.info) as ClientInfo),
      ...(r.event !== null ? { event: r.event } : {}),
      expiresAt: r.expires_at,
    }));
    return { streams, publications };
  }

  created(channel: string, epoch: string, touchedAt: number): void {
    this.queue({ kind: 'created', channel, epoch, at: touchedAt });
  }

  appended(publication: PersistedPublication, epoch: string, touchedAt: number, shared: Shared): void {
    this.queue({ kind: 'appended', publication, epoch, at: touchedAt, shared });
  }

  trimmed(channel: string, offset: number): void {
    this.queue({ kind: 'trimmed', channel, offset });
  }

  forgotten(channel: string): void {
    this.queue({ kind: 'forgotten', channel });
  }

  /** Changes waiting for the next commit (tests). */
  get pending(): number {
    return this.changes.length;
  }

  /**
   * The node stops gracefully: what is queued, and the mark that this history is complete, go to the
   * group commit now (before the database closes). Later changes are not written.
   */
  close(): void {
    if (this.stopped) return;
    // A batch that failed lost changes: the history is not complete, the next start must not trust it.
    if (!this.failed) this.queue({ kind: 'clean' });
    this.stopped = true;
    clearTimeout(this.timer);
    this.submit();
  }

  private queue(change: Change): void {
    if (this.stopped) return;
    this.changes.push(change);
    if (this.scheduled) return;
    this.scheduled = true;
    this.timer = setTimeout(() => this.submit(), this.flushIntervalMs);
    this.timer.unref();
  }

  private submit(): void {
    this.timer = undefined;
    // The batch is taken when the group commit runs it (its next turn): every change until then is in it.
    let ran = false;
    const write = () => {
      ran = true;
      this.write();
    };
    this.database.committer.run(write).catch((err: unknown) => {
      // Refused without running: the database closed (the node is stopping; it committed what was
      // queued before), later changes have nowhere to go.
      if (!ran) {
        this.stopped = true;
        this.changes = [];
        return;
      }
      this.failed = true;
      this.resync = true;
      this.onError(err instanceof Error ? err : new Error(String(err)));
    });
  }

  /** Inside the group commit's transaction: the queued changes, in order, coalesced per channel. */
  private write(): void {
    const changes = this.changes;
    this.changes = [];
    this.scheduled = false;
    if (this.resync) this.readKept();
    const rows = new Map<string, StreamRow>();
    const doomed: number[] = [];
    for (const c of changes) {
      switch (c.kind) {
        case 'created':
          rows.delete(c.channel);
          this.drop(c.channel, Infinity, doomed);
          this.upsertStream.run(c.channel, c.epoch, 0, c.at, null, null);
          break;
        case 'appended': {
          const p = c.publication;
          const { lastInsertRowid } = this.insertItem.run(p.channel, p.offset, p.json, p.info === undefined ? null : JSON.stringify(p.info), p.event ?? null, p.expiresAt);
          this.keep(p.channel, p.offset, Number(lastInsertRowid));
          rows.set(p.channel, { epoch: c.epoch, top: p.offset, at: c.at, shared: c.shared });
          break;
        }
        case 'trimmed':
          this.drop(c.channel, c.offset, doomed);
          break;
        case 'forgotten':
          rows.delete(c.channel);
          this.drop(c.channel, Infinity, doomed);
          this.deleteStream.run(c.channel);
          break;
        case 'clean':
          this.markClean.run();
          break;
      }
    }
    for (const [channel, r] of rows) this.upsertStream.run(channel, r.epoch, r.top, r.at, r.shared?.name ?? null, r.shared?.maxBytes ?? null);
    if (doomed.length > 0) this.deleteSeqs(doomed);
  }

  /** `kept` as the database has it (after a failed batch; rows a trim missed go with the channel's next trim). */
  private readKept(): void {
    this.kept.clear();
    for (const r of this.database.db.prepare('SELECT seq, channel, pos FROM history_items ORDER BY seq').all() as Array<{ seq: number; channel: string; pos: number }>) {
      this.keep(r.channel, r.pos, r.seq);
    }
    this.resync = false;
  }

  /** A row of `channel` (offset, seq) was stored. */
  private keep(channel: string, offset: number, seq: number): void {
    let kept = this.kept.get(channel);
    if (!kept) this.kept.set(channel, (kept = { offsets: [], seqs: [] }));
    kept.offsets.push(offset);
    kept.seqs.push(seq);
  }

  /** The channel's rows up to `offset` (its oldest first; Infinity: all) go: their seqs into `doomed`. */
  private drop(channel: string, offset: number, doomed: number[]): void {
    const kept = this.kept.get(channel);
    if (!kept) return;
    if (offset === Infinity || kept.offsets[kept.offsets.length - 1]! <= offset) {
      for (const seq of kept.seqs) doomed.push(seq);
      this.kept.delete(channel);
      return;
    }
    let n = 0;
    while (n < kept.offsets.length && kept.offsets[n]! <= offset) doomed.push(kept.seqs[n++]!);
    if (n > 0) {
      kept.offsets.splice(0, n);
      kept.seqs.splice(0, n);
    }
  }

  /** Deletes the rows of `seqs` (sorted here), one statement per run of consecutive seqs. */
  private deleteSeqs(seqs: number[]): void {
    seqs.sort((a, b) => a - b);
    let from = seqs[0]!;
    let to = from;
    for (let i = 1; i < seqs.length; i++) {
      const seq = seqs[i]!;
      if (seq === to + 1) to = seq;
      else if (seq !== to) {
        this.deleteRows.run(from, to);
        from = to = seq;
      }
    }
    this.deleteRows.run(from, to);
  }
}
