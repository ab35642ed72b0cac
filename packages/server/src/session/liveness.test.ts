import { expect, it } from 'vitest';
import { LivenessWheel, type LivenessKind, type LivenessOwner } from './liveness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Owner implements LivenessOwner {
  livenessDue = 0;
  closed = false;
  fired = 0;
  constructor(readonly log: string[], readonly name: string) {}
  livenessExpired(): void {
    this.fired++;
    this.log.push(this.name);
  }
}

it('fires each session once per deadline, skips a deadline replaced or removed, and holds no session after the last disarm', async () => {
  const durations: Record<LivenessKind, number> = { connect: 30, ping: 60, pong: 20 };
  const wheel = new LivenessWheel((k) => durations[k]);
  const log: string[] = [];
  const [a, b, c] = ['a', 'b', 'c'].map((n) => new Owner(log, n)) as [Owner, Owner, Owner];
  wheel.arm(a, 'connect');
  wheel.arm(b, 'connect');
  wheel.arm(c, 'connect');
  // b connects: its connect deadline gives way to the ping one; c goes away.
  wheel.arm(b, 'ping');
  wheel.disarm(c);
  expect(wheel.sessions).toBe(2);
  for (let i = 0; i < 50 && a.fired === 0; i++) await sleep(10);
  expect(log).toEqual(['a']);
  for (let i = 0; i < 50 && b.fired === 0; i++) await sleep(10);
  expect(log).toEqual(['a', 'b']);
  expect(c.fired).toBe(0);
  expect(wheel.sessions).toBe(0);
});

it('a shorter duration after a reload is not held behind the longer deadlines set before it', async () => {
  const durations: Record<LivenessKind, number> = { connect: 10_000, ping: 5_000, pong: 10 };
  const wheel = new LivenessWheel((k) => durations[k]);
  const log: string[] = [];
  const slow = new Owner(log, 'slow');
  const fast = new Owner(log, 'fast');
  wheel.arm(slow, 'ping');
  durations.ping = 20;
  wheel.arm(fast, 'ping');
  for (let i = 0; i < 100 && fast.fired === 0; i++) await sleep(10);
  expect(log).toEqual(['fast']);
  wheel.disarm(slow);
  expect(wheel.sessions).toBe(0);
});

it('a ping interval of 0 means no pings: the session holds no deadline', () => {
  const wheel = new LivenessWheel((k) => (k === 'ping' ? 0 : 1000));
  const o = new Owner([], 'o');
  wheel.arm(o, 'connect');
  wheel.arm(o, 'ping');
  expect(o.livenessDue).toBe(0);
  expect(wheel.sessions).toBe(0);
});
