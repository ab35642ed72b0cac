/**
 * The sections of the configuration schema for the durable stores and the user-level
 * features kept in them: the database (SQLite or PostgreSQL), notifications, activity feeds, audit, job progress.
 */
import { z } from 'zod';
import { duration, size } from './schema-values.js';

export const storeSchema = z
  .strictObject({
    /** `sqlite`: the embedded database (one node); `postgres`: a PostgreSQL database every node shares. */
    type: z.enum(['sqlite', 'postgres']).default('sqlite'),
    /** SQLite: file of the database; empty: `<dataDir>/tidings.db`. `:memory:` keeps nothing across restarts (tests). */
    path: z.string().default(''),
    /** PostgreSQL: `postgres://user:password@host:5432/database` (libpq parameters such as `sslmode` allowed). */
    url: z
      .string()
      .default('')
      .refine((u) => u === '' || /^postgres(ql)?:\/\//.test(u), { message: 'expected a postgres:// or postgresql:// URL' }),
    /** PostgreSQL: connections each node keeps open at most. */
    poolSize: z.number().int().min(1).max(1000).default(10),
    /** PostgreSQL: longest wait for a connection; a write waiting longer fails (5xx), it does not hang. */
    connectTimeout: duration('5s'),
  })
  .prefault({})
  .refine((s) => s.type !== 'postgres' || s.url !== '', { message: 'store.type postgres needs store.url', path: ['url'] });

export const notificationsSchema = z
  .strictObject({
    /** Notifications kept per user; storing more deletes the oldest. */
    maxPerUser: z.number().int().min(1).default(1000),
    /** Notifications older than this are deleted (0: kept until retention or expiry). */
    maxAge: duration('90d'),
    /** How long `idempotencyKey`s of `/notify` are remembered. */
    idempotencyWindow: duration('24h'),
    /** Recipients of one `/notify`. */
    maxRecipients: z.number().int().min(1).max(10_000).default(1000),
    maxTitleLength: z.number().int().min(1).default(200),
    maxMessageLength: z.number().int().min(1).default(2000),
    /** Largest JSON size of a notification's `data`. */
    maxDataSize: size('16KiB'),
    /** How often expired and old notifications (and old idempotency keys) are deleted. */
    sweepInterval: duration('1m'),
  })
  .prefault({});

export const activitySchema = z
  .strictObject({
    /** Namespace of the live feed channels `<namespace>:<scope>`; added with default rules when not configured. */
    namespace: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 characters of A-Z a-z 0-9 _ -').default('activity'),
    /** Entries kept per scope; appending more deletes the oldest. */
    maxPerScope: z.number().int().min(1).default(1000),
    /** Entries older than this are deleted (0: kept until retention). */
    maxAge: duration('30d'),
    /** Largest JSON size of an entry's `actor`, `target` and `data` together. */
    maxDataSize: size('16KiB'),
  })
  .prefault({});

export const auditSchema = z
  .strictObject({
    /** Store audit events in the database (they are logged either way). */
    store: z.boolean().default(true),
    /** Events older than this are deleted. */
    retention: duration('30d'),
    /** Events kept at most (0: no limit). */
    maxRows: z.number().int().min(0).default(1_000_000),
    /** Events are written in one batch per interval: no connection event costs its own fsync. */
    flushInterval: duration('250ms'),
    /** Events waiting for a batch beyond which new ones are dropped (and counted). */
    maxQueue: z.number().int().min(1).default(100_000),
  })
  .prefault({});

export const progressSchema = z
  .strictObject({
    /** A job's latest state is kept this long after its last update while it runs. */
    ttl: duration('24h'),
    /** ...and this long after it is done. */
    doneTtl: duration('1h'),
    /** Jobs kept per user; reporting more forgets the least recently updated. */
    maxJobsPerUser: z.number().int().min(1).default(100),
  })
  .prefault({});
