/**
 * Merging the nodes' answers into the deployment's: the channel listing (a union, subscriber
 * counts summed) and the stats (sums, with each node's own figures beside them). The inspector
 * asks every node over the NodeBus and hands the answers here.
 */
export interface ChannelListing {
  channels: { channel: string; subscribers: number }[];
  /** Pass as `cursor` to get the next page; absent on the last page. */
  nextCursor?: string;
}

/** One node's own figures, as `GET /api/v1/stats` lists them under `nodes`. */
export interface NodeFigures {
  nodeId: string;
  version: string;
  uptimeSeconds: number;
  connectedSockets: number;
  onlineUsers: number;
  activeRooms: number;
  publicationsInPerSecond: number;
  publicationsOutPerSecond: number;
  publicationsInTotal: number;
  publicationsOutTotal: number;
  connectsTotal: number;
  disconnectsTotal: number;
  badRequestsTotal: number;
  slowDisconnectsTotal: number;
  /** Resident memory of the process, bytes. */
  memoryRssBytes: number;
  /** V8 heap in use, bytes. */
  heapUsedBytes: number;
}

/** The deployment's users, from the engine's user status store (each user once). */
export interface UserTotals {
  /** Users online or away on any node (a user on two nodes counts once). */
  connectedUsers: number;
  /** Users connected now or seen within `status.lastSeenTtl`. */
  totalUsers: number;
}

/**
 * The deployment's stats: every figure summed over the nodes that answered (`nodeId` and
 * `version` are the answering node's, `uptimeSeconds` the longest-running node's). A user
 * connected to two nodes counts in `onlineUsers` on each, a channel with subscribers on two
 * counts in `activeRooms` on each: `nodes` has each node's own figures. With one node the
 * figures are that node's. `connectedUsers` and `totalUsers` are the deployment's, each user once.
 */
export interface NodeStats extends NodeFigures, UserTotals {
  /** Each node's own figures, sorted by node id. */
  nodes: NodeFigures[];
}

const SUMMED = [
  'connectedSockets', 'onlineUsers', 'activeRooms', 'publicationsInPerSecond', 'publicationsOutPerSecond', 'publicationsInTotal', 'publicationsOutTotal',
  'connectsTotal', 'disconnectsTotal', 'badRequestsTotal', 'slowDisconnectsTotal', 'memoryRssBytes', 'heapUsedBytes',
] as const satisfies ReadonlyArray<keyof NodeFigures>;

function isFigures(v: unknown): v is NodeFigures {
  const f = v as Partial<NodeFigures> | null;
  return typeof f === 'object' && f !== null && typeof f.nodeId === 'string' && SUMMED.every((k) => typeof f[k] === 'number');
}

/** The deployment's stats from the answering node's figures, every node's answer (its own among them) and the user totals. */
export function mergeStats(own: NodeFigures, answers: readonly unknown[], users: UserTotals): NodeStats {
  const byNode = new Map<string, NodeFigures>([[own.nodeId, own]]);
  for (const a of answers) if (isFigures(a) && a.nodeId !== own.nodeId) byNode.set(a.nodeId, a);
  const nodes = [...byNode.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  const merged: NodeStats = { ...own, uptimeSeconds: Math.max(...nodes.map((n) => n.uptimeSeconds)), ...users, nodes };
  for (const key of SUMMED) merged[key] = nodes.reduce((sum, n) => sum + n[key], 0);
  return merged;
}

/**
 * One page of the deployment's channels from each node's first `limit` channels after the
 * cursor: their union sorted by name, subscriber counts summed, the first `limit` of it. (A
 * channel among the union's first `limit` is among the first `limit` of every node that has
 * it, so its count is complete.)
 */
export function mergeChannelPages(pages: readonly unknown[], limit: number): ChannelListing {
  const counts = new Map<string, number>();
  let more = false;
  for (const p of pages) {
    const page = p as Partial<ChannelListing> | null;
    if (!page || !Array.isArray(page.channels)) continue;
    if (typeof page.nextCursor === 'string') more = true;
    for (const c of page.channels) {
      if (typeof c?.channel !== 'string' || typeof c.subscribers !== 'number') continue;
      counts.set(c.channel, (counts.get(c.channel) ?? 0) + c.subscribers);
    }
  }
  const names = [...counts.keys()].sort();
  const page = names.slice(0, limit);
  const listing: ChannelListing = { channels: page.map((channel) => ({ channel, subscribers: counts.get(channel)! })) };
  if ((more || names.length > limit) && page.length > 0) listing.nextCursor = page[page.length - 1]!;
  return listing;
}
