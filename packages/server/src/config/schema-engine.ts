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
    /** Redis: connect to a Redis Cluster (`true`: `url` is the seed node; a list: the seed nodes' URLs). */
    cluster: z
      .union([z.boolean(), z.array(z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')).min(1)])
      .default(false),
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
  .refine((e) => e.type !== 'redis' || e.url !== '' || Array.isArray(e.cluster), { message: 'engine.type redis needs engine.url', path: ['url'] })
  .refine((e) => e.cluster === false || e.db === 0, { message: 'must be 0 with engine.cluster (Redis Cluster has only database 0)', path: ['db'] });

export type EngineConfig = z.output<typeof engineSchema>;

/** What `clusterIssues` reads of the whole configuration. */
interface BudgetSettings {
  engine: EngineConfig;
  history: { maxBytes: number; maxBytesPerUser: number; maxStreams: number };
  namespaces: Record<string, { history?: { maxBytes?: number | undefined } | undefined }>;
}

/**
 * On Redis Cluster (`engine.cluster`) the history byte budgets and `history.maxStreams` cannot be
 * kept: one publish would have to update counters and indexes of other hash tags (other slots,
 * other primaries) atomically. Each one still set is a problem naming its key (it must be 0).
 */
export function clusterIssues(cfg: BudgetSettings): { path: (string | number)[]; message: string }[] {
  if (cfg.engine.type !== 'redis' || cfg.engine.cluster === false) return [];
  const why = 'must be 0 with engine.cluster: on Redis Cluster a history budget would span several slots';
  const issues: { path: (string | number)[]; message: string }[] = [];
  if (cfg.history.maxBytes > 0) issues.push({ path: ['history', 'maxBytes'], message: why });
  if (cfg.history.maxBytesPerUser > 0) issues.push({ path: ['history', 'maxBytesPerUser'], message: why });
  if (cfg.history.maxStreams > 0) issues.push({ path: ['history', 'maxStreams'], message: 'must be 0 with engine.cluster: on Redis Cluster the streams bound would span several slots' });
  for (const [name, ns] of Object.entries(cfg.namespaces)) {
    if ((ns.history?.maxBytes ?? 0) > 0) issues.push({ path: ['namespaces', name, 'history', 'maxBytes'], message: why });
  }
  return issues;
}
