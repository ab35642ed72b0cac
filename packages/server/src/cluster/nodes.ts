/**
 * This node's membership in the deployment: it joins the engine's NodeBus under its node id,
 * heartbeats its NodeInfo every `cluster.heartbeatInterval`, and answers bus messages by
 * their `type`, dispatching to the handlers other parts register (steering, inspection,
 * forwarded HTTP-session commands). The rest of the node asks the other nodes through here.
 */
import { hostname } from 'node:os';
import type { TidingsConfig } from '../config/schema.js';
import type { Engine } from '../engine/engine.js';
import { BusRequestError, type BusMessage, type NodeAnswer, type NodeBus, type NodeInfo } from '../engine/node-bus.js';
import type { Logger } from '../log.js';

export type { NodeInfo };

/** Answers one type of bus message: the returned value (or promise) answers a request. */
export type BusMessageHandler = (message: BusMessage, from: string) => unknown;

/** Dispatches bus messages by `type` to the handler registered for it. */
export class NodeBusRouter {
  private readonly handlers = new Map<string, BusMessageHandler>();

  /** Registers the handler of one message type; a type has one handler. */
  handle(type: string, fn: BusMessageHandler): this {
    if (this.handlers.has(type)) throw new Error(`a bus handler for "${type}" is already registered`);
    this.handlers.set(type, fn);
    return this;
  }

  onMessage(message: BusMessage, from: string): unknown {
    const fn = typeof message?.type === 'string' ? this.handlers.get(message.type) : undefined;
    if (!fn) throw Object.assign(new Error(`no handler for bus message type "${String(message?.type)}"`), { code: 'unknown_type' });
    return fn(message, from);
  }
}

export interface ClusterNodesOptions {
  nodeId: string;
  bus: NodeBus;
  heartbeatIntervalMs: number;
  /** How long a request to other nodes waits for their answers. */
  requestTimeoutMs: number;
  /** Connections open on this node now (for the heartbeat). */
  connections(): number;
  /** Extra fields of this node's heartbeat (e.g. `{ worker: 2, role: 'worker' }`), or a function read at every heartbeat; the standard fields win over them. */
  labels?: NodeLabels | (() => NodeLabels);
  log: Logger;
}

/** Extra fields a node reports in its heartbeat, listed by `GET /api/v1/nodes` (createTidings option `nodeInfo`). */
export type NodeLabels = Readonly<Record<string, string | number | boolean>>;

export class ClusterNodes {
  readonly router = new NodeBusRouter();
  readonly nodeId: string;
  private readonly startedAt = Date.now();
  private readonly started: Promise<boolean>;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: ClusterNodesOptions) {
    this.nodeId = options.nodeId;
    this.started = this.start();
  }

  private async start(): Promise<boolean> {
    const { bus, nodeId, log } = this.options;
    try {
      await bus.start(nodeId, this.router);
      await this.beat();
    } catch (err) {
      log.error({ err }, 'joining the node bus failed: cluster-wide actions reach this node only');
      return false;
    }
    if (this.closed) return false;
    this.timer = setInterval(() => void this.beat(), this.options.heartbeatIntervalMs);
    this.timer.unref();
    return true;
  }

  /** This node's heartbeat: what `nodes()` lists for it. */
  info(): { id: string; pid: number; host: string; startedAt: number; connections: number; [label: string]: unknown } {
    const labels = this.options.labels;
    return { ...(typeof labels === 'function' ? labels() : labels), id: this.nodeId, pid: process.pid, host: hostname(), startedAt: this.startedAt, connections: this.options.connections() };
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    try {
      await this.options.bus.heartbeat(this.info());
    } catch (err) {
      if (!this.closed) this.options.log.warn({ err }, 'node heartbeat failed');
    }
  }

  /**
   * Asks every node (this one included) and returns their answers. Nodes that failed or did
   * not answer within the request timeout are logged and left out. If this node could not
   * join the bus, only this node is asked (directly).
   */
  async askAll(message: BusMessage, timeoutMs = this.options.requestTimeoutMs): Promise<Array<{ node: string; value: unknown }>> {
    if (!(await this.started)) return [{ node: this.nodeId, value: await this.router.onMessage(message, this.nodeId) }];
    const answers: NodeAnswer[] = await this.options.bus.requestAll(message, timeoutMs);
    const ok: Array<{ node: string; value: unknown }> = [];
    for (const a of answers) {
      if (a.error) {
        // This node's own failure is an error of the call (bad input fails the same everywhere).
        if (a.node === this.nodeId && a.error.code !== 'timeout') throw Object.assign(new Error(a.error.message), a.error.code ? { code: a.error.code } : {});
        this.options.log.warn({ node: a.node, type: message.type, error: a.error }, 'a node did not answer a cluster request');
      } else ok.push({ node: a.node, value: a.value });
    }
    return ok;
  }

  /** Sends a message to every node (this one included), answered by nobody; only to this one if it could not join the bus. */
  async broadcast(message: BusMessage): Promise<void> {
    if (!(await this.started)) return void (await this.router.onMessage(message, this.nodeId));
    await this.options.bus.broadcast(message);
  }

  /** Asks one node (waiting `timeoutMs`, by default the request timeout); rejects with BusRequestError (unknown_node, timeout, remote). */
  async ask(nodeId: string, message: BusMessage, timeoutMs = this.options.requestTimeoutMs): Promise<unknown> {
    if (!(await this.started)) {
      if (nodeId !== this.nodeId) throw new BusRequestError(`unknown node ${nodeId}`, 'unknown_node');
      return this.router.onMessage(message, this.nodeId);
    }
    return this.options.bus.request(nodeId, message, timeoutMs);
  }

  /** Live nodes of the deployment, sorted by id (this one is listed from its first heartbeat on). */
  async nodes(): Promise<NodeInfo[]> {
    if (!(await this.started)) return [{ ...this.info(), lastHeartbeat: Date.now() }];
    return this.options.bus.nodes();
  }

  /** Stops heartbeating; the node leaves the bus when its engine handle closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.started;
  }
}

/** Joins this node to its deployment over the engine's bus, with the `cluster` settings. */
export function joinCluster(options: { config: TidingsConfig; nodeId: string; engine: Pick<Engine, 'bus'>; connections(): number; labels?: NodeLabels | (() => NodeLabels) | undefined; log: Logger }): ClusterNodes {
  const { config, nodeId, engine, connections, labels, log } = options;
  const { heartbeatInterval: heartbeatIntervalMs, requestTimeout: requestTimeoutMs } = config.cluster;
  return new ClusterNodes({ nodeId, bus: engine.bus, heartbeatIntervalMs, requestTimeoutMs, connections, ...(labels ? { labels } : {}), log });
}
