/**
 * Request/answer and events over a Link, between "peers": one peer per node at each end,
 * named by a node id that every message carries (so several nodes share one link).
 *
 * - `call(part, method, args)` resolves with the other side's answer or rejects with its
 *   error, rebuilt as the same class (rpc-errors.ts). Only data crosses: arguments and answers
 *   are JSON-like values; a top-level `undefined` argument arrives as `undefined` (not `null`).
 * - `emit(part, name, args)` is a one-way event; events and answers of one peer arrive in the
 *   order they were sent (the link keeps order), and incoming calls are invoked in arrival order.
 * - When the link closes, or a peer ends, its pending calls reject at once with
 *   `failure(error, part, method)` and later calls reject the same way.
 * - A node opens with a call to the link's opener for its service (`Router.serve`), the
 *   host side of `serveEngine` / `serveStores`.
 */
import { LinkClosedError, type Link } from './link.js';
import { fromWireError, toWireError, type WireError } from './rpc-errors.js';

type Message =
  | { t: 'call'; n: string; i: number; p: string; m: string; a: unknown[]; u?: number[] }
  | { t: 'ret'; n: string; i: number; v?: unknown }
  | { t: 'err'; n: string; i: number; e: WireError }
  | { t: 'ev'; n: string; p: string; m: string; a: unknown[]; u?: number[] };

export interface PeerHandlers {
  /** Serves the other side's calls; a returned promise is awaited; a throw becomes the caller's rejection. */
  serve?(part: string, method: string, args: unknown[]): unknown;
  /** Receives the other side's events. */
  event?(part: string, name: string, args: unknown[]): void;
  /** The peer ended (link closed or `end` called): called once. */
  ended?(error: Error): void;
  /** The error pending and later calls reject with once the peer ended (default: the link's error). */
  failure?(error: Error, part: string, method: string): Error;
}

/** Serves the opening call of a node of `service`: returns the new host-side peer's handlers (or a promise of them). */
export type Opener = (node: string, options: unknown, peer: RpcPeer) => PeerHandlers | Promise<PeerHandlers>;

function encodeArgs(args: unknown[]): { a: unknown[]; u?: number[] } {
  let u: number[] | undefined;
  for (let i = 0; i < args.length; i++) if (args[i] === undefined) (u ??= []).push(i);
  return u ? { a: args, u } : { a: args };
}

function decodeArgs(a: unknown[], u: number[] | undefined): unknown[] {
  if (u) for (const i of u) a[i] = undefined;
  return a;
}

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as { then?: unknown } | null)?.then === 'function';

/** The one router of a link: sends for peers, routes what arrives to them by node id. */
export class Router {
  private readonly peers = new Map<string, RpcPeer>();
  private readonly openers = new Map<string, Opener>();

  constructor(readonly link: Link) {
    link.onMessage((m) => this.route(m as Message));
    link.onClose((error) => {
      for (const peer of [...this.peers.values()]) peer.end(error);
    });
  }

  /** Hosts `service` on this link: each node that opens gets a peer served by `opener`'s handlers. */
  serve(service: string, opener: Opener): void {
    this.openers.set(service, opener);
  }

  /** Registers a peer for `node` (the caller's side); `open` it before calling anything else. */
  peer(node: string, handlers: PeerHandlers): RpcPeer {
    const peer = new RpcPeer(this, node, handlers);
    this.peers.set(node, peer);
    if (this.link.closed) queueMicrotask(() => peer.end(new LinkClosedError('the link was already closed')));
    return peer;
  }

  /** @internal */
  forget(node: string, peer: RpcPeer): void {
    if (this.peers.get(node) === peer) this.peers.delete(node);
  }

  private route(m: Message): void {
    if (typeof m !== 'object' || m === null || typeof m.n !== 'string') return;
    const peer = this.peers.get(m.n);
    if (peer) return peer.receive(m);
    if (m.t !== 'call') return;
    if (m.p === '' && m.m === 'open') return this.open(m);
    this.link.send({ t: 'err', n: m.n, i: m.i, e: toWireError(new LinkClosedError(`no IPC node ${m.n} here (closed or never opened)`)) });
  }

  private open(m: Extract<Message, { t: 'call' }>): void {
    const [service, options] = decodeArgs(m.a, m.u);
    const opener = this.openers.get(String(service));
    const reply = (msg: Message) => this.link.send(msg);
    if (!opener) return reply({ t: 'err', n: m.n, i: m.i, e: toWireError(new Error(`nothing serves ${String(service)} on this IPC link`)) });
    // The peer exists at once so the node's next calls wait in order behind the opening.
    let handlers: PeerHandlers | undefined;
    const backlog: Message[] = [];
    const peer = new RpcPeer(this, m.n, {
      serve: (p, method, args) => handlers!.serve?.(p, method, args),
      event: (p, name, args) => handlers!.event?.(p, name, args),
      ended: (error) => handlers?.ended?.(error),
    });
    peer.hold(backlog);
    this.peers.set(m.n, peer);
    const ready = (h: PeerHandlers) => {
      handlers = h;
      if (peer.endError) return h.ended?.(peer.endError);
      reply({ t: 'ret', n: m.n, i: m.i });
      peer.release();
    };
    const failed = (err: unknown) => {
      reply({ t: 'err', n: m.n, i: m.i, e: toWireError(err) });
      // Calls that came in behind the opening fail with its error, then the node is gone.
      handlers = {
        serve: () => {
          throw err;
        },
      };
      peer.release();
      peer.end(err instanceof Error ? err : new Error(String(err)));
    };
    try {
      const h = opener(m.n, options, peer);
      if (isThenable(h)) (h as Promise<PeerHandlers>).then(ready, failed);
      else ready(h);
    } catch (err) {
      failed(err);
    }
  }
}

const routers = new WeakMap<Link, Router>();

/** The router of `link` (one per link, shared by every engine, store and host using it). */
export function routerFor(link: Link): Router {
  let router = routers.get(link);
  if (!router) routers.set(link, (router = new Router(link)));
  return router;
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: Error): void;
  part: string;
  method: string;
}

export class RpcPeer {
  private seq = 0;
  private readonly pending = new Map<number, PendingCall>();
  private endedWith: Error | undefined;
  private held: Message[] | undefined;

  constructor(
    private readonly router: Router,
    readonly node: string,
    private readonly handlers: PeerHandlers,
  ) {}

  get ended(): boolean {
    return this.endedWith !== undefined;
  }

  /** Why the peer ended, once it has. */
  get endError(): Error | undefined {
    return this.endedWith;
  }

  /** Opens this node on the other side's host for `service`. */
  open(service: string, options?: unknown): Promise<void> {
    return this.call('', 'open', [service, options]) as Promise<void>;
  }

  call(part: string, method: string, args: unknown[]): Promise<unknown> {
    if (this.endedWith) return Promise.reject(this.failure(this.endedWith, part, method));
    const i = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(i, { resolve, reject, part, method });
      this.router.link.send({ t: 'call', n: this.node, i, p: part, m: method, ...encodeArgs(args) }, (error) => {
        if (!this.pending.delete(i)) return;
        reject(error instanceof LinkClosedError ? this.failure(error, part, method) : error);
      });
    });
  }

  /** `size`: the event's JSON length if the caller knows it cheaply (see `Link.send`). */
  emit(part: string, name: string, args: unknown[], size?: number): void {
    if (!this.endedWith) this.router.link.send({ t: 'ev', n: this.node, p: part, m: name, ...encodeArgs(args) }, undefined, size);
  }

  /** Ends the peer: pending calls reject, incoming messages for it are no longer served. */
  end(error: Error): void {
    if (this.endedWith) return;
    this.endedWith = error;
    this.router.forget(this.node, this);
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const c of calls) c.reject(this.failure(error, c.part, c.method));
    this.handlers.ended?.(error);
  }

  /** @internal Queues incoming messages until `release` (a host node still opening). */
  hold(backlog: Message[]): void {
    this.held = backlog;
  }

  /** @internal */
  release(): void {
    const backlog = this.held ?? [];
    this.held = undefined;
    for (const m of backlog) this.receive(m);
  }

  /** @internal */
  receive(m: Message): void {
    if (this.held) {
      this.held.push(m);
      return;
    }
    switch (m.t) {
      case 'ret':
      case 'err': {
        const call = this.pending.get(m.i);
        if (!call) return;
        this.pending.delete(m.i);
        if (m.t === 'ret') call.resolve(m.v);
        else call.reject(fromWireError(m.e));
        return;
      }
      case 'ev':
        this.handlers.event?.(m.p, m.m, decodeArgs(m.a, m.u));
        return;
      case 'call':
        this.serveCall(m);
    }
  }

  private serveCall(m: Extract<Message, { t: 'call' }>): void {
    let result: unknown;
    try {
      if (!this.handlers.serve) throw new Error(`node ${this.node} serves no calls`);
      result = this.handlers.serve(m.p, m.m, decodeArgs(m.a, m.u));
    } catch (err) {
      this.answerError(m.i, err);
      return;
    }
    if (isThenable(result))
      result.then(
        (v) => this.answer(m.i, v),
        (err: unknown) => this.answerError(m.i, err),
      );
    else this.answer(m.i, result);
  }

  private answer(i: number, v: unknown): void {
    const msg: Message = v === undefined ? { t: 'ret', n: this.node, i } : { t: 'ret', n: this.node, i, v };
    // An answer the channel cannot serialize becomes an error answer, so the caller never hangs.
    this.router.link.send(msg, (error) => {
      if (!(error instanceof LinkClosedError)) this.answerError(i, error);
    });
  }

  private answerError(i: number, err: unknown): void {
    this.router.link.send({ t: 'err', n: this.node, i, e: toWireError(err) });
  }

  private failure(error: Error, part: string, method: string): Error {
    if (this.handlers.failure) return this.handlers.failure(error, part, method);
    return error;
  }
}
