/**
 * The Broker carries publications between nodes and keeps channel history.
 *
 * Implementations: the memory broker (`engine/memory/memory-broker.ts`: a per-node handle over
 * streams shared by the nodes of one process), the IPC broker of `tidings serve --workers` and,
 * later, a Redis broker. Every implementation passes broker.contract.ts, with one node and with two.
 */
import type { ClientInfo, JobProgress, Notification, PresenceUser, Publication, StreamPosition, UserStatusValue } from '@tidings/protocol';

/**
 * Where a publication's data, already encoded as JSON, travels with it: the broker
 * sets it on every publication it hands to `BrokerHandler.onPublication` and returns
 * from `history` when it has the JSON (it always has it for stored publications), so
 * the node writes the same text to sockets without encoding `data` again.
 * `JSON.stringify` ignores symbol keys: the property never reaches the wire.
 */
export const ENCODED_DATA: unique symbol = Symbol('tidings.encodedData');

/**
 * The connection a publication is not delivered to live (`PublishOptions.exceptClient`): set by
 * the broker on the publication it hands to `BrokerHandler.onPublication` on every node, read by
 * the hub. A symbol, like `ENCODED_DATA`: it never reaches the wire, and history never keeps it.
 */
export const EXCEPT_CLIENT: unique symbol = Symbol('tidings.exceptClient');

/** A publication that may carry its data's JSON (see `ENCODED_DATA`) and the connection it skips (see `EXCEPT_CLIENT`). */
export type EncodedPublication = Publication & { [ENCODED_DATA]?: string; [EXCEPT_CLIENT]?: string };

/**
 * What one stored publication counts against the history byte budgets: the UTF-8
 * length of its data's JSON and of its publisher info's JSON, plus a fixed
 * `PUBLICATION_OVERHEAD_BYTES` for the record that holds it (so millions of tiny
 * publications cannot hide behind a small byte count). UTF-8 length is at least what
 * the JSON text takes in memory. Every broker counts the same way.
 */
export const PUBLICATION_OVERHEAD_BYTES = 160;

export function publicationBytes(json: string, info: ClientInfo | undefined): number {
  let bytes = PUBLICATION_OVERHEAD_BYTES + Buffer.byteLength(json, 'utf8');
  if (info !== undefined) bytes += Buffer.byteLength(JSON.stringify(info), 'utf8');
  return bytes;
}

/** History settings of a channel's namespace. */
export interface HistoryOptions {
  /** Publications kept; older ones are dropped. */
  size: number;
  /** Milliseconds a publication is kept. */
  ttlMs: number;
  /**
   * A byte budget shared by every channel published with the same `name` (the
   * namespace): when its stored publications count more than `maxBytes`, the
   * oldest of them are evicted, whatever their channel.
   */
  shared?: { name: string; maxBytes: number };
}

export interface PublishOptions {
  /** Keep this publication in history and give it an offset. Absent: live delivery only. */
  history?: HistoryOptions;
  /** Publisher, when a client published. */
  info?: ClientInfo;
  /**
   * `data` encoded once by the caller (`JSON.stringify(data)`, or `"null"` for data
   * JSON cannot represent). The broker stores this text, never encodes `data` again,
   * and hands it along as `ENCODED_DATA`. Absent: the broker encodes `data` itself
   * when it stores it, and an encoding error (depth, cycle, BigInt) is thrown with
   * nothing stored.
   */
  json?: string;
  /**
   * Who is publishing, for the per-user budget: the publication is refused with
   * `HistoryBudgetError` (budget `user`) when the owner's publications held in
   * history would count more than `maxBytes` with it. Only stored publications count.
   */
  owner?: { id: string; maxBytes: number };
  /**
   * Publish at most once per `key` on this channel within `windowMs`, across all nodes: a
   * repeat (from any node) publishes nothing and resolves with the first publish's outcome
   * marked `deduplicated`. See `Broker.publish`.
   */
  idempotency?: { key: string; windowMs: number };
  /**
   * A connection id (`client`) that does not get this publication live: it travels with the
   * publication to every node (`EXCEPT_CLIENT`) and the hub skips that one subscriber. Live
   * delivery only: history keeps the publication like any other.
   */
  exceptClient?: string;
  /** The publication's event name (`task:updated`): kept in history and delivered with it. */
  event?: string;
}

/** Which budget refused a publication. */
export type HistoryBudget = 'node' | 'namespace' | 'user';

/**
 * A publication refused by a history byte budget; nothing was stored or delivered.
 * `tooLarge`: the publication alone counts more than the budget (it can never fit);
 * otherwise the budget (per user) is full until older publications leave history.
 */
export class HistoryBudgetError extends Error {
  constructor(
    readonly budget: HistoryBudget,
    readonly maxBytes: number,
    readonly bytes: number,
    readonly tooLarge: boolean,
  ) {
    super(tooLarge ? `publication of ${bytes} bytes exceeds the ${budget} history budget of ${maxBytes} bytes` : `the ${budget} history budget of ${maxBytes} bytes is full`);
    this.name = 'HistoryBudgetError';
  }
}

/** Counters of a broker's history, for metrics. Cumulative counts only grow. */
export interface HistoryStats {
  /** Bytes (as `publicationBytes` counts them) held by stored publications. */
  bytes: number;
  publications: number;
  streams: number;
  /** Publications evicted because the node's or a namespace's byte budget was full. */
  evictedByNodeBudget: number;
  evictedByNamespaceBudget: number;
  /** Streams forgotten because there were more than the broker's stream limit. */
  evictedStreams: number;
}

export interface PublishOutcome {
  /** Offset given to the publication (history on), and the stream's epoch. For a repeat: the first publish's. */
  position?: StreamPosition;
  /** True on a repeat of an idempotency key within its window: nothing was published. Absent otherwise. */
  deduplicated?: boolean;
}

/**
 * Events other than publications that travel through a channel: presence and
 * typing changes, (on internal `$status:` channels) user status changes, and (on a
 * user's personal channel) notifications, their read state and job progress, and read receipts
 * (`read`: on the user's personal channel, and with seen-by on the channel read).
 * `exceptUser` events are not delivered to that user's own connections.
 */
export type ControlEvent =
  | { type: 'join'; info: ClientInfo }
  | { type: 'leave'; info: ClientInfo }
  | { type: 'typing'; user: string; info?: Record<string, unknown>; typing: boolean; exceptUser: string }
  | { type: 'presence'; user: PresenceUser }
  | { type: 'status'; user: string; status: UserStatusValue; lastSeen?: number }
  | { type: 'notification'; notification: Notification; unread: number; unreadByType?: Record<string, number> }
  | { type: 'notification_update'; change: 'read' | 'deleted'; ids?: string[]; all?: boolean; unread: number }
  | { type: 'progress'; job: JobProgress }
  | { type: 'read'; channel: string; user: string; offset: number; at: number; exceptUser?: string };

export interface HistoryQuery {
  /**
   * Return publications with offset > since.offset. If since.epoch differs from the
   * stream's, none are returned. When some of those already left history (size, ttl,
   * a budget), the page starts at the oldest one kept: its first offset is then above
   * since.offset + 1, which is how a caller tells a gap (recovery answers `recovered: false`).
   */
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
  /**
   * A publication on a channel this node subscribed to, in the channel's order. `position`
   * ({epoch, offset}) is given for every publication stored in history (undefined for
   * live-only ones); it is how the node checks continuity: within one subscription, the next
   * stored publication of a channel has the same epoch and the offset after the last one,
   * unless a publication was lost between nodes or the stream was lost (a *delivery gap*,
   * which the node handles by telling the channel's subscribers to recover).
   */
  onPublication(channel: string, publication: Publication, position?: StreamPosition): void;
  /** A control event on a channel this node subscribed to, ordered with its publications. */
  onControl(channel: string, event: ControlEvent): void;
  /**
   * Delivery to this node was interrupted and is back (a broker whose connection to its backend
   * dropped, or whose liveness probe found delivery dead, and reconnected): called for every
   * channel this node subscribes to, with the stream's current position (`undefined`: the stream
   * no longer exists, e.g. the backend lost its data), once the subscriptions are in place again
   * and every publication up to that position that still reached this node was handed to
   * `onPublication`. Publications made while delivery was down are lost to live delivery: a
   * position ahead of the last one the node delivered, or of another epoch, is a delivery gap
   * the node handles like one `onPublication` reveals. Optional: brokers that never lose
   * deliveries (memory, IPC) never call it.
   */
  onResync?(channel: string, position: StreamPosition | undefined): void;
}

/**
 * The broker's backend did not answer: down, unreachable, or no reply within the broker's
 * command timeout. Thrown at once (nothing waits in a queue) by `publish`, `publishControl`,
 * `subscribe`, `history` and `position`. Temporary: the caller may retry. A publish that timed
 * out may still have been applied, so retries carry an idempotency key.
 */
export class BrokerUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BrokerUnavailableError';
  }
}

/**
 * Guarantees every implementation keeps (whatever node publishes: a publish on node A reaches
 * node B's handler as it reaches A's):
 * - **Ordering**: publications of one channel reach every node's handler in offset
 *   order (publish order for channels without history), each with its position.
 * - **At-most-once live delivery**: a publication reaches a node's handler once or,
 *   on a failure between nodes, not at all; history and recovery close such gaps.
 * - **No silent loss**: a lost publication of a stored channel shows either as a break in
 *   continuity (see `BrokerHandler.onPublication`) or, when delivery to the node was down and
 *   nothing followed, through `BrokerHandler.onResync` once delivery is back.
 * - **Fail fast**: when the backend does not answer, calls reject with `BrokerUnavailableError`
 *   within a bound instead of queueing.
 * - **Atomic history**: with `history`, appending to history, assigning the next
 *   offset and delivering happen as one step: no subscriber sees an offset that
 *   history does not hold, and offsets of a channel increase by exactly one.
 * - **Idempotency inside publish**: a key is checked and remembered in the same atomic step
 *   as the append (see `publish`), so retries through any node publish once.
 * - **Positions outlive history**: when publications expire by `ttlMs` or are
 *   evicted by a budget, the stream's (epoch, top offset) stays; offsets never
 *   restart within an epoch. The epoch changes only when the stream itself is lost
 *   (engine restart, the stream's metadata expired after `metaTtlMs` without
 *   publications while no node was subscribed to it, or it was among the least
 *   recently used of more streams than the broker keeps while no node was subscribed).
 * - **History is encoded before it is stored**: a stored publication is its data's
 *   JSON (`PublishOptions.json`, or encoded by the broker), so history reads return
 *   what that JSON decodes to and can never fail to encode it again. Publications
 *   whose JSON cannot be produced are refused before anything is stored.
 * - **Byte budgets** (stored publications, counted by `publicationBytes`): a node-wide
 *   budget (a broker setting) and `HistoryOptions.shared` evict the oldest stored
 *   publications first, across channels, until under budget; the publication being
 *   published is never evicted by its own publish. `PublishOptions.owner` refuses a
 *   publish that would take its owner over budget. A publication that alone counts
 *   more than any of these budgets is refused. A refusal throws `HistoryBudgetError`
 *   and stores, assigns and delivers nothing. Eviction only ever removes a channel's
 *   oldest kept publications, so a history read shows it as a gap (see `HistoryQuery.since`).
 */
export interface Broker {
  /** Registers the node's handler; called once before any subscribe. */
  setHandler(handler: BrokerHandler): void;

  /**
   * Publishes to every node subscribed to `channel` (including this one); see the guarantees
   * above. With `options.idempotency`, deduplication is part of the same atomic step as the
   * history append: the first publish of a `key` on a channel within `windowMs` publishes and
   * remembers its outcome; every repeat in the window, from any node and even while the first
   * is still in flight, publishes nothing and resolves with that outcome plus
   * `deduplicated: true`. A publish that is refused (budget, encoding) remembers nothing, so a
   * retry can succeed. The remembered keys are bounded (for the memory engine by
   * `idempotency.maxKeys` and `idempotency.maxBytes`, least recently used forgotten first): the
   * guarantee holds for the keys still held, which are at least the most recent ones.
   */
  publish(channel: string, data: unknown, options: PublishOptions): Promise<PublishOutcome>;

  /** Sends a control event to every node subscribed to `channel`, ordered with the channel's publications. Never stored. */
  publishControl(channel: string, event: ControlEvent): Promise<void>;

  /**
   * This node wants publications of `channels` (called when their first local subscriber
   * arrives; the node batches the channels of one tick into one call). Once the promise
   * resolves, every publication of those channels made afterwards reaches this node's handler.
   * Subscribing a channel already subscribed changes nothing.
   */
  subscribe(channels: string[]): Promise<void>;

  /**
   * This node no longer wants `channels` (called when their last local subscriber leaves,
   * batched like `subscribe`). Other nodes' subscriptions are not affected; unsubscribing a
   * channel not subscribed changes nothing.
   */
  unsubscribe(channels: string[]): Promise<void>;

  /** Reads history. Publications come oldest first unless `reverse`. */
  history(channel: string, query: HistoryQuery): Promise<HistoryPage>;

  /** The stream's current position; creates the stream (new epoch, offset 0) if it does not exist. */
  position(channel: string): Promise<StreamPosition>;

  /** Drops a channel's history and position (next publish starts a new epoch). */
  removeHistory(channel: string): Promise<void>;

  /** History counters for metrics (brokers that can count cheaply). */
  historyStats?(): HistoryStats;

  /** Releases this node's handle: its subscriptions end; shared streams stay for other nodes. */
  close(): Promise<void>;
}
