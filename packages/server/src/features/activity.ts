/**
 * Activity feeds: an entry is appended to the durable feed of its scope, then
 * published on the scope's channel `<activity.namespace>:<scope>`, so subscribers
 * of that channel see it live and anyone allowed to subscribe can page through it.
 */
import { z } from 'zod';
import { ErrorCode, type Activity } from '@tidings/protocol';
import type { TidingsConfig } from '../config/schema.js';
import { TidingsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ActivityPage, ActivityStore } from '../store/activity-store.js';
import { BadCursorError } from '../store/notification-store.js';
import { checkJsonSize, checkLimit, parseWith } from '../validate.js';

/** What `/activity` and `tidings.activity.append()` take. */
export interface ActivityInput {
  type: string;
  action: string;
  actor?: unknown;
  target?: unknown;
  data?: unknown;
  /** Default `global`. */
  scope?: string;
}

/** Scopes become part of a channel name: a conservative charset, no `#` (user-limited channels) or `:`. */
export const scopeSchema = z.string().regex(/^[A-Za-z0-9_.@-]{1,128}$/, 'expected 1-128 characters of A-Z a-z 0-9 _ . @ -');

/** What `append` parses its input with; `POST /api/v1/activity` declares the same object (its OpenAPI body). */
export const activityInputSchema = z.strictObject({
  type: z.string().min(1).max(64),
  action: z.string().min(1).max(64),
  actor: z.union([z.string().min(1).max(256), z.record(z.string(), z.unknown())]).optional(),
  target: z.union([z.string().min(1).max(512), z.record(z.string(), z.unknown())]).optional(),
  data: z.unknown().optional(),
  scope: scopeSchema.default('global'),
});

export interface ActivityFeatureDeps {
  config: TidingsConfig;
  store: ActivityStore;
  log: Logger;
  /** Publishes on a channel with its namespace's settings (server-side: no client rules). */
  publish(channel: string, data: unknown): Promise<unknown>;
  now?: () => number;
}

export class ActivityFeature {
  private readonly sweep: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly deps: ActivityFeatureDeps) {
    this.now = deps.now ?? Date.now;
    this.sweep = setInterval(() => {
      deps.store.prune(this.now()).catch((err) => deps.log.error({ err }, 'pruning the activity feed failed'));
    }, deps.config.notifications.sweepInterval);
    this.sweep.unref();
  }

  /** The channel that streams a scope's feed live. */
  channelOf(scope: string): string {
    return `${this.deps.config.activity.namespace}:${scope}`;
  }

  /**
   * Appends an entry durably, then publishes it on the scope's channel.
   *
   * @example
   * ```ts
   * await tidings.activity.append({ scope: 'project-7', type: 'task', actor: { id: 'bob', name: 'Bob' }, action: 'created', target: 'API Integration' });
   * ```
   */
  async append(input: ActivityInput | unknown): Promise<Activity> {
    const body = parseWith(activityInputSchema, input);
    checkJsonSize('actor, target and data', { a: body.actor, t: body.target, d: body.data }, this.deps.config.activity.maxDataSize);
    const entry = await this.deps.store.append(
      {
        scope: body.scope,
        type: body.type,
        action: body.action,
        ...(body.actor !== undefined ? { actor: body.actor } : {}),
        ...(body.target !== undefined ? { target: body.target } : {}),
        ...(body.data !== undefined ? { data: body.data } : {}),
      },
      this.now(),
    );
    // Durable already: a failed live publish loses nothing a reader cannot page back to.
    this.deps.publish(this.channelOf(entry.scope), entry).catch((err) => this.deps.log.warn({ err, scope: entry.scope }, 'live activity publish failed'));
    return entry;
  }

  /** A page of a scope's feed, newest first. */
  async list(scope: string, query: { limit?: number; cursor?: string } = {}): Promise<ActivityPage> {
    const s = parseWith(scopeSchema, scope, 'scope');
    return this.page(query, (q) => this.deps.store.list(s, q));
  }

  /**
   * A page of every scope's entries, newest first, each with its `scope`: the operator's
   * view, for the server API (`GET /api/v1/activity?scope=*`) and the dashboard. Clients
   * never get it: over the protocol they read one scope at a time, under its channel's rules.
   */
  async recent(query: { limit?: number; cursor?: string } = {}): Promise<ActivityPage> {
    return this.page(query, (q) => this.deps.store.recent(q));
  }

  private async page(query: { limit?: number; cursor?: string }, read: (q: { limit: number; cursor?: string }) => Promise<ActivityPage>): Promise<ActivityPage> {
    checkLimit(query.limit, 1, 100);
    try {
      return await read({ limit: query.limit ?? 20, ...(query.cursor !== undefined ? { cursor: query.cursor } : {}) });
    } catch (err) {
      if (err instanceof BadCursorError) throw new TidingsError(ErrorCode.BadRequest, err.message);
      throw err;
    }
  }

  close(): void {
    clearInterval(this.sweep);
  }
}
