/**
 * What the connection needs from the client: what to recover and restore on every connect,
 * where pushes go, and word of a lost connection or a stop.
 */
import type { ConnectResult, Push, StreamPosition } from '@tidings/protocol';

/** @internal What the connection needs from the client. */
export interface ConnectionHost {
  /** Positions of the server-side subscriptions to recover through `connect.subs`. */
  positions(): Record<string, StreamPosition>;
  /**
   * Connected (or upgraded): restores subscriptions, status and follows. Returns the
   * subscribes still to be sent: queued commands wait for them.
   */
  restore(result: ConnectResult, sent: Record<string, StreamPosition>): Promise<void>[];
  /** A push that is not about the connection itself. */
  push(push: Push): void;
  /** The connection is gone: subscriptions wait to be restored. */
  lost(): void;
  /** The client stopped. */
  stopped(): void;
}
