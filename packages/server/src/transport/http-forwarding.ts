/**
 * SSE and long-polling sessions behind a load balancer that sends a session's requests to
 * any node. A session lives on the node that opened it, and its id names that node:
 * `<node>.<random>`, the node id in base64url, then 128 random bits (the part that keeps the
 * id unguessable), so every node can route a request without a lookup.
 *
 * A node that gets a command POST, a poll or a DELETE for a session it does not hold checks
 * the request as it would its own (path, `ack`, Content-Type, body size) and forwards it
 * over the node bus to the owner, which answers as if the request had come to it: commands
 * with 204, a poll held up to `http.pollTimeout` and answered with its frames, or the error
 * it would have sent (user binding, rate limit, unknown session). An owner that is gone or
 * never existed answers `404 not_found` "unknown or expired session": at once when the bus
 * knows the node is not there, else after `cluster.requestTimeout` (plus `http.pollTimeout` for
 * a poll). The SSE event stream (`GET <path>/sse?ticket=…`, its ticket naming the node too)
 * is relayed from the owner by the node it reached (sse-relay.ts).
 */
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { randomKey } from './http-frames.js';

/** The bus message type of a forwarded session request. */
export const FORWARD_TYPE = 'http.session';

/** What the transports need of the node bus (cluster/ adapts the NodeBus to it). */
export interface SessionForwarding {
  /** This node's id, named in the ids of the sessions it opens. */
  readonly nodeId: string;
  /** How long a forwarded request waits for its answer (a poll: plus `http.pollTimeout`) before it is answered 404. */
  readonly timeoutMs: number;
  /**
   * Sends `message` to node `node` and resolves with its answer. Rejects (within
   * `timeoutMs`) with an error whose `code` is `unknown_node` or `closed` when that node is
   * not on the bus, `timeout` when it did not answer in time.
   */
  request(node: string, message: { type: typeof FORWARD_TYPE; [key: string]: unknown }, timeoutMs: number): Promise<unknown>;
}

/** A session request forwarded to the session's node. Its body, if any, was checked by the forwarding node. */
export interface ForwardedRequest {
  type: typeof FORWARD_TYPE;
  [key: string]: unknown;
  op: 'commands' | 'poll' | 'close';
  transport: 'sse' | 'polling';
  session: string;
  ack: number;
  /** Client frames (NDJSON), for `commands`. */
  body?: string;
  /** The bearer token of the request, if any: the owner checks it against the session's user. */
  token?: string;
  /** The client IP as the forwarding node resolved it (for the audit of an auth failure). */
  ip: string;
}

/** The owner's answer: a status with an optional body, a poll that ended without one, or an error. */
export type ForwardedAnswer =
  | { status: 200 | 204; body?: string }
  | { end: true }
  | { destroy: true }
  | { error: { code: string; message: string; temporary?: boolean } };

const UNKNOWN_SESSION = 'unknown or expired session';

/** A new session id naming `nodeId` (plain 128-bit random when no node id is known). */
export function mintSessionKey(nodeId: string | undefined): string {
  return nodeId ? `${Buffer.from(nodeId).toString('base64url')}.${randomKey()}` : randomKey();
}

/** The node a session id names; undefined when it names none (or not in the canonical form). */
export function ownerOf(key: string): string | undefined {
  const dot = key.indexOf('.');
  if (dot <= 0) return undefined;
  const tag = key.slice(0, dot);
  const node = Buffer.from(tag, 'base64url').toString();
  return node !== '' && Buffer.from(node).toString('base64url') === tag ? node : undefined;
}

/** Reads a forwarded request off the bus; undefined when it is not one. */
export function parseForwarded(message: unknown): ForwardedRequest | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as Partial<ForwardedRequest>;
  const ok =
    m.type === FORWARD_TYPE &&
    (m.op === 'commands' || m.op === 'poll' || m.op === 'close') &&
    (m.transport === 'sse' || m.transport === 'polling') &&
    typeof m.session === 'string' &&
    typeof m.ip === 'string' &&
    Number.isSafeInteger(m.ack) &&
    (m.body === undefined || typeof m.body === 'string') &&
    (m.token === undefined || typeof m.token === 'string');
  return ok ? (m as ForwardedRequest) : undefined;
}

/** Sends a forwarded request; the owner's error, or an unreachable owner, becomes a TidingsError. */
export async function forward(forwarding: SessionForwarding, node: string, message: ForwardedRequest, timeoutMs: number): Promise<Exclude<ForwardedAnswer, { error: unknown }>> {
  let answer: ForwardedAnswer;
  try {
    answer = (await forwarding.request(node, message, timeoutMs)) as ForwardedAnswer;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // The node is not on the bus (never was, or left), or did not answer in time (crashed).
    if (code === 'unknown_node' || code === 'closed' || code === 'timeout') throw new TidingsError(ErrorCode.NotFound, UNKNOWN_SESSION);
    throw err;
  }
  if (typeof answer !== 'object' || answer === null) throw new Error('a forwarded session request got no answer');
  if ('error' in answer) {
    const { code, message: text, temporary } = answer.error;
    throw new TidingsError(code, text, { temporary: temporary === true });
  }
  return answer;
}
