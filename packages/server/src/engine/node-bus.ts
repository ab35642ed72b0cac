/**
 * The NodeBus carries control messages between the nodes of one deployment: admin actions
 * (disconnect a user, end a user's subscriptions), inspection (connection listings, stats),
 * forwarded HTTP-session commands and node heartbeats. Publications never travel here; they
 * go through the Broker.
 *
 * Implementations: the memory bus (nodes in one process share it, see
 * `engine/memory/memory-cluster.ts`), the IPC bus of `tidings serve --workers` (the primary
 * relays) and, later, a Redis one. Every implementation passes node-bus.contract.ts, with
 * one node and with two.
 */

/** A message between nodes: `type` names the handler; the rest is JSON-encodable data. */
export interface BusMessage {
  type: string;
  [key: string]: unknown;
}

/** What a node answers and receives on the bus. */
export interface BusHandler {
  /**
   * A message for this node (broadcast or sent to it). For a `request`, the value returned
   * (or the promise's value) is the answer; a throw (or rejection) becomes the requester's
   * rejection with the same message (and `code`, when the error has a string `code`).
   */
  onMessage(message: BusMessage, from: string): unknown;
}

/** A live node as heartbeats report it. */
export interface NodeInfo {
  id: string;
  pid: number;
  host: string;
  /** Milliseconds since the epoch. */
  startedAt: number;
  connections: number;
  /** Milliseconds since the epoch of the node's last heartbeat. */
  lastHeartbeat: number;
  /** Free-form extras (worker index, version). */
  [key: string]: unknown;
}

/** One node's answer to `requestAll`. */
export type NodeAnswer = { node: string; value: unknown; error?: undefined } | { node: string; value?: undefined; error: { message: string; code?: string } };

/** A request the bus could not answer: the node is unknown or gone, or it did not answer in time. */
export class BusRequestError extends Error {
  constructor(
    message: string,
    readonly code: 'unknown_node' | 'timeout' | 'remote' | 'closed',
    readonly remoteCode?: string,
  ) {
    super(message);
    this.name = 'BusRequestError';
  }
}

/**
 * Guarantees every implementation keeps:
 * - Messages from one node to another arrive in the order they were sent, each at most once.
 * - `broadcast` reaches every live node, the sender included (so one code path acts locally and remotely).
 * - `request` resolves with the target's answer or rejects with `BusRequestError` within
 *   `timeoutMs`: `unknown_node` at once for a node the bus has never seen or saw leave,
 *   `timeout` when no answer came, `remote` when the handler threw.
 * - `requestAll` asks every live node (the sender included) and resolves within `timeoutMs`
 *   with one answer per node that answered or failed; a node that did not answer in time
 *   appears with error code `timeout`.
 * - `nodes` lists nodes whose last heartbeat is younger than the bus's node TTL; a node that
 *   stops heartbeating (crashed, killed) drops out of the list within that TTL.
 */
export interface NodeBus {
  /** Joins the bus as `nodeId`; messages for it go to `handler`. Called once, before anything else. */
  start(nodeId: string, handler: BusHandler): Promise<void>;
  broadcast(message: BusMessage): Promise<void>;
  send(nodeId: string, message: BusMessage): Promise<void>;
  request(nodeId: string, message: BusMessage, timeoutMs: number): Promise<unknown>;
  requestAll(message: BusMessage, timeoutMs: number): Promise<NodeAnswer[]>;
  /** Publishes this node's heartbeat (its info with `lastHeartbeat` set by the bus). */
  heartbeat(info: Omit<NodeInfo, 'lastHeartbeat'>): Promise<void>;
  /** Live nodes, sorted by id. */
  nodes(): Promise<NodeInfo[]>;
  /** Leaves the bus: other nodes stop listing this one. */
  close(): Promise<void>;
}
