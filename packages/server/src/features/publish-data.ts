/**
 * The rules a publication's data meets at the publish edge (library, server API,
 * client): it is encoded as JSON once, here, before anything is stored, and the
 * history byte budgets' refusals become protocol errors.
 */
import { ErrorCode } from '@tidings/protocol';
import { HistoryBudgetError } from '../engine/broker.js';
import { TidingsError } from '../errors.js';

/**
 * `data` as JSON, or `bad_request` when it cannot be encoded (nesting too deep for
 * the stack, a cycle, a BigInt, a throwing `toJSON`). Data JSON cannot represent
 * (undefined, a function) is `null`, as subscribers receive it.
 */
export function encodeData(data: unknown): string {
  try {
    return JSON.stringify(data) ?? 'null';
  } catch (err) {
    const reason = err instanceof RangeError ? 'nested too deeply' : err instanceof Error ? err.message : String(err);
    throw new TidingsError(ErrorCode.BadRequest, `data cannot be encoded as JSON: ${reason}`);
  }
}

/** The limit name a budget refusal is counted under (`limit_hits_total{limit}`). */
export function budgetLimitName(err: HistoryBudgetError): string {
  return err.tooLarge ? 'history_publication_bytes' : 'history_bytes_per_user';
}

/**
 * A budget refusal as the publisher sees it: `limit_exceeded` naming the setting.
 * A full per-user budget is temporary (older publications leave history); a
 * publication larger than a budget on its own never fits, so it is not.
 */
export function budgetRefusal(err: HistoryBudgetError, namespace: string): TidingsError {
  const setting = err.budget === 'user' ? 'history.maxBytesPerUser' : err.budget === 'namespace' ? `namespaces.${namespace}.history.maxBytes` : 'history.maxBytes';
  if (err.tooLarge) {
    return new TidingsError(ErrorCode.LimitExceeded, `publication counts ${err.bytes} bytes in history, more than ${setting} (${err.maxBytes})`, { temporary: false });
  }
  return new TidingsError(
    ErrorCode.LimitExceeded,
    `your publications held in history would exceed ${setting} (${err.maxBytes} bytes); retry when older ones leave history`,
    { temporary: true },
  );
}

export { HistoryBudgetError };
