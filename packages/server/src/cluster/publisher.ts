/**
 * Publishing and reading history: the one path a publication takes into the engine, for the
 * library (`Tidings.publish`), the server API and clients (`SessionServices.publish`).
 *
 * It resolves the channel, encodes the data once (JSON that cannot be encoded is refused
 * here, before the engine sees it), applies the namespace's history settings, the per-user
 * history budget and the idempotency window (the engine deduplicates inside its publish,
 * atomically with the history append, across nodes), and counts what was published. The broker then delivers to `cluster/channels.ts`, which hands it to the hub.
 *
 * Part of the `cluster/` mediator of issue 13, the one place that calls the engine (with
 * `channels.ts`: subscriptions, streams, control events; `presence-reads.ts`).
 */
import { ErrorCode, EVENT_NAME_PATTERN, personalChannel, type ClientInfo, type HistoryResult, type PublishResult, type StreamPosition } from '@tidings/protocol';
import type { ChannelPolicy, ResolvedChannel } from '../auth/channel-policy.js';
import type { NamespaceConfig, TidingsConfig } from '../config/schema.js';
import type { Broker, PublishOptions, PublishOutcome } from '../engine/broker.js';
import { TidingsError } from '../errors.js';
import { engineUnavailable } from './channels.js';
import { budgetLimitName, budgetRefusal, encodeData, HistoryBudgetError } from '../features/publish-data.js';
import { messageTag } from '../features/message-tags.js';
import { checkOffset, checkReply, foldedPage, type MessageReader } from '../features/messages.js';
import type { NodeMetrics } from '../ops/metrics.js';
import type { Counters, PublishedOutcome, PublishRequest } from '../session/services.js';

export interface BroadcastResultItem {
  channel: string;
  offset?: number;
  epoch?: string;
  deduplicated?: boolean;
  error?: { code: string; message: string };
}

/** Options of a server-side publish (library and server API). */
export interface ServerPublishOptions {
  idempotencyKey?: string;
  source?: 'api' | 'library';
  /**
   * A connection id (`client` of its connect reply) that does not get this publication live, on
   * whichever node it is: the sender does not get its own echo. In a channel with offsets it gets
   * the offset without data (`skip: true`), so it sees no gap; history keeps the publication, so a
   * recovery (after a reconnect) replays it like any other.
   */
  exceptClient?: string;
  /** The publication's event name (`task:updated`): 1..64 of letters, digits, `_ . : -` (`EVENT_NAME_PATTERN`). */
  event?: string;
  /** A reply to the message at this offset of the channel (namespaces with `messaging.replies`; the message must be in history). */
  replyTo?: number;
}

/** A connection id as `exceptClient` takes it: printable ASCII without spaces, at most 128 characters (it travels in Redis pub/sub messages). */
const CLIENT_ID = /^[\x21-\x7e]{1,128}$/;

export interface PublisherDeps {
  config: TidingsConfig;
  policy: ChannelPolicy;
  broker: Broker;
  counters: Counters;
  metrics: NodeMetrics;
  limitHit(limit: string, details: { user?: string; client?: string; ip?: string }): void;
}

export class Publisher {
  private readonly historyOptions = new WeakMap<NamespaceConfig, PublishOptions>();
  /** The engine's channel streams, as the message rules read them (features/messages.ts). */
  readonly streams: MessageReader;

  constructor(private readonly deps: PublisherDeps) {
    const broker = deps.broker;
    this.streams = {
      position: (channel) => broker.position(channel).catch(engineUnavailable),
      history: (channel, query) => broker.history(channel, query).catch(engineUnavailable),
    };
  }

  /**
   * Publishes to a channel from the server side (no client permission rules apply).
   * With `idempotencyKey`, a repeat within the configured window publishes nothing
   * and returns the first result with `deduplicated: true`. `source` labels metrics.
   */
  publish(channel: string, data: unknown, options?: ServerPublishOptions): Promise<PublishResult> {
    try {
      const target = this.deps.policy.resolve(channel);
      const request: PublishRequest = options === undefined ? LIBRARY_PUBLISH : { source: options.source ?? 'library' };
      // Scoped apart from clients' keys (['c', user, key]): a JSON array, so no key can spell another scope's.
      if (options?.idempotencyKey !== undefined) request.idempotencyKey = JSON.stringify(['s', options.idempotencyKey]);
      if (options?.exceptClient !== undefined) {
        if (typeof options.exceptClient !== 'string' || !CLIENT_ID.test(options.exceptClient)) throw new TidingsError(ErrorCode.BadRequest, 'exceptClient: expected a connection id');
        request.exceptClient = options.exceptClient;
      }
      if (options?.event !== undefined) {
        if (typeof options.event !== 'string' || !EVENT_NAME_PATTERN.test(options.event)) throw new TidingsError(ErrorCode.BadRequest, 'event: expected 1..64 of letters, digits, _ . : -');
        request.event = options.event;
      }
      if (options?.replyTo !== undefined) {
        const replyTo = checkOffset('replyTo', options.replyTo);
        request.replyTo = replyTo;
        return checkReply(this.streams, target, replyTo).then(() => this.send(target, data, request, publishResult));
      }
      return this.send(target, data, request, publishResult);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Publishes one payload to many channels, and to the personal channel (`user:#<id>`) of each of
   * `users`; each channel gets its own result or error.
   */
  async broadcast(channels: string[], data: unknown, options: ServerPublishOptions & { users?: string[] } = {}): Promise<BroadcastResultItem[]> {
    const { users, ...publishOptions } = options;
    if (users !== undefined && users.length > 0 && !this.deps.config.personal.enabled) throw new TidingsError(ErrorCode.BadRequest, 'users: personal channels are off (personal.enabled)');
    const all = users === undefined ? channels : [...new Set([...channels, ...users.map(personalChannel)])];
    options = publishOptions;
    return Promise.all(
      all.map(async (channel): Promise<BroadcastResultItem> => {
        try {
          return { channel, ...(await this.publish(channel, data, options)) };
        } catch (err) {
          if (!(err instanceof TidingsError)) throw err;
          return { channel, error: { code: err.code, message: err.message } };
        }
      }),
    );
  }

  /** Publishes to a resolved channel (clients' publishes come here, through `SessionServices.publish`). */
  publishTo(target: ResolvedChannel, data: unknown, options: PublishRequest): Promise<PublishedOutcome> {
    return this.send(target, data, options, publishedOutcome);
  }

  /**
   * The node's own live-only publications (the dashboard's stats): no channel rules, no
   * history, not counted as traffic.
   */
  publishUncounted(channel: string, data: unknown): Promise<unknown> {
    return this.deps.broker.publish(channel, data, {});
  }

  /** A channel's history. `limit` is capped by `history.maxLimit`. */
  async history(channel: string, query: { limit?: number; since?: StreamPosition; reverse?: boolean } = {}): Promise<HistoryResult> {
    const target = this.deps.policy.resolve(channel);
    if (!target.ns.history) throw new TidingsError(ErrorCode.NotAvailable, 'history is off in this namespace');
    const max = this.deps.config.history.maxLimit;
    const page = await this.deps.broker
      .history(target.channel, {
        limit: Math.min(query.limit ?? max, max),
        reverse: query.reverse === true,
        ...(query.since ? { since: query.since } : {}),
      })
      .catch(engineUnavailable);
    return { epoch: page.position.epoch, offset: page.position.offset, publications: await foldedPage(this.streams, target.channel, target.ns, page) };
  }

  /**
   * One publish into the engine, its outcome in the caller's `shape`. Not `async`: the
   * library's hot path pays for the broker's promise and one `then`, no more.
   */
  private send<R>(target: ResolvedChannel, data: unknown, options: PublishRequest, shape: (outcome: PublishOutcome) => R): Promise<R> {
    let brokerOptions: PublishOptions;
    try {
      // Encoded once, before the engine sees it: data JSON cannot encode is refused here.
      brokerOptions = this.publishOptions(target, encodeData(data), options);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.deps.broker.publish(target.channel, data, brokerOptions).then(
      (outcome) => {
        // A repeat of an idempotency key published nothing: not counted.
        if (!outcome.deduplicated) this.published(options.source);
        return shape(outcome);
      },
      (err: unknown) => {
        throw this.publishRefusal(err, target, options.info);
      },
    );
  }

  /** The broker options of one publish: history settings, the per-user budget, the idempotency window. */
  private publishOptions(target: ResolvedChannel, json: string, options: PublishRequest): PublishOptions {
    const info = options.info;
    const brokerOptions = this.brokerOptions(target, json, info);
    const perUser = this.deps.config.history.maxBytesPerUser;
    // Only clients' publications count against a user's budget; anonymous connections each have their own.
    if (options.source === 'client' && info && brokerOptions.history && perUser > 0) {
      brokerOptions.owner = { id: info.user === '' ? `#${info.client}` : info.user, maxBytes: perUser };
    }
    // The engine deduplicates per channel, atomically with the append (see `Broker.publish`).
    if (options.idempotencyKey !== undefined) brokerOptions.idempotency = { key: options.idempotencyKey, windowMs: this.deps.config.idempotency.window };
    if (options.exceptClient !== undefined) brokerOptions.exceptClient = options.exceptClient;
    // A reply or a message operation travels as a tag in the engine's event string (features/message-tags.ts).
    const event = options.replyTo === undefined && options.op === undefined ? options.event : messageTag(options);
    if (event !== undefined) brokerOptions.event = event;
    return brokerOptions;
  }

  /**
   * A history budget's refusal becomes `limit_exceeded` (counted and audited); a `TidingsError`
   * passes; any other failure is the engine's (Redis not answering, a connection lost): a
   * temporary `unavailable`, so clients retry (with the same idempotency key).
   */
  private publishRefusal(err: unknown, target: ResolvedChannel, info: ClientInfo | undefined): unknown {
    if (err instanceof TidingsError) return err;
    if (!(err instanceof HistoryBudgetError)) return new TidingsError(ErrorCode.Unavailable, 'the engine did not take the publication; retry', { temporary: true });
    this.deps.limitHit(budgetLimitName(err), info ? { user: info.user, client: info.client } : {});
    return budgetRefusal(err, target.parsed.namespace);
  }

  private published(source: PublishRequest['source']): void {
    this.deps.counters.publicationsIn++;
    this.deps.metrics.publicationIn(source);
  }

  /** Broker options of a publication (the namespace's history settings are built once per namespace). */
  private brokerOptions(target: ResolvedChannel, json: string, info: ClientInfo | undefined): PublishOptions {
    const ns = target.ns;
    let base = this.historyOptions.get(ns);
    if (!base) {
      const maxBytes = ns.history?.maxBytes;
      const shared = maxBytes !== undefined && maxBytes > 0 ? { shared: { name: target.parsed.namespace, maxBytes } } : {};
      base = ns.history ? { history: { size: ns.history.size, ttlMs: ns.history.ttl, ...shared } } : {};
      this.historyOptions.set(ns, base);
    }
    const history = base.history;
    if (info) return history ? { history, info, json } : { info, json };
    return history ? { history, json } : { json };
  }
}

/** The request of a plain library publish, shared (it is never modified). */
const LIBRARY_PUBLISH: PublishRequest = Object.freeze({ source: 'library' });

function publishedOutcome(outcome: PublishOutcome): PublishedOutcome {
  return outcome.position ? { position: outcome.position, deduplicated: outcome.deduplicated === true } : { deduplicated: outcome.deduplicated === true };
}

function publishResult(outcome: PublishOutcome): PublishResult {
  const result: PublishResult = outcome.position ? { offset: outcome.position.offset, epoch: outcome.position.epoch } : {};
  if (outcome.deduplicated) result.deduplicated = true;
  return result;
}
