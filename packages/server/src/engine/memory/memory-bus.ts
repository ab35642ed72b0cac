/**
 * The memory NodeBus: nodes in one process (the nodes of a MemoryCluster, or the primary's
 * relay for `tidings serve --workers`) share one hub. Delivery is asynchronous, through one
 * FIFO queue per hub drained on setImmediate, so messages from one node to another arrive in
 * the order they were sent; messages and answers are copied as JSON, as a process boundary
 * would, so data that would not survive a real transport fails here too.
 */
import { askAll } from '../bus-support.js';
import { BusRequestError, type BusHandler, type BusMessage, type NodeAnswer, type NodeBus, type NodeInfo } from '../node-bus.js';

export interface MemoryBusOptions {
  /** A node whose last heartbeat is older than this drops out of `nodes()`. */
  nodeTtlMs: number;
}

const copy = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

function remoteError(err: unknown): { message: string; code?: string } {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? { message, code } : { message };
}

export class MemoryBusHub {
  readonly nodeTtlMs: number;
  private readonly members = new Map<string, BusHandler>();
  private readonly beats = new Map<string, NodeInfo>();
  private readonly queue: Array<() => void> = [];
  private draining = false;

  constructor(options: MemoryBusOptions) {
    this.nodeTtlMs = options.nodeTtlMs;
  }

  /** A handle for one node; it joins with `start`. */
  node(): NodeBus {
    return new MemoryNodeBus(this);
  }

  /** @internal */ join(id: string, handler: BusHandler): void {
    if (this.members.has(id)) throw new Error(`node ${id} is already on the bus`);
    this.members.set(id, handler);
  }

  /** @internal */ leave(id: string): void {
    this.members.delete(id);
    this.beats.delete(id);
  }

  /** @internal */ handlerOf(id: string): BusHandler | undefined {
    return this.members.get(id);
  }

  /** @internal */ memberIds(): string[] {
    return [...this.members.keys()].sort();
  }

  /** @internal */ beat(info: NodeInfo): void {
    if (this.members.has(info.id)) this.beats.set(info.id, info);
  }

  /** @internal */ live(): NodeInfo[] {
    const oldest = Date.now() - this.nodeTtlMs;
    for (const [id, info] of this.beats) if (info.lastHeartbeat <= oldest) this.beats.delete(id);
    return [...this.beats.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((info) => ({ ...info }));
  }

  /** @internal Runs `task` after the current one, in the order enqueued. */
  enqueue(task: () => void): void {
    this.queue.push(task);
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => {
      // Tasks enqueued while draining run in this same pass, still in order.
      for (let i = 0; i < this.queue.length; i++) {
        try {
          this.queue[i]!();
        } catch {
          // Each task handles its own errors; one that slips through must not stop the others.
        }
      }
      this.queue.length = 0;
      this.draining = false;
    });
  }
}

class MemoryNodeBus implements NodeBus {
  private id: string | undefined;
  private closed = false;
  private readonly pending = new Set<(err: Error) => void>();

  constructor(private readonly hub: MemoryBusHub) {}

  async start(nodeId: string, handler: BusHandler): Promise<void> {
    if (this.id !== undefined || this.closed) throw new Error('NodeBus.start: called twice or after close');
    this.hub.join(nodeId, handler);
    this.id = nodeId;
  }

  private self(): string {
    if (this.closed) throw new BusRequestError('the bus is closed', 'closed');
    if (this.id === undefined) throw new Error('NodeBus: start() first');
    return this.id;
  }

  /** Delivers to `to` if it is still on the bus when the message arrives. */
  private deliver(to: string, message: BusMessage): void {
    const from = this.self();
    const data = copy(message);
    this.hub.enqueue(() => {
      const handler = this.hub.handlerOf(to);
      if (!handler) return;
      try {
        const result = handler.onMessage(data, from);
        if (result instanceof Promise) result.catch(() => {});
      } catch {
        // A message without an answer has nobody to tell.
      }
    });
  }

  async broadcast(message: BusMessage): Promise<void> {
    this.self();
    for (const to of this.hub.memberIds()) this.deliver(to, message);
  }

  async send(nodeId: string, message: BusMessage): Promise<void> {
    this.self();
    if (!this.hub.handlerOf(nodeId)) throw new BusRequestError(`unknown node ${nodeId}`, 'unknown_node');
    this.deliver(nodeId, message);
  }

  request(nodeId: string, message: BusMessage, timeoutMs: number): Promise<unknown> {
    let from: string;
    try {
      from = this.self();
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.hub.handlerOf(nodeId)) return Promise.reject(new BusRequestError(`unknown node ${nodeId}`, 'unknown_node'));
    const data = copy(message);
    return new Promise<unknown>((resolve, reject) => {
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(fail);
        fn();
      };
      const fail = (err: Error) => finish(() => reject(err));
      const timer = setTimeout(() => fail(new BusRequestError(`node ${nodeId} did not answer ${message.type} within ${timeoutMs} ms`, 'timeout')), timeoutMs);
      this.pending.add(fail);
      this.hub.enqueue(() => {
        const handler = this.hub.handlerOf(nodeId);
        if (!handler) return fail(new BusRequestError(`unknown node ${nodeId}`, 'unknown_node'));
        let answer: unknown;
        try {
          answer = handler.onMessage(data, from);
        } catch (err) {
          answer = Promise.reject(err);
        }
        Promise.resolve(answer).then(
          (value) => {
            let copied: unknown;
            try {
              copied = copy(value);
            } catch (err) {
              return fail(new BusRequestError(`node ${nodeId} answered what JSON cannot carry: ${(err as Error).message}`, 'remote'));
            }
            // The answer travels back like a message: after what the target sent before it.
            this.hub.enqueue(() => finish(() => resolve(copied)));
          },
          (err: unknown) => {
            const { message: text, code } = remoteError(err);
            this.hub.enqueue(() => fail(new BusRequestError(text, 'remote', code)));
          },
        );
      });
    });
  }

  async requestAll(message: BusMessage, timeoutMs: number): Promise<NodeAnswer[]> {
    this.self();
    const targets = this.hub.memberIds();
    return askAll(targets, (node) => this.request(node, message, timeoutMs));
  }

  async heartbeat(info: Omit<NodeInfo, 'lastHeartbeat'>): Promise<void> {
    const id = this.self();
    this.hub.beat({ ...(copy(info) as NodeInfo), id, lastHeartbeat: Date.now() });
  }

  async nodes(): Promise<NodeInfo[]> {
    this.self();
    return this.hub.live();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.id !== undefined) this.hub.leave(this.id);
    for (const fail of [...this.pending]) fail(new BusRequestError('the bus is closed', 'closed'));
  }
}
