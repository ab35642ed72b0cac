/**
 * The Broker carries publications between nodes and keeps channel history.
 *
 * Implementations: `MemoryBroker` (one node; state lives in the process) and,
 * later, a Redis broker. Every implementation passes broker.contract.ts.
 */
import type { ClientInfo, JobProgress, Notification, PresenceUser, Publication, StreamPosition, UserStatusValue } from '@tidings/protocol';

/** History settings of a channel's namespace. */
export interface HistoryOptions {
  /** Publications kept; older ones are dropped. */
  size: number;
  /** Milliseconds a publication is kept. */
  ttlMs: number;
}

export interface PublishOptions {
  /** Keep this publication in history and give it an offset. Absent: live delivery only. */
  history?: HistoryOptions;
  /** Publisher, when a client published. */
  info?: ClientInfo;
}

export interface PublishOutcome {
  /** Offset given to the publication (history on), and the stream's epoch. */
  position?: StreamPosition;
}

/**
 * Events other than publications that travel through a channel: presence and
 * typing changes, (on internal `$status:` channels) user status changes, and (on a
 * user's personal channel) notifications, their read state and job progress.
 * `exceptUser` events are not delivered to that user's own connections.
 */
export type ControlEvent =
  | { type: 'join'; info: ClientInfo }
  | { type: 'leave'; info: ClientInfo }
  | { type: 'typing'; user: string; info?: Record<string, unknown>; typing: boolean; exceptUser: string }
  | { type: 'presence'; user: PresenceUser }
  | { type: 'status'; user: string; status: UserStatusValue; lastSeen?: number }
  | { type: 'notification'; notification: Notification; unread: number }
  | { type: 'notification_update'; change: 'read' | 'deleted'; ids?: string[]; all?: boolean; unread: number }
  | { type: 'progress'; job: JobProgress };

export interface HistoryQuery {
  /** Return publications with offset > since.offset. If since.epoch differs from the stream's, none are returned. */
  since?: StreamPosition;
  /** Maximum publications returned; 0 returns only the position. */
  limit: number;
  /** Newest first. */
  reverse?: boolean;
}

export interface HistoryPage {
  /** The stream's current position (epoch and top offset). */
  position: StreamPosition;
  publications: Publication[];
}

/** What a broker delivers to its node. */
export interface BrokerHandler {
  /** A publication on a channel this node subscribed to, in the channel's order. */
  onPublication(channel: string, publication: Publication): void;
  /** A control event on a channel this node subscribed to, ordered with its publications. */
  onControl(channel: string, event: ControlEvent): void;
}

/**
 * Guarantees every implementation keeps:
 * - **Ordering**: publications of one channel reach every node's handler in offset
 *   order (publish order for channels without history).
 * - **At-most-once live delivery**: a publication reaches a node's handler once or,
 *   on a failure between nodes, not at all; history and recovery close such gaps.
 * - **Atomic history**: with `history`, appending to history, assigning the next
 *   offset and delivering happen as one step: no subscriber sees an offset that
 *   history does not hold, and offsets of a channel increase by exactly one.
 * - **Positions outlive history**: when publications expire by `ttlMs`, the
 *   stream's (epoch, top offset) stays; offsets never restart within an epoch.
 *   The epoch changes only when the stream itself is lost (engine restart, or
 *   the stream's metadata expired after `metaTtlMs` without publications while
 *   no node was subscribed to it).
 */
export interface Broker {
  /** Registers the node's handler; called once before any subscribe. */
  setHandler(handler: BrokerHandler): void;

  /** Publishes to every node subscribed to `channel` (including this one). */
  publish(channel: string, data: unknown, options: PublishOptions): Promise<PublishOutcome>;

  /**
   * The same as `publish`, completed before returning. Only engines that deliver
   * inside the process (memory) offer it; the node uses it to skip the promise
   * machinery on its hottest path.
   */
  publishSync?(channel: string, data: unknown, options: PublishOptions): PublishOutcome;

  /** Sends a control event to every node subscribed to `channel`, ordered with the channel's publications. Never stored. */
  publishControl(channel: string, event: ControlEvent): Promise<void>;

  /** This node wants publications of `channel` (called when its first local subscriber arrives). */
  subscribe(channel: string): Promise<void>;

  /** This node no longer wants `channel` (called when its last local subscriber leaves). */
  unsubscribe(channel: string): Promise<void>;

  /** Reads history. Publications come oldest first unless `reverse`. */
  history(channel: string, query: HistoryQuery): Promise<HistoryPage>;

  /** The stream's current position; creates the stream (new epoch, offset 0) if it does not exist. */
  position(channel: string): Promise<StreamPosition>;

  /** Drops a channel's history and position (next publish starts a new epoch). */
  removeHistory(channel: string): Promise<void>;

  /** Stops timers and connections. */
  close(): Promise<void>;
}
