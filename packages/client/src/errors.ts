/**
 * Errors the SDK reports. Every rejected promise and every `error` event carries a
 * `TidingsError` with a stable string `code`: a server error code (docs/errors.md)
 * or one of the client codes below.
 */
import { ErrorCode, TEMPORARY_ERROR_CODES, type ErrorBody } from '@tidings/protocol';

/** Codes the SDK itself produces, beside the server's `ErrorCode`s. */
export const ClientErrorCode = {
  /** No reply arrived within `timeout`. The command may still have taken effect. */
  Timeout: 'timeout',
  /** The connection closed before the reply arrived (commands that are not safe to resend). */
  ConnectionLost: 'connection_lost',
  /** The client was disconnected by the application, or stopped after a terminal error. */
  Disconnected: 'disconnected',
  /** The offline queue already holds `offlineQueue.max` commands. */
  QueueFull: 'queue_full',
  /** A queued command waited longer than `offlineQueue.timeout` for a connection. */
  QueueTimeout: 'queue_timeout',
  /** `getToken` failed (threw or rejected); the client retries with backoff. */
  TokenUnavailable: 'token_unavailable',
  /** No transport could be used (no WebSocket implementation and no HTTP transport listed). */
  NoTransport: 'no_transport',
  /** The subscription ended (by the server, or by the application) before it was ready. */
  Unsubscribed: 'unsubscribed',
} as const;

export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** Close codes mapped to the error code a terminal close is reported with. */
const TERMINAL_CLOSE_ERRORS: Readonly<Record<number, string>> = {
  4500: ErrorCode.Unauthorized,
  4501: ErrorCode.BadRequest,
  4502: ErrorCode.PermissionDenied,
  4503: 'force_disconnect',
};

/**
 * The error of every rejected promise and `error` event of the SDK.
 *
 * @example
 * ```ts
 * try {
 *   await client.publish('chat:lobby', { text });
 * } catch (err) {
 *   if (err instanceof TidingsError && err.code === 'queue_full') showOfflineBanner();
 *   else if (err instanceof TidingsError && err.temporary) retryLater();
 *   else throw err;
 * }
 * ```
 */
export class TidingsError extends Error {
  /** Stable code: a server `ErrorCode`, a `ClientErrorCode`, or an application code from a server hook. */
  readonly code: string;
  /** True when the same operation may succeed later. */
  readonly temporary: boolean;
  /** The close code, for errors caused by the connection closing. */
  readonly closeCode?: number;

  constructor(code: string, message: string, options: { temporary?: boolean; closeCode?: number } = {}) {
    super(message);
    this.name = 'TidingsError';
    this.code = code;
    this.temporary = options.temporary ?? TEMPORARY_ERROR_CODES.has(code);
    if (options.closeCode !== undefined) this.closeCode = options.closeCode;
  }

  /** Wraps an error body from a server reply. */
  static fromReply(error: ErrorBody): TidingsError {
    return new TidingsError(error.code, error.message, error.temporary === undefined ? {} : { temporary: error.temporary });
  }

  /** The error for a terminal close (4500–4999). */
  static fromClose(code: number, reason: string): TidingsError {
    const errorCode = TERMINAL_CLOSE_ERRORS[code] ?? 'closed';
    return new TidingsError(errorCode, `connection closed by the server: ${code} ${reason || ''}`.trim(), { temporary: false, closeCode: code });
  }
}
