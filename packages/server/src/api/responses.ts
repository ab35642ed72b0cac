/**
 * What the server API's successes hold (`{"data": …}`), as zod schemas for the OpenAPI
 * document (api/openapi.ts): one per shape the routes answer. Objects may gain fields
 * (the document does not close them); the server-api tests parse real answers with these.
 */
import { z } from 'zod';
import { NOTIFICATION_TYPE_PATTERN, NOTIFICATION_TYPES } from '@tidings/protocol';

const ms = z.number().int().describe('ms since the epoch');
const iso = z.string().describe('ISO 8601 date-time');
const cursor = z.string().optional().describe('Pass as `cursor` to get the next page; absent on the last page.');

export const publishResult = z.object({
  offset: z.number().int().optional().describe('Offset given to the publication, when the channel keeps history'),
  epoch: z.string().optional(),
  deduplicated: z.boolean().optional().describe('True when an earlier publish with the same idempotency key was found'),
});

export const broadcastResult = z.object({
  results: z.array(
    publishResult.extend({
      channel: z.string(),
      error: z.object({ code: z.string(), message: z.string() }).optional(),
    }),
  ),
  connections: z.number().int().optional().describe('With `event` alone: the connections on every node the broadcast push went to'),
});

export const health = z.object({
  status: z.enum(['healthy', 'shutting_down']),
  timestamp: iso,
  stats: z.object({ connectedSockets: z.number().int(), onlineUsers: z.number().int(), activeRooms: z.number().int() }),
});

export const readiness = z.object({ ready: z.boolean(), reason: z.string().optional() });

export const channelListing = z.object({ channels: z.array(z.object({ channel: z.string(), subscribers: z.number().int() })), nextCursor: cursor });

export const channelInfo = z.object({
  channel: z.string(),
  subscribers: z.number().int().describe('Subscribers on every node'),
  presence: z.unknown().optional().describe('The presence of the channel, when its namespace keeps presence'),
  viewingUsers: z.array(z.object({ userId: z.string(), info: z.record(z.string(), z.unknown()).optional(), status: z.string(), lastSeen: iso, state: z.unknown().optional(), clients: z.number().int() })).optional(),
  totalViewing: z.number().int().optional(),
  typingUsers: z.array(z.string()).optional().describe('When the namespace has typing indicators'),
});

const clientInfo = z.object({ user: z.string(), client: z.string(), info: z.record(z.string(), z.unknown()).optional() });

export const historyPage = z.object({
  epoch: z.string(),
  offset: z.number().int().describe('Offset of the newest publication in the stream'),
  publications: z.array(
    z.object({
      offset: z.number().int().optional(),
      data: z.unknown(),
      info: clientInfo.optional(),
      event: z.string().optional().describe('The publication\'s event name, when it was published with one'),
      replyTo: z.number().int().optional().describe('A reply: the offset of the message it answers'),
      op: z
        .object({ type: z.enum(['edit', 'delete', 'annotate', 'unannotate']), ref: z.number().int(), kind: z.string().optional(), name: z.string().optional() })
        .optional()
        .describe('A message operation on the message at `ref` (kept at its own offset; already folded into that message when it is in the page)'),
      version: z.number().int().optional().describe('The offset of the edit (or delete) whose content `data` now is'),
      deleted: z.literal(true).optional(),
      annotations: z.record(z.string(), z.record(z.string(), z.object({ count: z.number().int(), users: z.array(z.string()) }))).optional().describe('By kind, then name: how many users, and who'),
    }),
  ),
});

export const unsubscribed = z.object({ unsubscribed: z.number().int() });
export const disconnected = z.object({ disconnected: z.number().int() });

export const userStatus = z.object({ userId: z.string(), info: z.record(z.string(), z.unknown()).optional(), isOnline: z.boolean(), status: z.string(), lastSeen: iso.nullable() });

export const onlineUsers = z.object({ count: z.number().int(), users: z.array(userStatus), nextCursor: cursor });

export const connections = z.object({
  connections: z.array(
    z.object({
      client: z.string(),
      node: z.string(),
      user: z.string(),
      transport: z.string(),
      ip: z.string(),
      userAgent: z.string().optional(),
      connectedAt: iso,
      subscriptions: z.number().int(),
      status: z.string(),
    }),
  ),
  nextCursor: cursor,
});

export const nodes = z.object({
  nodes: z.array(z.object({ id: z.string(), pid: z.number().int(), host: z.string(), startedAt: iso, connections: z.number().int(), lastHeartbeat: iso })),
});

const nodeFigures = z.object({
  nodeId: z.string(),
  version: z.string(),
  uptimeSeconds: z.number(),
  connectedSockets: z.number().int(),
  onlineUsers: z.number().int(),
  activeRooms: z.number().int(),
  publicationsInPerSecond: z.number(),
  publicationsOutPerSecond: z.number(),
  publicationsInTotal: z.number().int(),
  publicationsOutTotal: z.number().int(),
  connectsTotal: z.number().int(),
  disconnectsTotal: z.number().int(),
  badRequestsTotal: z.number().int(),
  slowDisconnectsTotal: z.number().int(),
  memoryRssBytes: z.number().int(),
  heapUsedBytes: z.number().int(),
});

export const stats = nodeFigures.extend({
  connectedUsers: z.number().int().describe('Distinct users online or away on any node, each counted once (`onlineUsers` sums the nodes and counts a user on two nodes twice); a user whose last connection closed counts until `presence.leaveGrace` ends'),
  totalUsers: z.number().int().describe('Users connected now or seen within `status.lastSeenTtl` (default 30 days): users the deployment knows, not every user of the application'),
  nodes: z.array(nodeFigures).describe("Each node's own figures, sorted by node id"),
});

export const notification = z.object({
  id: z.string(),
  user: z.string(),
  type: z
    .string()
    .regex(NOTIFICATION_TYPE_PATTERN)
    .describe(`One of ${NOTIFICATION_TYPES.join(', ')} or any application type: 1..64 of letters, digits, _ . : - (e.g. task.assigned)`),
  title: z.string(),
  message: z.string().optional(),
  data: z.unknown().optional(),
  actions: z.array(z.object({ label: z.string(), action: z.string(), style: z.enum(['primary', 'secondary', 'danger']).optional() })).optional(),
  priority: z.enum(['low', 'normal', 'high', 'urgent']),
  createdAt: ms,
  expiresAt: ms.optional(),
  read: z.boolean(),
  readAt: ms.optional(),
});

export const notifyResult = z.object({ notifications: z.array(notification), deduplicated: z.boolean() });

export const notificationPage = z.object({
  notifications: z.array(notification),
  nextCursor: cursor,
  unread: z.number().int(),
  total: z.number().int(),
  unreadByType: z.record(z.string(), z.number().int()).describe('Unread per notification `type`: only types with at least one unread (`{}` when none)'),
});

export const markReadResult = z.object({ updated: z.number().int(), unread: z.number().int() });
export const removeResult = z.object({ deleted: z.number().int(), unread: z.number().int() });

export const activity = z.object({
  id: z.string(),
  scope: z.string(),
  type: z.string(),
  actor: z.unknown().optional(),
  action: z.string(),
  target: z.unknown().optional(),
  data: z.unknown().optional(),
  createdAt: ms,
});

export const activityPage = z.object({ activities: z.array(activity), nextCursor: cursor });

export const auditPage = z.object({
  events: z.array(z.object({ id: z.number().int(), time: ms, type: z.string() }).catchall(z.unknown())),
  nextCursor: cursor,
});

export const jobProgress = z.object({
  jobId: z.string(),
  percent: z.number(),
  stage: z.string().optional(),
  done: z.boolean(),
  error: z.string().optional(),
  data: z.unknown().optional(),
  updatedAt: ms,
});

export const jobs = z.object({ jobs: z.array(jobProgress) });

/** The OpenAPI document itself (`GET /openapi.json` answers it bare, for the tools that read it). */
export const openApi = z.object({ openapi: z.string(), info: z.record(z.string(), z.unknown()), paths: z.record(z.string(), z.unknown()) });
