/**
 * What the memory engine's streams tell a durable copy of their history (`history.store: sqlite`),
 * and read back from it when they start: each channel's epoch, top offset and stored publications.
 *
 * The memory engine stays the fast path: `MemoryStreams` calls these synchronously as its state
 * changes (a stream created, a publication appended, its oldest publications dropped, a stream
 * forgotten) and the implementation queues them for its own write-behind (store/sqlite/
 * sqlite-history.ts: one batch per event-loop turn, in the database's group commit). engine/
 * imports no store: node.ts hands an implementation to the memory engine it builds.
 */
import type { ClientInfo } from '@tidings/protocol';

/** A stream as stored: `shared`, the namespace byte budget its last publication counted against. */
export interface PersistedStream {
  channel: string;
  epoch: string;
  top: number;
  touchedAt: number;
  shared: { name: string; maxBytes: number } | undefined;
}

/** A stored publication (its data as JSON, as history holds it). */
export interface PersistedPublication {
  channel: string;
  offset: number;
  json: string;
  info: ClientInfo | undefined;
  /** The publication's event name, when it has one. */
  event?: string | undefined;
  expiresAt: number;
}

export interface HistoryPersistence {
  /** Every stored stream, and every stored publication in publish order (oldest first, across channels). */
  load(): { streams: PersistedStream[]; publications: PersistedPublication[] };
  /** A stream began (a new epoch, top 0): whatever was stored for the channel is replaced. */
  created(channel: string, epoch: string, touchedAt: number): void;
  /** A publication was appended to the stream of `epoch` (its offset is the stream's new top). */
  appended(publication: PersistedPublication, epoch: string, touchedAt: number, shared: { name: string; maxBytes: number } | undefined): void;
  /** The channel's publications up to `offset` left history (size, age, a byte budget): a stream loses its oldest first. */
  trimmed(channel: string, offset: number): void;
  /** The stream was forgotten (expired, evicted, removed). */
  forgotten(channel: string): void;
}
