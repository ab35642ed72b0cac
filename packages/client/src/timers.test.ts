import { describe, expect, test, vi } from 'vitest';
import { Emitter } from './emitter.js';
import { utf8Length } from './ids.js';
import { MAX_TIMER_DELAY, backoffDelay, clampDelay } from './timers.js';

describe('backoffDelay', () => {
  test('starts at the minimum and never passes the maximum', () => {
    expect(backoffDelay(0, 500, 20_000, () => 0)).toBe(500);
    expect(backoffDelay(0, 500, 20_000, () => 0.999)).toBe(999);
    for (let attempt = 0; attempt < 60; attempt++) {
      for (const r of [0, 0.5, 0.999999]) {
        const d = backoffDelay(attempt, 500, 20_000, () => r);
        expect(d).toBeGreaterThanOrEqual(500);
        expect(d).toBeLessThanOrEqual(20_000);
      }
    }
  });

  test('the jitter ceiling doubles per attempt until it reaches the maximum', () => {
    const top = (attempt: number) => backoffDelay(attempt, 500, 20_000, () => 0.999999);
    expect([0, 1, 2, 3, 4, 5, 6].map(top)).toEqual([999, 1499, 2499, 4499, 8499, 16499, 20000]);
  });

  test('full jitter spreads clients over the whole window', () => {
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const delays = Array.from({ length: 2000 }, () => backoffDelay(4, 500, 20_000, random));
    const buckets = new Set(delays.map((d) => Math.floor((d - 500) / 1000)));
    expect(buckets.size).toBe(8);
  });
});

describe('clampDelay', () => {
  test('keeps delays within what setTimeout honours', () => {
    expect(clampDelay(-5)).toBe(0);
    expect(clampDelay(Number.NaN)).toBe(0);
    expect(clampDelay(1234)).toBe(1234);
    expect(clampDelay(40 * 24 * 3600 * 1000)).toBe(MAX_TIMER_DELAY);
    expect(MAX_TIMER_DELAY).toBe(2147483647);
  });
});

describe('Emitter', () => {
  test('a throwing listener does not stop the others; the error surfaces on a later task', () => {
    vi.useFakeTimers();
    try {
      const e = new Emitter<{ x: number }>();
      const seen: number[] = [];
      e.on('x', () => {
        throw new Error('boom');
      });
      const off = e.on('x', (v) => seen.push(v));
      e.emit('x', 1);
      expect(seen).toEqual([1]);
      expect(() => vi.runAllTimers()).toThrow('boom');
      off();
      e.emit('x', 2);
      expect(seen).toEqual([1]);
      expect(e.listenerCount('x')).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  test('once runs a single time', () => {
    const e = new Emitter<{ x: number }>();
    const seen: number[] = [];
    e.once('x', (v) => seen.push(v));
    e.emit('x', 1);
    e.emit('x', 2);
    expect(seen).toEqual([1]);
  });
});

test('utf8Length matches TextEncoder', () => {
  for (const s of ['', 'abc', 'é', '€', '😀', 'a😀b€é', '\ud800']) expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
});
