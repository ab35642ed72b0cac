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
    /** Chat primitives on this namespace's channels (docs/messaging.md): each off unless set. */
    messaging: z
      .strictObject({
        /** Publishes may reply to a message (`replyTo`). */
        replies: z.boolean().default(false),
        /** Authors may edit and delete their messages. */
        edits: z.boolean().default(false),
        /** Roles (the token's `roles`) that may edit and delete anyone's messages; needs `edits`. */
        moderators: z.array(z.string().min(1)).default([]),
        /** Subscribers may annotate messages (reactions). */
        annotations: z.boolean().default(false),
        /** Users' read receipts (read up to an offset, synced across their devices) and unread counts. */
        readReceipts: z.boolean().default(false),
        /** The channel's subscribers may read each other's receipts (seen-by); needs `readReceipts`. */
        seenBy: z.boolean().default(false),
      })
      .optional(),
  })
  .superRefine((ns, ctx) => {
    if (ns.recover && !ns.history) ctx.addIssue({ code: 'custom', path: ['recover'], message: 'recover needs history: set history.size' });
    if (ns.joinLeave && !ns.presence) ctx.addIssue({ code: 'custom', path: ['joinLeave'], message: 'joinLeave needs presence: true' });
    if (ns.messaging && !ns.history) ctx.addIssue({ code: 'custom', path: ['messaging'], message: 'messaging needs history: set history.size (operations refer to offsets)' });
    if (ns.messaging?.seenBy && !ns.messaging.readReceipts) ctx.addIssue({ code: 'custom', path: ['messaging', 'seenBy'], message: 'seenBy needs readReceipts: true' });
    if (ns.messaging && ns.messaging.moderators.length > 0 && !ns.messaging.edits) ctx.addIssue({ code: 'custom', path: ['messaging', 'moderators'], message: 'moderators needs edits: true' });
  });
