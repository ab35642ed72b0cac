/**
 * The durable outbox of webhooks: one row per (event, endpoint), written when the event
 * happens and deleted (or marked delivered) when the endpoint took it. Delivery (webhooks/)
 * claims due rows, POSTs them, and marks each delivered, failed (with its next attempt) or
 * dead (the dead-letter list, which the API and dashboard show and can replay).
 *
 * Implementations: SQLite (store/sqlite/sqlite-webhook-outbox.ts: one node, or the primary of
 * `--workers`, whose workers reach it through engine/ipc/ipc-stores.ts) and PostgreSQL
 * (store/postgres/pg-webhook-outbox.ts, shared by every node). Every implementation passes
 * store/webhook-outbox.contract.ts.
 *
 * Guarantees every implementation keeps:
 * - `enqueue` is durable when it resolves: a crash after that loses nothing. A row whose
 *   (`eventId`, `endpoint`) is already in the outbox is skipped, so an event enqueued twice (a
 *   retry, or two nodes seeing the same event under one id) is sent once.
 * - Order per key: of the rows of one `endpoint` and one `orderKey`, `claim` hands out only
 *   the oldest one that is pending (by `seq`, the order of `enqueue`); a later row of that key
 *   waits until it is delivered or dead, also while the oldest waits for its next attempt or
 *   is leased. Rows of different keys go in parallel; `claim` returns rows in `seq` order.
 * - One holder at a time: a claimed row is not handed to another holder until its lease
 *   (`leaseMs`) has run out, so several nodes (or workers) claiming at once never send a row
 *   twice while its holder lives; a holder that died without marking it gives it up when its
 *   lease ends (the row is then sent again, with the same id).
 * - `markDelivered`, `markFailed` and `markDead` apply only while `holder` holds the row's lease
 *   (a late answer after the lease passed to another holder changes nothing) and resolve with
 *   whether they applied. A lease that ran out still counts as held until another holder
 *   claims the row, so `holder` should name one process run (not just a node name). Each of
 *   the three counts the attempt it reports (`attempts` + 1) and ends the lease.
 * - `replay` makes dead rows pending again (attempts back to 0, due now), keeping their `seq`, so
 *   they go out in their `seq` order (before later rows of their key that are still pending).
 * - Times are whatever the caller passes as `now` (ms since the epoch); nothing reads a clock.
 */
import type { WebhookEventType } from '../webhook-events.js';

export interface NewOutboxRow {
  /** The event's id, the same for every endpoint it goes to and every retry: the `webhook-id` header. */
  eventId: string;
  /** The configured endpoint's id (`webhooks.endpoints[].id`). */
  endpoint: string;
  type: WebhookEventType;
  /** Rows of one endpoint with one key are delivered in order: the channel, else `user:<id>`, else `client:<id>`. */
  orderKey: string;
  /** The JSON body to send, exactly these bytes (they are what is signed). */
  payload: string;
  /** When the event happened, ms since the epoch. */
  createdAt: number;
}

export type OutboxState = 'pending' | 'delivered' | 'dead';

export interface OutboxRow extends NewOutboxRow {
  /** Position in the outbox, increasing in `enqueue` order. */
  seq: number;
  state: OutboxState;
  /** Attempts made so far. */
  attempts: number;
  /** Not claimed before this time, ms since the epoch. */
  nextAttemptAt: number;
  /** The last attempt's HTTP status, when it got one. */
  lastStatus?: number;
  /** The last attempt's error, in words (`HTTP 500`, `timeout after 5000 ms`, `ECONNREFUSED`). */
  lastError?: string;
  /** When the row was delivered or went dead, ms since the epoch. */
  finishedAt?: number;
}

export interface OutboxPage {
  rows: OutboxRow[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

export interface OutboxStats {
  pending: number;
  dead: number;
  /** `createdAt` of the oldest pending row. */
  oldestPendingAt?: number;
}

export interface WebhookOutbox {
  enqueue(rows: readonly NewOutboxRow[]): Promise<void>;
  /** Up to `limit` due pending rows (see the order and holder guarantees), leased to `holder` until `now + leaseMs`. */
  claim(holder: string, now: number, leaseMs: number, limit: number): Promise<OutboxRow[]>;
  markDelivered(seq: number, holder: string, now: number): Promise<boolean>;
  /** A failed attempt: counted, with its status or error, due again at `nextAttemptAt`; the lease ends. */
  markFailed(seq: number, holder: string, failure: { status?: number; error: string; nextAttemptAt: number }): Promise<boolean>;
  /** A row given up on (attempts or age used up, or a status that will not change): into the dead-letter list. */
  markDead(seq: number, holder: string, failure: { status?: number; error: string; now: number }): Promise<boolean>;
  /** Dead rows, oldest (lowest `seq`) first, optionally of one endpoint; a bad `cursor` rejects with BadCursorError. */
  listDead(query: { endpoint?: string; cursor?: string; limit: number }): Promise<OutboxPage>;
  /** Dead rows made pending again: the given `seq`s, or every dead row (of `endpoint`, when given). Resolves with how many. */
  replay(which: { seqs: readonly number[] } | { all: true; endpoint?: string }, now: number): Promise<number>;
  /** Counts of the whole outbox (every endpoint). */
  stats(): Promise<OutboxStats>;
  /** Deletes delivered rows finished before `before`, and dead rows that went dead before `deadBefore`. Resolves with how many. */
  prune(before: number, deadBefore: number): Promise<number>;
}
