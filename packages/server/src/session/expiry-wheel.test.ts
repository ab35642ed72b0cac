import { describe, expect, it } from 'vitest';
import { ExpiryWheel, type ExpiryOwner } from './expiry-wheel.js';

function owner(name: string, fired: string[]): ExpiryOwner & { name: string } {
  return { name, expiryDue: 0, expiryIndex: -1, expiryCame: () => fired.push(name) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ExpiryWheel: token expiries of a node under one timer', () => {
  it('fires each expiry at its own time, in order of expiry, not of setting; cancelled and moved ones leave the heap at once', async () => {
    const fired: string[] = [];
    const wheel = new ExpiryWheel();
    const t0 = Date.now();
    const owners = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => owner(n, fired));
    const [a, b, c, d, e, f] = owners as [ExpiryOwner, ExpiryOwner, ExpiryOwner, ExpiryOwner, ExpiryOwner, ExpiryOwner];
    wheel.set(a, t0 + 120);
    wheel.set(b, t0 + 40);
    wheel.set(c, t0 + 80);
    wheel.set(d, t0 + 60);
    wheel.set(e, t0 + 20);
    wheel.set(f, t0 + 100_000);
    expect(wheel.size).toBe(6);
    // A session that ends leaves now, not when its expiry would have come (no closed session kept for hours).
    wheel.cancel(f);
    expect(wheel.size).toBe(5);
    expect(f.expiryIndex).toBe(-1);
    // A renewed token moves its session: d from 60 ms to 140 ms; c cancelled.
    wheel.set(d, t0 + 140);
    wheel.cancel(c);
    expect(wheel.size).toBe(4);
    await sleep(30);
    expect(fired).toEqual(['e']);
    await sleep(200);
    expect(fired).toEqual(['e', 'b', 'a', 'd']);
    expect(wheel.size).toBe(0);
  });

  it('keeps heap order through many random sets and cancels', () => {
    const wheel = new ExpiryWheel();
    const fired: string[] = [];
    const owners = Array.from({ length: 300 }, (_, i) => owner(String(i), fired));
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const base = Date.now() + 3_600_000;
    for (const o of owners) wheel.set(o, base + Math.floor(rnd() * 10_000));
    for (let i = 0; i < 200; i++) {
      const o = owners[Math.floor(rnd() * owners.length)]!;
      if (rnd() < 0.5) wheel.cancel(o);
      else wheel.set(o, base + Math.floor(rnd() * 10_000));
    }
    const inHeap = owners.filter((o) => o.expiryIndex >= 0);
    expect(wheel.size).toBe(inHeap.length);
    // Every entry is at its recorded index and no child is due before its parent.
    const heap = (wheel as unknown as { heap: ExpiryOwner[] }).heap;
    heap.forEach((o, i) => {
      expect(o.expiryIndex).toBe(i);
      if (i > 0) expect(heap[(i - 1) >> 1]!.expiryDue).toBeLessThanOrEqual(o.expiryDue);
    });
    for (const o of inHeap) wheel.cancel(o);
    expect(wheel.size).toBe(0);
  });
});
