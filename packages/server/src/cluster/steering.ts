/**
 * Steering connections from the server side (library and server API): disconnect a user or
 * one connection, end a user's subscriptions to a channel.
 *
 * Node-local today: it acts on the connections of this node's hub only. Issue 13 routes
 * these actions over a NodeBus so they reach every node.
 */
import { CloseCode, ErrorCode, UnsubscribeCode, encodeFrame } from '@tidings/protocol';
import type { ChannelPolicy } from '../auth/channel-policy.js';
import { TidingsError } from '../errors.js';
import type { Hub } from '../hub/hub.js';
import type { Session } from '../session/session.js';
import { OutFrame } from '../wire/out-frame.js';

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

export class Steering {
  constructor(
    private readonly hub: Hub<Session>,
    private readonly policy: ChannelPolicy,
  ) {}

  /**
   * Disconnects every connection of a user on this node. Reconnect codes
   * (4000–4499, default 4005) let the client come back; terminal ones (4500–4999,
   * e.g. 4503) tell it to stay away. Returns how many connections were closed.
   */
  disconnectUser(user: string, options: DisconnectOptions = {}): number {
    const code = closeCodeOf(options);
    const sessions = this.hub.userSessions(user);
    for (const s of sessions) s.disconnect(code, options.reason !== undefined ? { reason: options.reason } : {});
    return sessions.length;
  }

  /** Disconnects one connection on this node by its id (reconnect code 4005 unless told otherwise); false when it is not here. */
  disconnectClient(client: string, options: DisconnectOptions = {}): boolean {
    const code = closeCodeOf(options);
    const session = this.hub.session(client);
    if (!session) return false;
    session.disconnect(code, options.reason !== undefined ? { reason: options.reason } : {});
    return true;
  }

  /** Ends a user's subscriptions to a channel on this node; the client gets an `unsubscribe` push. */
  unsubscribeUser(user: string, channel: string): number {
    channel = this.policy.resolve(channel).channel;
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
