/**
 * The Broker on Redis: history in one STREAM per channel, positions in a meta HASH, delivery by
 * pub/sub, all of a publish in one Lua script (`redis-scripts.ts`).
 *
 * - **publish**: one script checks the idempotency key, creates the epoch once per stream,
 *   increments the offset, appends the data's JSON (`XADD … MAXLEN ~ size`, ids `<offset>-0`),
 *   sets the TTLs, accounts the byte budgets and PUBLISHes (SPUBLISH when `sharded`) the encoded
 *   publication with its offset and epoch, then remembers the outcome for the idempotency
 *   window. Redis runs a script alone, so delivery order is offset order and no subscriber sees an
 *   offset history does not hold. A live-only publish without an idempotency key is one PUBLISH.
 * - **delivery**: one Redis subscription per channel this node has local subscribers on, on its
 *   own subscriber connection (never a pattern); a batch of channels is one SUBSCRIBE.
 *   Control events go out on the same Redis channel, so they are ordered with the publications.
 * - **history/position**: one read script (creates the stream when absent); a page skips what
 *   left history (size window, ttl, budget eviction), so a gap shows as a higher first offset.
 * - **lifetime**: a stream's meta expires `metaTtlMs` after its last publish; a node refreshes the
 *   meta of the channels it subscribes to, so their epoch cannot change under them.
 *
 * The pub/sub messages (a publication with its position, a control event) are written and read by
 * `redis-pubsub-message.ts`.
 *
 * Limits on Redis: idempotency keys are bounded per channel (`idempotencyMaxKeys`, least soon to
 * expire forgotten first); the node-wide budget `maxBytes` counts every node's stored publications
 * together; budgets and `maxStreams` need a single Redis (see `redis-scripts.ts`).
 *
 * Failures (`redis-subscriber.ts` for the pub/sub side): every command carries a timeout
 * (`commandTimeoutMs`, also for replies already waited for), and with no offline queue a call
 * while Redis is away fails at once: `BrokerUnavailableError`. When the pub/sub connection comes
 * back (node-redis reconnected and resubscribed, or the liveness probe replaced a dead one), the
 * tops of every subscribed channel are read in one pipelined round trip, a probe goes through as a
 * barrier, and the handler gets `onResync(channel, top)` for each: publications sent while
 * delivery was down are lost to live delivery (at most once) and recovered from history by the
 * node; a stream Redis lost shows as no position (then a new epoch), so recovery says
 * `recovered: false`.
 */
import { randomBytes } from 'node:crypto';
import type { ClientInfo, Publication, StreamPosition } from '@tidings/protocol';
import {
  BrokerUnavailableError,
  ENCODED_DATA,
  HistoryBudgetError,
  publicationBytes,
  type Broker,
  type BrokerHandler,
  type ControlEvent,
  type EncodedPublication,
  type HistoryPage,
  type HistoryQuery,
  type PublishOptions,
  type PublishOutcome,
} from '../broker.js';
import { openSubscriber, publishRouted, type RedisCommandClient } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { decodePubSubMessage, liveKind, messagePrefix } from './redis-pubsub-message.js';
import { PUBLISH_SCRIPT, READ_SCRIPT, REMOVE_SCRIPT } from './redis-scripts.js';
import { openBrokerPubSub, type BrokerPubSub } from './redis-cluster-subscriber.js';
import { unavailable } from './redis-subscriber.js';

export interface RedisBrokerOptions {
  /** SSUBSCRIBE/SPUBLISH instead of SUBSCRIBE/PUBLISH. */
  sharded?: boolean;
  /** A stream without publications for this long is forgotten (new epoch next time). */
  metaTtlMs: number;
  /** Byte budget of every stored publication of the deployment; oldest evicted beyond it. 0: none. */
  maxBytes?: number;
  /** Streams kept at most; beyond it the least recently used ones no node subscribes to are forgotten. 0: no limit. */
  maxStreams?: number;
  /** Idempotency keys held per channel at most. Default 100,000. */
  idempotencyMaxKeys?: number;
  /** Called with a pub/sub message this broker cannot decode (it is dropped). */
  onBadMessage?: (channel: string, error: Error) => void;
  /** Longest wait for Redis to answer a command; then the call fails (`BrokerUnavailableError`). Default 2000. */
  commandTimeoutMs?: number;
  /** Pause between liveness probes of the pub/sub connection. Default 5000. */
  probeIntervalMs?: number;
  /** Longest wait for a probe to come back before the pub/sub connection is replaced. Default 2000. */
  probeTimeoutMs?: number;
  /** Called with pub/sub connection trouble (a replaced connection, a failed repair). */
  onError?: (error: Error) => void;
}

const DEFAULT_IDEMPOTENCY_MAX_KEYS = 100_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const DEFAULT_PROBE_INTERVAL_MS = 5000;
const DEFAULT_PROBE_TIMEOUT_MS = 2000;
/** setInterval's longest delay. */
const MAX_TIMER_MS = 2_147_483_647;

function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

export class RedisBroker implements Broker {
  private readonly sharded: boolean;
  private handler: BrokerHandler | undefined;
  /** Pub/sub name → channel, for every channel this node subscribes to. */
  private readonly subscribed = new Map<string, string>();
  /** The command client with the command timeout on every command. */
  private readonly cmd: RedisCommandClient;
  private readonly sub: BrokerPubSub;
  private readonly refreshTimer: NodeJS.Timeout;
  private closed = false;

  /**
   * `client` runs commands and scripts (it may be shared with other parts and is not closed
   * here); `subscriber` is this broker's own pub/sub connection (connected or still connecting),
   * closed with it (or replaced by a new one when the liveness probe finds it dead). See `create`.
   */
  constructor(
    private readonly client: RedisCommandClient,
    subscriber: RedisCommandClient,
    private readonly keys: RedisKeys,
    private readonly options: RedisBrokerOptions,
  ) {
    this.sharded = options.sharded ?? false;
    const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.cmd = client.withCommandOptions({ timeout: commandTimeoutMs, rejectInFlight: true }) as RedisCommandClient;
    this.sub = openBrokerPubSub(
      this.cmd,
      subscriber,
      {
        sharded: this.sharded,
        probeName: keys.node(`probe-${newEpoch()}${newEpoch()}`, 'probe'),
        probeIntervalMs: options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS,
        probeTimeoutMs: options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
        commandTimeoutMs,
        ...(options.onError ? { onError: options.onError } : {}),
      },
      {
        message: (message, name) => this.receive(message, name),
        wanted: () => this.subscribed.keys(),
        restored: () => this.resync(),
      },
    );
    const every = Math.min(Math.max(50, Math.floor(options.metaTtlMs / 3)), MAX_TIMER_MS);
    this.refreshTimer = setInterval(() => this.refreshSubscribed(), every);
    this.refreshTimer.unref();
  }

  /** A broker over a connected command client, with a subscriber connection of its own. */
  static async create(client: RedisCommandClient, keys: RedisKeys, options: RedisBrokerOptions, onError?: (error: Error) => void): Promise<RedisBroker> {
    return new RedisBroker(client, await openSubscriber(client, onError), keys, options);
  }

  /** True while the pub/sub connection is up (the engine's readiness). */
  get subscriberReady(): boolean {
    return this.sub.ready;
  }

  /** Pub/sub connections replaced because the liveness probe found them dead. */
  get subscriberReplacements(): number {
    return this.sub.replacements;
  }

  /** Runs one liveness probe tick now (tests; it runs every `probeIntervalMs` anyway). */
  checkSubscriber(): Promise<void> {
    return this.sub.check();
  }

  setHandler(handler: BrokerHandler): void {
    this.handler = handler;
  }

  async publish(channel: string, data: unknown, options: PublishOptions): Promise<PublishOutcome> {
    const info = options.info;
    const history = options.history !== undefined && options.history.size > 0 ? options.history : undefined;
    // Encoded before anything is sent: a value JSON cannot encode throws here, nothing stored.
    const json = options.json ?? JSON.stringify(data) ?? 'null';
    const infoJson = info !== undefined ? JSON.stringify(info) : '';
    const once = options.idempotency;
    const liveHeader = liveKind(options);
    const except = messagePrefix(options);
    if (!history && !once) {
      await this.send(channel, `${except}${liveHeader}\n${infoJson}\n${json}`);
      return {};
    }
    let bytes = 0;
    if (history) {
      bytes = publicationBytes(json, info);
      checkTooLarge(bytes, this.options.maxBytes ?? 0, history.shared, options.owner);
    }
    const shared = history?.shared && history.shared.maxBytes > 0 ? history.shared : undefined;
    const owner = history && options.owner && options.owner.maxBytes > 0 ? options.owner : undefined;
    const reply = (await PUBLISH_SCRIPT.run(
      this.cmd,
      [this.keys.channelMeta(channel), this.keys.channelHistory(channel), this.keys.channelIdempotency(channel), this.keys.channelIdempotencyIndex(channel)],
      [
        ...this.common(channel),
        history ? '1' : '0',
        String(history?.size ?? 0),
        String(Math.max(1, Math.ceil(history?.ttlMs ?? 1))),
        json,
        infoJson,
        String(bytes),
        String(history ? (this.options.maxBytes ?? 0) : 0),
        shared?.name ?? '',
        String(shared?.maxBytes ?? 0),
        owner?.id ?? '',
        String(owner?.maxBytes ?? 0),
        once?.key ?? '',
        String(Math.max(1, Math.ceil(once?.windowMs ?? 1))),
        String(this.options.idempotencyMaxKeys ?? DEFAULT_IDEMPOTENCY_MAX_KEYS),
        liveHeader,
        except,
        options.event ?? '',
      ],
    ).catch((err: unknown) => {
      throw unavailable(err);
    })) as [string, ...unknown[]];
    switch (reply[0]) {
      case 'ok':
        return reply.length > 1 ? { position: { epoch: String(reply[2]), offset: Number(reply[1]) } } : {};
      case 'dup': {
        const first = String(reply[1]);
        if (first === '') return { deduplicated: true };
        const space = first.indexOf(' ');
        return { position: { epoch: first.slice(space + 1), offset: Number(first.slice(0, space)) }, deduplicated: true };
      }
      case 'user':
        throw new HistoryBudgetError('user', owner!.maxBytes, bytes, false);
      default:
        throw new Error(`unexpected reply of the Redis publish script: ${JSON.stringify(reply)}`);
    }
  }

  async publishControl(channel: string, event: ControlEvent): Promise<void> {
    await this.send(channel, `c${JSON.stringify(event)}`);
  }

  async subscribe(channels: string[]): Promise<void> {
    const added: string[] = [];
    for (const channel of channels) {
      const name = this.keys.channelPubSub(channel);
      if (this.subscribed.has(name)) continue;
      this.subscribed.set(name, channel);
      added.push(name);
    }
    if (added.length === 0) return;
    try {
      await this.sub.subscribe(added);
    } catch (err) {
      for (const name of added) this.subscribed.delete(name);
      throw err;
    }
  }

  async unsubscribe(channels: string[]): Promise<void> {
    const removed: string[] = [];
    for (const channel of channels) {
      const name = this.keys.channelPubSub(channel);
      if (this.subscribed.delete(name)) removed.push(name);
    }
    if (removed.length === 0 || this.closed) return;
    await this.sub.unsubscribe(removed);
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    const since = query.since;
    const reply = (await READ_SCRIPT.run(this.cmd, this.channelKeys(channel), [
      ...this.common(channel),
      String(Math.max(0, Math.floor(query.limit))),
      since?.epoch ?? '',
      String(since?.offset ?? 0),
      query.reverse ? '1' : '0',
    ]).catch((err: unknown) => {
      throw unavailable(err);
    })) as unknown[];
    const position = { epoch: String(reply[0]), offset: Number(reply[1]) };
    const publications: Publication[] = [];
    for (let i = 2; i + 3 < reply.length; i += 4) {
      const json = String(reply[i + 1]);
      const infoJson = String(reply[i + 2]);
      const event = String(reply[i + 3]);
      const offset = Number(reply[i]);
      const data: unknown = JSON.parse(json);
      const pub: EncodedPublication = infoJson !== '' ? { data, info: JSON.parse(infoJson) as ClientInfo, offset } : { data, offset };
      if (event !== '') pub.event = event;
      pub[ENCODED_DATA] = json;
      publications.push(pub);
    }
    return { position, publications };
  }

  async position(channel: string): Promise<StreamPosition> {
    return (await this.history(channel, { limit: 0 })).position;
  }

  async removeHistory(channel: string): Promise<void> {
    await REMOVE_SCRIPT.run(this.cmd, this.channelKeys(channel), this.common(channel)).catch((err: unknown) => {
      throw unavailable(err);
    });
  }

  /** Ends this node's subscriptions and closes its subscriber connection (not the shared command client). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.refreshTimer);
    this.subscribed.clear();
    this.handler = undefined;
    await this.sub.close();
  }

  /** Channels this node subscribes to (for recovery after a reconnect). */
  subscribedChannels(): string[] {
    return [...this.subscribed.values()];
  }

  private channelKeys(channel: string): string[] {
    return [this.keys.channelMeta(channel), this.keys.channelHistory(channel)];
  }

  /** The prelude's ARGV: prefix, channel, sharded, new epoch, metaTtl, maxStreams. */
  private common(channel: string): string[] {
    return [
      this.keys.prefix,
      channel,
      this.sharded ? '1' : '0',
      newEpoch(),
      String(Math.max(1, Math.ceil(this.options.metaTtlMs))),
      String(this.options.maxStreams ?? 0),
    ];
  }

  private async send(channel: string, message: string): Promise<void> {
    const name = this.keys.channelPubSub(channel);
    try {
      if (this.sharded) await this.cmd.sPublish(name, message);
      else await publishRouted(this.cmd, name, message, name);
    } catch (err) {
      throw unavailable(err);
    }
  }

  /**
   * After delivery was interrupted: the top of every subscribed channel in one pipelined round
   * trip (HMGET of each meta, nothing created), then a probe through the pub/sub connection as a
   * barrier (every publication up to those tops that reached this node is delivered before the
   * probe), then `onResync` per channel. No meta: the stream is gone (position undefined).
   */
  private async resync(): Promise<void> {
    const channels = [...this.subscribed.values()];
    if (channels.length === 0 || this.handler === undefined) return;
    const metas = await Promise.all(channels.map((channel) => this.cmd.hmGet(this.keys.channelMeta(channel), ['e', 'o']))).catch((err: unknown) => {
      throw unavailable(err);
    });
    const probe = await this.sub.probe();
    if (probe !== 'ok') throw new BrokerUnavailableError(`the pub/sub probe did not come back after a reconnect (${probe}); repaired at the next probe`);
    channels.forEach((channel, i) => {
      const [epoch, offset] = metas[i] as (string | null)[];
      const handler = this.handler;
      if (handler?.onResync === undefined || !this.subscribed.has(this.keys.channelPubSub(channel))) return;
      handler.onResync(channel, epoch ? { epoch, offset: Number(offset ?? 0) } : undefined);
    });
  }

  private receive(message: string, pubsubName: string): void {
    const channel = this.subscribed.get(pubsubName);
    const handler = this.handler;
    if (channel === undefined || handler === undefined) return;
    try {
      const decoded = decodePubSubMessage(message);
      if (decoded.control) handler.onControl(channel, decoded.control);
      else handler.onPublication(channel, decoded.pub!, decoded.position);
    } catch (err) {
      this.options.onBadMessage?.(channel, err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Keeps the metas of subscribed channels alive past `metaTtlMs` (their epoch must not change under subscribers). */
  private refreshSubscribed(): void {
    if (this.closed || !this.client.isReady) return;
    const ttl = Math.max(1, Math.ceil(this.options.metaTtlMs));
    for (const channel of this.subscribed.values()) this.cmd.pExpire(this.keys.channelMeta(channel), ttl).catch(() => {});
  }
}

/** A publication larger than a budget on its own can never be stored. */
function checkTooLarge(bytes: number, nodeMax: number, shared: { maxBytes: number } | undefined, owner: { maxBytes: number } | undefined): void {
  if (nodeMax > 0 && bytes > nodeMax) throw new HistoryBudgetError('node', nodeMax, bytes, true);
  if (shared && shared.maxBytes > 0 && bytes > shared.maxBytes) throw new HistoryBudgetError('namespace', shared.maxBytes, bytes, true);
  if (owner && owner.maxBytes > 0 && bytes > owner.maxBytes) throw new HistoryBudgetError('user', owner.maxBytes, bytes, true);
}
