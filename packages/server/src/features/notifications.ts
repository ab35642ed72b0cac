/**
 * Durable notifications: the rules between the API (or library) that sends them, the
 * store that keeps them, and the recipients' connections.
 *
 * A notification is stored first; once the store has committed it (the 2xx of
 * `/notify` waits for that), it goes live to every connection of each recipient as a
 * `notification` push on their personal channel. A recipient who is offline reads it
 * on the next connect. Read and delete changes are pushed the same way
 * (`notification_update`), so a user's devices agree on the badge.
 */
import { z } from 'zod';
import { ErrorCode, NOTIFICATION_PRIORITIES, NOTIFICATION_TYPE_PATTERN, personalChannel, type Notification, type NotificationType } from '@tidings/protocol';
import type { TidingsConfig } from '../config/schema.js';
import type { ControlEvent } from '../engine/broker.js';
import { TidingsError } from '../errors.js';
import { NO_WEBHOOKS, type WebhookEmitter } from '../webhook-events.js';
import type { Logger } from '../log.js';
import { BadCursorError, type NotificationCounts, type NotificationPage, type NotificationStore } from '../store/notification-store.js';
import { checkJsonSize, checkLimit, parseWith, timestamp, userId } from '../validate.js';

/** What `/notify` and `tidings.notifications.notify()` take. */
export interface NotifyInput {
  /** One recipient... */
  user?: string;
  /** ...or several (1..`notifications.maxRecipients`). */
  users?: string[];
  /** A known type (`NOTIFICATION_TYPES`) or any application identifier (`NOTIFICATION_TYPE_PATTERN`). */
  type: NotificationType;
  title: string;
  message?: string;
  data?: unknown;
  actions?: { label: string; action: string; style?: 'primary' | 'secondary' | 'danger' }[];
  /** Default `normal`. */
  priority?: (typeof NOTIFICATION_PRIORITIES)[number];
  /** ms since the epoch or an ISO date-time, in the future. */
  expiresAt?: number | string;
  /** The same key within `notifications.idempotencyWindow` stores nothing more. */
  idempotencyKey?: string;
}

export interface NotifyResult {
  notifications: Notification[];
  deduplicated: boolean;
}

export interface NotificationsFeatureDeps {
  config: TidingsConfig;
  store: NotificationStore;
  /** Control publications go through `cluster/channels.ts`. */
  control: { publishControl(channel: string, event: ControlEvent): Promise<void> };
  log: Logger;
  now?: () => number;
  /** `notification.read` webhooks; absent: none. */
  webhooks?: WebhookEmitter | undefined;
}

function notifySchema(config: TidingsConfig['notifications']) {
  return z
    .strictObject({
      user: userId.optional(),
      users: z.array(userId).min(1).max(config.maxRecipients).optional(),
      type: z.string().regex(NOTIFICATION_TYPE_PATTERN, 'expected a notification type: 1..64 of letters, digits, _ . : - (e.g. info, mention, task.assigned)'),
      title: z.string().min(1).max(config.maxTitleLength),
      message: z.string().max(config.maxMessageLength).optional(),
      data: z.unknown().optional(),
      actions: z
        .array(z.strictObject({ label: z.string().min(1).max(64), action: z.string().min(1).max(512), style: z.enum(['primary', 'secondary', 'danger']).optional() }))
        .max(5)
        .optional(),
      priority: z.enum(NOTIFICATION_PRIORITIES as [string, ...string[]]).default('normal'),
      expiresAt: timestamp.optional(),
      idempotencyKey: z.string().min(1).max(128).optional(),
    })
    .refine((v) => (v.user === undefined) !== (v.users === undefined), { message: 'give exactly one of "user" and "users"', path: ['user'] });
}

export class NotificationsFeature {
  private readonly store: NotificationStore;
  private readonly control: { publishControl(channel: string, event: ControlEvent): Promise<void> };
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly webhooks: WebhookEmitter;
  /** What `notify` parses its input with (limits from config); `POST /api/v1/notify` declares the same object (its OpenAPI body). */
  readonly inputSchema;
  private readonly maxDataSize: number;
  private readonly sweep: NodeJS.Timeout;

  constructor(deps: NotificationsFeatureDeps) {
    this.store = deps.store;
    this.control = deps.control;
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
    this.webhooks = deps.webhooks ?? NO_WEBHOOKS;
    this.inputSchema = notifySchema(deps.config.notifications);
    this.maxDataSize = deps.config.notifications.maxDataSize;
    this.sweep = setInterval(() => {
      this.store.prune(this.now()).catch((err) => this.log.error({ err }, 'pruning notifications failed'));
    }, deps.config.notifications.sweepInterval);
    this.sweep.unref();
  }

  /**
   * Stores a notification for each recipient, then delivers it live. Resolves once
   * it is durable. Throws `bad_request` (or `payload_too_large` for `data`) for bad input.
   * `keyScope` names the caller whose `idempotencyKey`s these are (the server API passes
   * the API key's id); library calls share the scope `library`.
   *
   * @example
   * ```ts
   * await tidings.notifications.notify({ user: 'alice', type: 'mention', title: 'Bob mentioned you', data: { taskId: 't1' } });
   * ```
   */
  async notify(input: NotifyInput | unknown, options: { keyScope?: string } = {}): Promise<NotifyResult> {
    const body = parseWith(this.inputSchema, input);
    checkJsonSize('data', body.data, this.maxDataSize);
    const now = this.now();
    if (body.expiresAt !== undefined && body.expiresAt <= now) throw new TidingsError(ErrorCode.BadRequest, 'expiresAt: must be in the future');
    const users = [...new Set(body.users ?? [body.user!])];
    const created = await this.store.create(
      {
        users,
        type: body.type as Notification['type'],
        title: body.title,
        priority: body.priority as Notification['priority'],
        ...(body.message !== undefined ? { message: body.message } : {}),
        ...(body.data !== undefined ? { data: body.data } : {}),
        ...(body.actions !== undefined ? { actions: body.actions } : {}),
        ...(body.expiresAt !== undefined ? { expiresAt: body.expiresAt } : {}),
        // Keys are per caller (the API key's id, or the library): two backends cannot collide. A JSON
        // array, so no scope and key can spell another pair's stored key.
        ...(body.idempotencyKey !== undefined ? { idempotencyKey: JSON.stringify([options.keyScope ?? 'library', body.idempotencyKey]) } : {}),
      },
      now,
    );
    if (!created.deduplicated) {
      for (const n of created.notifications) {
        this.background(n.user, async () => {
          const { unread, unreadByType } = await this.counts(n.user);
          return { type: 'notification', notification: n, unread, unreadByType };
        });
      }
    }
    return created;
  }

  /** A user's notifications, newest first. Throws `bad_request` for a bad cursor. */
  async list(user: string, query: { limit?: number; cursor?: string; unread?: boolean } = {}): Promise<NotificationPage & { unread: number }> {
    checkLimit(query.limit, 0, 100);
    try {
      const page = await this.store.list(user, { limit: query.limit ?? 20, ...(query.cursor !== undefined ? { cursor: query.cursor } : {}), unread: query.unread === true }, this.now());
      return { ...page, unread: (await this.counts(user)).unread };
    } catch (err) {
      if (err instanceof BadCursorError) throw new TidingsError(ErrorCode.BadRequest, err.message);
      throw err;
    }
  }

  counts(user: string): Promise<NotificationCounts> {
    return this.store.counts(user, this.now());
  }

  /**
   * Marks notifications of `user` read (`'all'`: every one) and tells the user's devices; when any
   * was unread, the `notification.read` webhook (the ids marked now, whether all were asked, unread left).
   */
  async markRead(user: string, ids: string[] | 'all'): Promise<{ updated: number; unread: number }> {
    const changed = await this.store.markRead(user, ids, this.now());
    const { unread } = await this.counts(user);
    if (changed.length > 0) {
      const event: ControlEvent = ids === 'all' ? { type: 'notification_update', change: 'read', all: true, unread } : { type: 'notification_update', change: 'read', ids: changed, unread };
      this.background(user, async () => event);
      this.webhooks.emit({ type: 'notification.read', user, data: { ids: changed, all: ids === 'all', unread } });
    }
    return { updated: changed.length, unread };
  }

  /** Deletes notifications of `user` and tells the user's devices. */
  async remove(user: string, ids: string[]): Promise<{ deleted: number; unread: number }> {
    const removed = await this.store.remove(user, ids);
    const { unread } = await this.counts(user);
    if (removed.length > 0) this.background(user, async () => ({ type: 'notification_update', change: 'deleted', ids: removed, unread }));
    return { deleted: removed.length, unread };
  }

  close(): void {
    clearInterval(this.sweep);
  }

  /**
   * Live delivery after the write is durable. It is at-most-once like every push: a
   * connection that misses it reads the inbox when it reconnects.
   */
  private background(user: string, make: () => Promise<ControlEvent>): void {
    make()
      .then((event) => this.control.publishControl(personalChannel(user), event))
      .catch((err) => this.log.warn({ err, user }, 'live notification delivery failed'));
  }
}
