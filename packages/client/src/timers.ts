/**
 * Timers that behave on every runtime: delays are clamped to what setTimeout accepts
 * (2^31 − 1 ms, about 24.8 days; Node fires a longer delay at once), and backoff with full jitter.
 */

/** The longest delay setTimeout honours. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** Clamps a delay to [0, 2^31 − 1] ms; NaN becomes 0. */
export function clampDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(ms, MAX_TIMER_DELAY);
}

/** `setTimeout` with a clamped delay. */
export function startTimer(fn: () => void, ms: number): ReturnType<typeof setTimeout> {
  return setTimeout(fn, clampDelay(ms));
}

/**
 * Delay before reconnect attempt number `attempt` (0 for the first): exponential backoff
 * with full jitter. The ceiling doubles per attempt from `min` up to `max`; the delay is
 * `min` plus a uniformly random share of that ceiling, never above `max`.
 */
export function backoffDelay(attempt: number, min: number, max: number, random: () => number = Math.random): number {
  const ceiling = Math.min(max, min * 2 ** Math.min(attempt, 31));
  return Math.min(max, min + Math.floor(random() * ceiling));
}
