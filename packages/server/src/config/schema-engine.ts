/**
 * The section of the configuration schema for the engine: what the nodes of a deployment share
 * (channel streams, presence, user status, the node bus, shared limits). `memory`: this process
 * only (one node, or the primary of `tidings serve --workers`); `redis`: one Redis every node uses.
 */
import { z } from 'zod';
import { duration } from './schema-values.js';

export const engineSchema = z
  .strictObject({
    /** `memory`: state in this process; `redis`: state in Redis, shared by every node of the deployment. */
    type: z.enum(['memory', 'redis']).default('memory'),
    /** Redis: `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS. */
    url: z
      .string()
      .default('')
      .refine((u) => u === '' || /^rediss?:\/\//.test(u), { message: 'expected a redis:// or rediss:// URL' }),
    /** Redis: prefix of every key and pub/sub channel (deployments sharing one Redis use different ones). */
    prefix: z
      .string()
      .regex(/^[^{}\s]{1,64}$/, 'expected 1-64 characters without "{", "}" or spaces')
      .default('tidings'),
    /** Redis: ACL user; empty: the URL's (or none). */
    username: z.string().default(''),
    /** Redis: password; empty: the URL's (or none). */
    password: z.string().default(''),
    /** Redis: TLS (also on with a rediss:// URL); PEM text or file paths for a private CA or mutual TLS. */
    tls: z
      .strictObject({
        enabled: z.boolean().default(false),
        ca: z.string().default(''),
        cert: z.string().default(''),
        key: z.string().default(''),
        rejectUnauthorized: z.boolean().default(true),
      })
      .prefault({}),
    /** Redis: database number (Redis Cluster has only 0). */
    db: z.number().int().min(0).max(1_000_000).default(0),
    /** Redis: sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7+), for Redis Cluster. */
    sharded: z.boolean().default(false),
    /** Redis: longest wait for a connection; while Redis does not answer, calls fail at once and the node is not ready. */
    connectTimeout: duration('5s'),
    /** Redis: longest wait for one command's reply; past it the call fails as unavailable (a paused or overloaded Redis). */
    commandTimeout: duration('2s'),
    /** Redis: how often the pub/sub connection is probed (a message to itself), so a dead one is found and replaced. */
    probeInterval: duration('5s'),
    /** Redis: how long a probe may take before the pub/sub connection counts as dead. */
    probeTimeout: duration('2s'),
  })
  .prefault({})
  .refine((e) => e.type !== 'redis' || e.url !== '', { message: 'engine.type redis needs engine.url', path: ['url'] });

export type EngineConfig = z.output<typeof engineSchema>;
