/**
 * Callers of `connect()` and `ready()` waiting for the connection: settled together, resolved
 * once connected or rejected when the client stops; `ready(timeout)` gives up on its own.
 */
import { ClientErrorCode, TidingsError } from '../errors.js';
import { startTimer } from '../timers.js';

/** @internal */
export interface Waiter {
  resolve(): void;
  reject(err: TidingsError): void;
}

/** @internal Waits in `waiters`; with `timeout`, rejects with `timeout` after that many ms. */
export function waitIn(waiters: Waiter[], timeout?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (timeout === undefined) {
      waiters.push({ resolve, reject });
      return;
    }
    const waiter: Waiter = {
      resolve: () => {
        clearTimeout(timer);
        resolve();
      },
      reject: (err) => {
        clearTimeout(timer);
        reject(err);
      },
    };
    const timer = startTimer(() => {
      waiters.splice(waiters.indexOf(waiter), 1);
      reject(new TidingsError(ClientErrorCode.Timeout, `not connected within ${timeout} ms`, { temporary: true }));
    }, timeout);
    waiters.push(waiter);
  });
}

/** @internal Settles every waiter: resolved, or rejected with `error`. */
export function settle(waiters: Waiter[], error?: TidingsError): void {
  for (const w of waiters.splice(0)) {
    if (error) w.reject(error);
    else w.resolve();
  }
}
