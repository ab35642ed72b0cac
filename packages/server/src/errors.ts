import { ErrorCode, TEMPORARY_ERROR_CODES, type ErrorBody } from '@tidings/protocol';

/**
 * An error with a protocol error code. Hooks throw it to reject a command
 * (`throw new TidingsError('permission_denied', 'not a member')`); the session
 * turns it into an error reply, the HTTP API into an error body.
 *
 * @example
 * ```ts
 * tidings.onSubscribe(async (ctx) => {
 *   if (!(await isMember(ctx.user, ctx.channel))) throw new TidingsError('permission_denied', 'not a member');
 * });
 * ```
 */
export class TidingsError extends Error {
  readonly code: string;
  readonly temporary: boolean;

  constructor(code: string, message: string, options: { temporary?: boolean } = {}) {
    super(message);
    this.name = 'TidingsError';
    this.code = code;
    this.temporary = options.temporary ?? TEMPORARY_ERROR_CODES.has(code);
  }

  toBody(): ErrorBody {
    return this.temporary ? { code: this.code, message: this.message, temporary: true } : { code: this.code, message: this.message };
  }
}

/** Turns anything thrown into an error body; unknown errors become `internal` without details. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof TidingsError) return err.toBody();
  return { code: ErrorCode.Internal, message: 'internal error', temporary: true };
}
