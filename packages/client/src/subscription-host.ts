/**
 * What a subscription needs from its client.
 */
import type { HistoryResult, PresenceResult, PresenceStatsResult, PublishResult } from '@tidings/protocol';
import type { CommandBody, Done } from './outbox.js';
import type { HistoryOptions, PublishOptions } from './types.js';

/**
 * @internal Made by the client for its subscriptions (`Sub`: the subscription class, a
 * parameter so that this contract does not import it).
 */
export interface SubscriptionHost<Sub> {
  readonly connected: boolean;
  /** Sends at once on the current connection (fails with `connection_lost` when there is none). */
  sendNow(body: CommandBody, done?: Done): void;
  /** Sends a command, queued while disconnected (`resend`: sent again after a lost connection). */
  call(body: CommandBody, options: { resend: boolean }): Promise<unknown>;
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<PublishResult>;
  history(channel: string, options?: HistoryOptions): Promise<HistoryResult>;
  presence(channel: string): Promise<PresenceResult>;
  presenceStats(channel: string): Promise<PresenceStatsResult>;
  /** Registers a subscription (again) in the client. */
  adopt(sub: Sub): void;
  /** Removes a subscription from the client. */
  forget(sub: Sub): void;
  /** A server-side subscription lost continuity: reconnect and recover through `connect.subs`. */
  resync(reason: string): void;
  readonly typing: { throttle: number; idle: number; timeout: number };
  readonly minRetryDelay: number;
  readonly maxRetryDelay: number;
  /** The client's `timeout` option: replies, getToken, ready(). */
  readonly timeout: number;
  debug(message: string, details?: unknown): void;
}
