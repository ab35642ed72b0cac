/**
 * Steering connections from the server side (library and server API): disconnect a user or
 * one connection, subscribe a user's connections to a channel or end those subscriptions,
 * broadcast an event to every connection. Each action is checked here, then
 * asked of every node of the deployment over the NodeBus (this one included, through the same
 * path); the answer is the total over the nodes that answered.
 */
import { CloseCode, ErrorCode, UnsubscribeCode, encodeFrame } from '@tidings/protocol';
import type { ChannelPolicy } from '../auth/channel-policy.js';
import { TidingsError } from '../errors.js';
import type { Hub } from '../hub/hub.js';
import type { Session } from '../session/session.js';
import { subscribeServerSide } from '../session/commands.js';
import { OutFrame } from '../wire/out-frame.js';
import type { ClusterNodes } from './nodes.js';

/** How a server-side disconnect closes: a close code (4000–4999) and an optional reason. */
export interface DisconnectOptions {
  code?: number;
  reason?: string;
}

/** The close code of a disconnect: reconnect code 4005 unless told otherwise; anything outside 4000..4999 is `bad_request`. */
function closeCodeOf(options: DisconnectOptions): number {
  const code = options.code ?? CloseCode.ForceReconnect;
  if (!Number.isInteger(code) || code < 4000 || code > 4999) throw new TidingsError(ErrorCode.BadRequest, 'code: expected 4000..4999');
  return code;
}

/** Bus message types of steering. */
const DISCONNECT_USER = 'steering.disconnectUser';
const DISCONNECT_CLIENT = 'steering.disconnectClient';
const UNSUBSCRIBE_USER = 'steering.unsubscribeUser';
const SUBSCRIBE_USER = 'steering.subscribeUser';
const BROADCAST = 'steering.broadcast';

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const reasonOf = (v: unknown) => (typeof v === 'string' ? { reason: v } : {});
const sum = (answers: Array<{ value: unknown }>) => answers.reduce((n, a) => n + (typeof a.value === 'number' ? a.value : 0), 0);

export class Steering {
  /** Told first when a sticky channel is added for a user, on every node (node.ts: features/sticky-channels.ts). */
  private readonly stickyAdded: Array<(user: string) => void> = [];

  constructor(
    private readonly hub: Hub<Session>,
    private readonly policy: ChannelPolicy,
    private readonly nodes: ClusterNodes,
  ) {
    nodes.router
      .handle(DISCONNECT_USER, (m) => this.disconnectUserHere(str(m.user), Number(m.code), m.reason))
      .handle(DISCONNECT_CLIENT, (m) => this.disconnectClientHere(str(m.client), Number(m.code), m.reason))
      .handle(UNSUBSCRIBE_USER, (m) => this.unsubscribeUserHere(str(m.user), str(m.channel)))
      .handle(SUBSCRIBE_USER, (m) => this.subscribeUserHere(str(m.user), str(m.channel)))
      .handle(BROADCAST, (m) => this.broadcastHere(str(m.event), m.data));
  }

  /**
   * Disconnects every connection of a user on every node. Reconnect codes
   * (4000–4499, default 4005) let the client come back; terminal ones (4500–4999,
   * e.g. 4503) tell it to stay away. Resolves with how many connections were closed.
   */
  async disconnectUser(user: string, options: DisconnectOptions = {}): Promise<number> {
    const code = closeCodeOf(options);
    return sum(await this.nodes.askAll({ type: DISCONNECT_USER, user, code, ...reasonOf(options.reason) }));
  }

  /** Disconnects one connection, on whichever node holds it, by its id (reconnect code 4005 unless told otherwise); false when no node has it. */
  async disconnectClient(client: string, options: DisconnectOptions = {}): Promise<boolean> {
    const code = closeCodeOf(options);
    return sum(await this.nodes.askAll({ type: DISCONNECT_CLIENT, client, code, ...reasonOf(options.reason) })) > 0;
  }

  /** Ends a user's subscriptions to a channel on every node; each client gets an `unsubscribe` push. Resolves with how many ended. */
  async unsubscribeUser(user: string, channel: string): Promise<number> {
    channel = this.policy.resolve(channel).channel;
    return sum(await this.nodes.askAll({ type: UNSUBSCRIBE_USER, user, channel }));
  }

  /**
   * Subscribes every connection of a user, on every node, to a channel (server-side: no channel
   * rules apply); each client gets a `subscribe` push. Connections that have it already, or hold
   * `limits.subscriptionsPerConnection`, are left alone. Resolves with how many were subscribed.
   */
  async subscribeUser(user: string, channel: string): Promise<number> {
    channel = this.policy.resolve(channel).channel;
    return sum(await this.nodes.askAll({ type: SUBSCRIBE_USER, user, channel }));
  }

  /** Sends `{type: 'broadcast', event, data}` to every connection on every node (no subscription needed). Resolves with how many got it. */
  async broadcastAll(event: string, data: unknown): Promise<number> {
    return sum(await this.nodes.askAll({ type: BROADCAST, event, data }));
  }

  /** `listener(user)` runs on this node whenever `subscribeUser` reaches it, from any node, before the user's connections are subscribed. */
  onSubscribeUser(listener: (user: string) => void): void {
    this.stickyAdded.push(listener);
  }

  private async subscribeUserHere(user: string, channel: string): Promise<number> {
    for (const listener of this.stickyAdded) listener(user);
    const target = this.policy.resolve(channel);
    const done = await Promise.all(this.hub.userSessions(user).map((s) => subscribeServerSide(s, target).catch(() => false)));
    return done.filter(Boolean).length;
  }

  private broadcastHere(event: string, data: unknown): number {
    // Encoded once, the same bytes to every connection.
    const push = OutFrame.fromText(encodeFrame({ type: 'broadcast', event, data }));
    let count = 0;
    for (const s of this.hub.allSessions()) {
      s.push(push);
      count++;
    }
    return count;
  }

  private disconnectUserHere(user: string, code: number, reason: unknown): number {
    const sessions = this.hub.userSessions(user);
    for (const s of sessions) s.disconnect(code, reasonOf(reason));
    return sessions.length;
  }

  private disconnectClientHere(client: string, code: number, reason: unknown): number {
    const session = this.hub.session(client);
    if (!session) return 0;
    session.disconnect(code, reasonOf(reason));
    return 1;
  }

  private unsubscribeUserHere(user: string, channel: string): number {
    let count = 0;
    const push = OutFrame.fromText(encodeFrame({ type: 'unsubscribe', channel, code: UnsubscribeCode.Server, reason: 'unsubscribed by server' }));
    for (const s of this.hub.userSessions(user)) {
      const sub = s.subs.get(channel);
      if (!sub) continue;
      s.detach(sub);
      s.push(push);
      count++;
    }
    return count;
  }
}
