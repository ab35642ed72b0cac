/** A deadline for callbacks the application supplies (getToken). */
import { startTimer } from './timers.js';

/** Rejects when `value` (a promise or a plain value) does not settle within `ms`. */
export function withTimeout<T>(value: T | Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = startTimer(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    Promise.resolve(value).then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
