/**
 * The rules of one channel namespace (`namespaces.<name>` in the configuration): presence,
 * typing, history and recovery, who may publish and subscribe, limits.
 */
import { z } from 'zod';
import { namespaceProxySchema } from './schema-proxy.js';
import { duration, optionalSize } from './schema-values.js';

export const namespaceSchema = z
  .strictObject({
    presence: z.boolean().default(false),
    joinLeave: z.boolean().default(false),
    typing: z.boolean().default(false),
    history: z
      .strictObject({
        size: z.number().int().min(1).max(100_000),
        ttl: duration('1h'),
        /** Bytes the namespace's stored publications may hold together; beyond it the oldest are evicted. Absent or 0: only `history.maxBytes`. */
        maxBytes: optionalSize(),
      })
      .optional(),
    recover: z.boolean().default(false),
    clientPublish: z.union([z.enum(['none', 'subscribers']), z.array(z.string().min(1)).min(1)]).default('none'),
    allowedRoles: z.array(z.string().min(1)).default([]),
    anonymous: z.boolean().default(false),
    private: z.boolean().default(false),
    maxSubscribers: z.number().int().min(0).default(0),
    rateLimit: z
      .strictObject({
        messages: z.number().int().min(1),
        intervalMs: z.number().int().min(1),
      })
      .optional(),
    /** This namespace's subscribe, publish, subRefresh and rpc proxy hooks, instead of the top-level `proxy` ones. */
    proxy: namespaceProxySchema,
  })
  .superRefine((ns, ctx) => {
    if (ns.recover && !ns.history) ctx.addIssue({ code: 'custom', path: ['recover'], message: 'recover needs history: set history.size' });
    if (ns.joinLeave && !ns.presence) ctx.addIssue({ code: 'custom', path: ['joinLeave'], message: 'joinLeave needs presence: true' });
  });
