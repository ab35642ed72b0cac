/**
 * The memory engine's channel streams, shared by every node of one process: history and
 * positions, the byte budgets, the idempotency keys of publishes, which nodes subscribe to
 * which channel, and the sweep of expired publications and streams.
 *
 * Each node reaches it through its own `MemoryBroker` handle (its subscriptions and handler);
 * a publish through any handle is one synchronous step here (idempotency check, history
 * append, delivery to every subscribed node in order), which is how the memory engine keeps
 * the Broker guarantees across nodes. The state lives in the process and is lost on restart,
 * which is why every stream gets a fresh random epoch: a client recovering across a restart
 * learns `recovered: false` instead of a silent gap. With a `persistence` (`history.store:
 * sqlite`) the streams tell it every change and load from it at start: same epochs after a graceful
 * restart. History holds each publication's JSON,
 * not its data object: reads decode it.
 */
import { randomBytes } from 'node:crypto';
import type { Publication, StreamPosition } from '@tidings/protocol';
import {
  ENCODED_DATA,
  EXCEPT_CLIENT,
  publicationBytes,
  type ControlEvent,
  type EncodedPublication,
  type HistoryPage,
  type HistoryQuery,
  type HistoryOptions,
  type HistoryStats,
  type PublishOptions,
  type PublishOutcome,
} from '../broker.js';
import { HistoryBudget, type StoredItem } from './history-budget.js';
import type { HistoryPersistence } from './history-persistence.js';
import { MemoryIdempotency, type MemoryIdempotencyOptions } from './memory-idempotency.js';

export interface MemoryStreamsOptions {
  /** A stream without publications for this long is forgotten (its next publish starts a new epoch). */
  metaTtlMs: number;
  /** Byte budget of all stored publications (`publicationBytes`); the oldest are evicted beyond it. 0 or absent: none. */
  maxBytes?: number;
  /**
   * Streams (epoch and top offset of a channel, with its history) kept at most.
   * Beyond it, streams no node subscribes to are forgotten: first those that
   * never held a publication (oldest first), then the least recently used. 0 or absent: no limit.
   */
  maxStreams?: number;
  /** How often expired streams are swept. */
  sweepIntervalMs?: number;
  /** Bounds of the idempotency keys publishes remember (`idempotency.maxKeys`, `idempotency.maxBytes`). */
  idempotency?: MemoryIdempotencyOptions;
  /**
   * A durable copy of history (`history.store: sqlite`): the streams are loaded from it when they
   * start (same epochs, offsets continue) and tell it every change, write-behind.
   */
  persistence?: HistoryPersistence | undefined;
  /** Clock, for tests. */
  now?: () => number;
}

/** A node's receiving end (its `MemoryBroker` handle). */
export interface StreamSubscriber {
  deliver(channel: string, publication: Publication, position: StreamPosition | undefined): void;
  deliverControl(channel: string, event: ControlEvent): void;
}

interface Stream {
  epoch: string;
  top: number;
  /** Oldest first; at most the namespace's history size. */
  items: StoredItem[];
  /** Time of the last publication (or creation): `metaTtlMs` counts from it. */
  touchedAt: number;
  /** When the stream last moved to the recent end of the LRU order. */
  usedAt: number;
}

/** A stream used again moves to the recent end of the LRU order at most this often (saves a Map re-insert per publish). */
const LRU_RESOLUTION_MS = 1000;
/** Streams looked at per stream-eviction pass, so many subscribed streams cost a bounded scan. */
const EVICTION_SCAN = 1000;

/** Loaded publications count against no user's budget (it is not stored). */
const NO_OWNER: PublishOptions = {};

function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

export class MemoryStreams {
  /** Insertion order is (to the second) least recently used first. */
  private readonly streams = new Map<string, Stream>();
  /** Streams that never held a publication in their epoch, oldest first. */
  private readonly emptyStreams = new Set<string>();
  /** Per channel, the nodes subscribed to it (an entry only while there is one). */
  private readonly subscribers = new Map<string, Set<StreamSubscriber>>();
  private readonly budget: HistoryBudget;
  /** Per (channel, key): the outcome of the first publish, already marked `deduplicated`. */
  private readonly idempotency: MemoryIdempotency<PublishOutcome>;
  private readonly maxStreams: number;
  private evictedStreams = 0;
  private readonly now: () => number;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly persistence: HistoryPersistence | undefined;
  /** With `persistence`: each stream's items array → its channel (an item leaving history names its channel). */
  private readonly channelOf = new WeakMap<StoredItem[], string>();

  constructor(private readonly options: MemoryStreamsOptions) {
    this.now = options.now ?? Date.now;
    const persistence = (this.persistence = options.persistence);
    this.budget = new HistoryBudget(options.maxBytes ?? 0, persistence ? (item) => this.released(item) : undefined);
    this.idempotency = new MemoryIdempotency(options.idempotency);
    this.maxStreams = options.maxStreams ?? 0;
    this.sweepTimer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000);
    this.sweepTimer.unref();
    if (persistence) this.restore(persistence);
  }

  // ------------------------------------------------------------ subscriptions

  subscribe(channel: string, node: StreamSubscriber): void {
    let set = this.subscribers.get(channel);
    if (!set) {
      set = new Set();
      this.subscribers.set(channel, set);
    }
    set.add(node);
  }

  unsubscribe(channel: string, node: StreamSubscriber): void {
    const set = this.subscribers.get(channel);
    if (set && set.delete(node) && set.size === 0) this.subscribers.delete(channel);
  }

  // ------------------------------------------------------------ publishing

  /**
   * One synchronous step: the idempotency check, the history append (offset, budgets) and the
   * delivery to every subscribed node, in that order. Throws (storing, remembering and
   * delivering nothing) when the data cannot be encoded or a budget refuses it.
   */
  publish(channel: string, data: unknown, options: PublishOptions): PublishOutcome {
    const once = options.idempotency;
    let onceKey: string | undefined;
    if (once !== undefined) {
      onceKey = JSON.stringify([channel, once.key]);
      const first = this.idempotency.get(onceKey);
      if (first !== undefined) return first;
    }
    const info = options.info;
    const history = options.history;
    let json = options.json;
    let pub: EncodedPublication;
    let outcome: PublishOutcome;
    let position: StreamPosition | undefined;
    if (history && history.size > 0) {
      const now = this.now();
      // Encoded before anything is stored: a value JSON cannot encode throws here, nothing kept.
      if (json === undefined) json = JSON.stringify(data) ?? 'null';
      const bytes = publicationBytes(json, info);
      this.budget.check(bytes, history, options);
      const stream = this.stream(channel, now);
      const offset = ++stream.top;
      stream.touchedAt = now;
      if (offset === 1) this.emptyStreams.delete(channel);
      const item: StoredItem = { offset, json, info, expiresAt: now + history.ttlMs, bytes, streamItems: stream.items, pool: undefined, owner: undefined, gone: false };
      if (options.event !== undefined) item.event = options.event;
      stream.items.push(item);
      this.persistence?.appended({ channel, offset, json, info, event: item.event, expiresAt: item.expiresAt }, stream.epoch, now, history.shared);
      while (stream.items.length > history.size) this.budget.release(stream.items.shift()!);
      this.budget.add(item, history, options);
      pub = info ? { data, info, offset } : { data, offset };
      position = { epoch: stream.epoch, offset };
      outcome = { position };
    } else {
      pub = info ? { data, info } : { data };
      outcome = {};
    }
    if (onceKey !== undefined) this.idempotency.set(onceKey, position ? { position, deduplicated: true } : { deduplicated: true }, once!.windowMs);
    if (json !== undefined) pub[ENCODED_DATA] = json;
    if (options.event !== undefined) pub.event = options.event;
    if (options.exceptClient !== undefined) pub[EXCEPT_CLIENT] = options.exceptClient;
    const set = this.subscribers.get(channel);
    if (set) for (const node of set) node.deliver(channel, pub, position);
    return outcome;
  }

  /** A control event to every node subscribed to the channel, in order with its publications. */
  publishControl(channel: string, event: ControlEvent): void {
    const set = this.subscribers.get(channel);
    if (set) for (const node of set) node.deliverControl(channel, event);
  }

  // ------------------------------------------------------------ reading

  history(channel: string, query: HistoryQuery): HistoryPage {
    const now = this.now();
    const stream = this.stream(channel, now);
    this.dropExpired(stream, now);
    const position = { epoch: stream.epoch, offset: stream.top };
    if (query.limit <= 0) return { position, publications: [] };
    let items = stream.items;
    if (query.since) {
      if (query.since.epoch !== stream.epoch) return { position, publications: [] };
      const after = query.since.offset;
      // Offsets in `items` are consecutive, so the start index is arithmetic. When
      // `after` is older than the first kept item, the page starts at that item: the
      // caller sees the gap in its first offset (recovery answers recovered: false).
      const first = items.length > 0 ? items[0]!.offset : stream.top + 1;
      items = items.slice(Math.max(0, after + 1 - first));
    }
    const selected = query.reverse ? items.slice(-query.limit).reverse() : items.slice(0, query.limit);
    return { position, publications: selected.map(decode) };
  }

  position(channel: string): StreamPosition {
    const stream = this.stream(channel, this.now());
    return { epoch: stream.epoch, offset: stream.top };
  }

  removeHistory(channel: string): void {
    const stream = this.streams.get(channel);
    if (stream) this.forget(channel, stream);
  }

  historyStats(): HistoryStats {
    return {
      bytes: this.budget.bytes,
      publications: this.budget.publications,
      streams: this.streams.size,
      evictedByNodeBudget: this.budget.evictedByNodeBudget,
      evictedByNamespaceBudget: this.budget.evictedByNamespaceBudget,
      evictedStreams: this.evictedStreams,
    };
  }

  /** Slots of the global eviction queue, consumed ones included (tests). */
  evictionQueueSlots(): number {
    return this.budget.queueSlots;
  }

  /** Bytes held in history by one owner's publications. */
  ownerBytes(owner: string): number {
    return this.budget.ownerBytes(owner);
  }

  /** Idempotency keys held, and their approximate bytes (tests). */
  idempotencyHeld(): { keys: number; bytes: number } {
    return { keys: this.idempotency.size, bytes: this.idempotency.bytes };
  }

  close(): void {
    clearInterval(this.sweepTimer);
    this.idempotency.close();
    this.subscribers.clear();
  }

  // ------------------------------------------------------------ stream lifetime

  /** A stream expires after `metaTtlMs` without publications, unless a node subscribes to it. */
  private expired(channel: string, stream: Stream, now: number): boolean {
    return now - stream.touchedAt > this.options.metaTtlMs && !this.subscribers.has(channel);
  }

  private stream(channel: string, now: number): Stream {
    let stream = this.streams.get(channel);
    if (stream) {
      if (this.expired(channel, stream, now)) {
        this.forget(channel, stream);
        stream = undefined;
      } else if (now - stream.usedAt >= LRU_RESOLUTION_MS) {
        stream.usedAt = now;
        this.streams.delete(channel);
        this.streams.set(channel, stream);
      }
    }
    if (!stream) {
      stream = { epoch: newEpoch(), top: 0, items: [], touchedAt: now, usedAt: now };
      this.streams.set(channel, stream);
      this.emptyStreams.add(channel);
      if (this.persistence) {
        this.channelOf.set(stream.items, channel);
        this.persistence.created(channel, stream.epoch, now);
      }
      if (this.maxStreams > 0 && this.streams.size > this.maxStreams) this.evictStreams(channel);
    }
    return stream;
  }

  /** Forgets streams beyond `maxStreams`: never-published ones first, then the least recently used; never subscribed ones. */
  private evictStreams(keep: string): void {
    let scan = EVICTION_SCAN;
    const evictOne = (names: Set<string> | Map<string, Stream>): boolean => {
      // Entries moved to the end below come round again: look at each at most once per pass.
      let visits = names.size;
      for (const name of names.keys()) {
        if (visits-- <= 0 || scan-- <= 0) return false;
        if (name === keep) continue;
        if (this.subscribers.has(name)) {
          // In use: move it to the recent end, so the next pass does not look at it again.
          if (names instanceof Set) {
            names.delete(name);
            names.add(name);
          } else {
            const s = names.get(name)!;
            names.delete(name);
            names.set(name, s);
          }
          continue;
        }
        this.forget(name, this.streams.get(name)!);
        this.evictedStreams++;
        return true;
      }
      return false;
    };
    while (this.streams.size > this.maxStreams && scan > 0) {
      if (!evictOne(this.emptyStreams) && !evictOne(this.streams)) break;
    }
  }

  private forget(channel: string, stream: Stream): void {
    this.streams.delete(channel);
    this.emptyStreams.delete(channel);
    for (const item of stream.items) this.budget.release(item);
    stream.items.length = 0;
    this.persistence?.forgotten(channel);
  }

  /** With `persistence`: an item left history, its stored copy goes too (items leave a stream oldest first). */
  private released(item: StoredItem): void {
    const channel = this.channelOf.get(item.streamItems);
    if (channel !== undefined) this.persistence!.trimmed(channel, item.offset);
  }

  /**
   * Loads the stored streams and publications (in publish order, so the byte budgets evict the
   * oldest first as before), then sweeps what expired meanwhile. A channel's stored offsets are
   * consecutive; if a lost write broke them, only the newest consecutive run is kept (recovery from
   * before it answers recovered: false, never a silent gap).
   */
  private restore(persistence: HistoryPersistence): void {
    const now = this.now();
    const { streams, publications } = persistence.load();
    const budgets = new Map<string, HistoryOptions>();
    for (const s of streams) {
      const stream: Stream = { epoch: s.epoch, top: s.top, items: [], touchedAt: s.touchedAt, usedAt: now };
      this.streams.set(s.channel, stream);
      this.channelOf.set(stream.items, s.channel);
      if (s.top === 0) this.emptyStreams.add(s.channel);
      budgets.set(s.channel, { size: Infinity, ttlMs: 0, ...(s.shared ? { shared: s.shared } : {}) });
    }
    for (const p of publications) {
      const stream = this.streams.get(p.channel);
      if (!stream || p.offset > stream.top) continue;
      const items = stream.items;
      const last = items[items.length - 1];
      if (last && last.offset + 1 !== p.offset) while (items.length > 0) this.budget.release(items.shift()!);
      const item: StoredItem = { offset: p.offset, json: p.json, info: p.info, expiresAt: p.expiresAt, bytes: publicationBytes(p.json, p.info), streamItems: items, pool: undefined, owner: undefined, gone: false };
      if (p.event !== undefined) item.event = p.event;
      items.push(item);
      this.budget.add(item, budgets.get(p.channel)!, NO_OWNER);
    }
    this.sweep();
  }

  private dropExpired(stream: Stream, now: number): void {
    let n = 0;
    while (n < stream.items.length && stream.items[n]!.expiresAt <= now) this.budget.release(stream.items[n++]!);
    if (n > 0) stream.items.splice(0, n);
  }

  /** Frees memory of expired publications and forgotten streams. */
  sweep(): void {
    const now = this.now();
    for (const [channel, stream] of this.streams) {
      if (this.expired(channel, stream, now)) this.forget(channel, stream);
      else this.dropExpired(stream, now);
    }
  }
}

/** A stored item as a publication: its JSON decoded (key order as published: data, info, offset). */
function decode(item: StoredItem): EncodedPublication {
  const data: unknown = JSON.parse(item.json);
  const pub: EncodedPublication = item.info ? { data, info: item.info, offset: item.offset } : { data, offset: item.offset };
  if (item.event !== undefined) pub.event = item.event;
  pub[ENCODED_DATA] = item.json;
  return pub;
}
