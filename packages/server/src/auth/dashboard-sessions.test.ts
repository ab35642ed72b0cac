/**
 * The dashboard sign-in throttle: attempts are reserved before a key is read, given
 * back only by a sign-in, and the window reopens after a minute.
 */
import { describe, expect, it } from 'vitest';
import { DashboardSessions, type SignInAttempt } from './dashboard-sessions.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const granted = (a: SignInAttempt) => a.granted;

describe('dashboard sign-in throttle', () => {
  it('reserves maxFailures attempts per address a minute, in flight or failed; the next ones wait for the minute to end', () => {
    const c = clock();
    const sessions = new DashboardSessions({ ttlMs: 60_000, maxFailures: 5, now: c.now });
    // Reserved before any key is read: none of them has failed yet, yet the sixth is refused.
    const first = Array.from({ length: 5 }, () => sessions.attempt('10.0.0.1'));
    expect(first.every(granted)).toBe(true);
    c.advance(20_000);
    const refused = sessions.attempt('10.0.0.1');
    expect(refused).toEqual({ granted: false, retryAfterSeconds: 40 });
    // Other addresses have their own budget.
    expect(sessions.attempt('10.0.0.2').granted).toBe(true);
    c.advance(40_000);
    expect(sessions.attempt('10.0.0.1').granted).toBe(true);
  });

  it('gives an attempt back when it signs in, only within the window it was taken from', () => {
    const c = clock();
    const sessions = new DashboardSessions({ ttlMs: 60_000, maxFailures: 2, now: c.now });
    for (let i = 0; i < 10; i++) {
      const a = sessions.attempt('10.0.0.3');
      if (!a.granted) throw new Error('refused');
      a.succeeded();
    }
    const stale = sessions.attempt('10.0.0.3');
    expect(sessions.attempt('10.0.0.3').granted).toBe(true);
    expect(sessions.attempt('10.0.0.3').granted).toBe(false);
    // A new window: the old attempt's success gives nothing back to it.
    c.advance(60_000);
    expect(sessions.attempt('10.0.0.3').granted).toBe(true);
    if (stale.granted) stale.succeeded();
    expect(sessions.attempt('10.0.0.3').granted).toBe(true);
    expect(sessions.attempt('10.0.0.3').granted).toBe(false);
  });
});
