/**
 * The tickets of SSE event streams. `EventSource` cannot send headers and tokens must not sit
 * in URLs, so `open` hands out a ticket that stands in for the token on the stream's URL: it
 * opens the stream once within `http.ticketTtl`, then only resumes that session's stream (with
 * `Last-Event-ID`), and only from the client (IP and User-Agent) that opened the session. Like a
 * session id, a ticket names the node holding its session (`<node>.<random>`), so a node that
 * gets another node's ticket relays the stream from there (sse-relay.ts), checked there by the
 * same rules.
 */
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { mintSessionKey } from './http-forwarding.js';
import type { HttpSessionTransport } from './http-session.js';

interface Ticket {
  transport: HttpSessionTransport;
  /** Until when it may open the stream the first time. */
  expires: number;
  used: boolean;
  /**
   * Who opened the session (client IP and User-Agent): the stream, and every resume of it,
   * must come from there, so a ticket copied out of a proxy log opens nothing elsewhere.
   */
  ip: string;
  userAgent: string;
}

/** A stream request that passed its ticket: the session, and where the stream resumes (undefined: a first open). */
export interface TicketPass {
  transport: HttpSessionTransport;
  lastEventId: number | undefined;
}

const UNKNOWN_TICKET = 'unknown or expired ticket';

export class SseTickets {
  readonly #tickets = new Map<string, Ticket>();
  readonly #ticketOf = new WeakMap<HttpSessionTransport, string>();

  constructor(
    /** An auth failure of a stream request (audit and metrics), with the client IP. */
    private readonly onAuthFailure: (ip: string, reason: string) => void,
  ) {}

  /** A new ticket for `transport`'s stream, naming node `nodeId`. */
  issue(transport: HttpSessionTransport, nodeId: string | undefined, ttl: number, ip: string, userAgent: string): string {
    const ticket = mintSessionKey(nodeId);
    this.#tickets.set(ticket, { transport, expires: Date.now() + ttl, used: false, ip, userAgent });
    this.#ticketOf.set(transport, ticket);
    return ticket;
  }

  /**
   * Checks a stream request: the ticket, who presents it (`ip`, `userAgent`) and its
   * Last-Event-ID (`header`, raw). A first open uses the ticket up. Throws 401 / 400.
   */
  check(value: string, ip: string, userAgent: string, header: string | undefined): TicketPass {
    const ticket = this.#tickets.get(value);
    if (!ticket || ticket.transport.ended || (!ticket.used && Date.now() > ticket.expires)) {
      this.onAuthFailure(ip, UNKNOWN_TICKET);
      throw new TidingsError(ErrorCode.Unauthorized, UNKNOWN_TICKET);
    }
    if (ip !== ticket.ip || userAgent !== ticket.userAgent) {
      this.onAuthFailure(ip, 'ticket presented by another client');
      throw new TidingsError(ErrorCode.Unauthorized, UNKNOWN_TICKET);
    }
    let lastEventId: number | undefined;
    if (header !== undefined && header !== '') {
      lastEventId = Number(header);
      if (!Number.isSafeInteger(lastEventId) || lastEventId < 0) throw new TidingsError(ErrorCode.BadRequest, 'Last-Event-ID: expected a non-negative integer');
    }
    // A first open (not a resume) uses the ticket up.
    if (ticket.used && lastEventId === undefined) throw new TidingsError(ErrorCode.Unauthorized, 'this ticket was used; resume with Last-Event-ID');
    ticket.used = true;
    return { transport: ticket.transport, lastEventId };
  }

  /** The session ended: its ticket goes. */
  forget(transport: HttpSessionTransport): void {
    const ticket = this.#ticketOf.get(transport);
    if (ticket !== undefined) this.#tickets.delete(ticket);
  }

  clear(): void {
    this.#tickets.clear();
  }
}
