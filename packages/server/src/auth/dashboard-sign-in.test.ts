/**
 * Dashboard sign-in state kept across nodes: the throttle (attempts reserved before a key is
 * read, given back only by a sign-in, per clock minute, counted on every node together) and
 * one-time codes (signed, good on any node with the same root, once, and only while the
 * engine that saw them minted lives). Nodes here are handles of one MemorySharedLimits, as
 * the workers of `tidings serve --workers` are handles of the primary's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemorySharedLimits } from '../engine/memory/memory-limits.js';
import { DashboardSignIn, type SignInAttempt } from './dashboard-sign-in.js';

const ROOT = 'root-secret-0123456789-abcdefghijklmnop';
const granted = (a: SignInAttempt) => a.granted;

/** A clock at the start of a minute (the throttle counts per clock minute). */
function clock() {
  let t = 60_000 * 1000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const engines: MemorySharedLimits[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});
function engine() {
  const e = new MemorySharedLimits();
  engines.push(e);
  return e;
}
const node = (e: MemorySharedLimits, now: () => number = Date.now, maxFailures = 5, root = ROOT) =>
  new DashboardSignIn({ maxFailures, rootSecret: () => root, limits: e.node(), now });

describe('dashboard sign-in throttle', () => {
  it('reserves maxFailures attempts per address a minute, in flight or failed; the next ones wait for the minute to end', async () => {
    const c = clock();
    const signIn = node(engine(), c.now);
    // Reserved before any key is read: none of them has failed yet, yet the sixth is refused.
    const first = await Promise.all(Array.from({ length: 5 }, () => signIn.attempt('10.0.0.1')));
    expect(first.every(granted)).toBe(true);
    c.advance(20_000);
    expect(await signIn.attempt('10.0.0.1')).toEqual({ granted: false, retryAfterSeconds: 40 });
    // Other addresses have their own budget.
    expect((await signIn.attempt('10.0.0.2')).granted).toBe(true);
    c.advance(40_000);
    expect((await signIn.attempt('10.0.0.1')).granted).toBe(true);
  });

  it('gives an attempt back when it signs in, only within the minute it was taken from', async () => {
    const c = clock();
    const signIn = node(engine(), c.now, 2);
    for (let i = 0; i < 10; i++) {
      const a = await signIn.attempt('10.0.0.3');
      if (!a.granted) throw new Error('refused');
      a.succeeded();
    }
    const stale = await signIn.attempt('10.0.0.3');
    expect((await signIn.attempt('10.0.0.3')).granted).toBe(true);
    expect((await signIn.attempt('10.0.0.3')).granted).toBe(false);
    // A new minute: the old attempt's success gives nothing back to it.
    c.advance(60_000);
    expect((await signIn.attempt('10.0.0.3')).granted).toBe(true);
    if (stale.granted) stale.succeeded();
    expect((await signIn.attempt('10.0.0.3')).granted).toBe(true);
    expect((await signIn.attempt('10.0.0.3')).granted).toBe(false);
  });

  it('counts the attempts made on every node sharing the engine: 30 racing attempts over two nodes, maxFailures 5 granted', async () => {
    const c = clock();
    const e = engine();
    const [a, b] = [node(e, c.now), node(e, c.now)];
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).attempt('10.0.0.4')));
    expect(answers.filter(granted)).toHaveLength(5);
    // A sign-in on A gives its place back to B.
    const won = answers.find(granted);
    if (won?.granted) won.succeeded();
    await new Promise((r) => setImmediate(r));
    expect((await b.attempt('10.0.0.4')).granted).toBe(true);
    expect((await a.attempt('10.0.0.4')).granted).toBe(false);
  });

  it('a shared limits that cannot answer makes the attempt fail with unavailable, not a crash', async () => {
    const e = engine();
    const limits = e.node();
    const signIn = new DashboardSignIn({ maxFailures: 5, rootSecret: () => ROOT, limits });
    await limits.close();
    await expect(signIn.attempt('10.0.0.5')).rejects.toMatchObject({ code: 'unavailable', temporary: true });
  });
});

describe('dashboard one-time codes', () => {
  it('a code minted on node A signs in once on node B, and never again on either', async () => {
    const e = engine();
    const [a, b] = [node(e), node(e)];
    const code = await a.issueCode();
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/);
    expect(await b.redeemCode(code)).toBe(true);
    expect(await b.redeemCode(code)).toBe(false);
    expect(await a.redeemCode(code)).toBe(false);
    // A node that joins later (a worker replaced meanwhile) knows it is used too.
    expect(await node(e).redeemCode(code)).toBe(false);
  });

  it('20 racing redemptions of one code over two nodes: exactly one signs in', async () => {
    const e = engine();
    const [a, b] = [node(e), node(e)];
    const code = await a.issueCode();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).redeemCode(code)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('a used code stays used when the node that redeemed it (or minted it) leaves', async () => {
    const e = engine();
    const limitsB = e.node();
    const a = node(e);
    const b = new DashboardSignIn({ maxFailures: 5, rootSecret: () => ROOT, limits: limitsB });
    const code = await a.issueCode();
    const unused = await a.issueCode();
    expect(await b.redeemCode(code)).toBe(true);
    await limitsB.close();
    const c = node(e);
    expect(await c.redeemCode(code)).toBe(false);
    // The minting node's slots play no part either: its unused code still works once.
    expect(await c.redeemCode(unused)).toBe(true);
  });

  it('refuses codes not minted since the engine started (a restart), expired, tampered, or of another root', async () => {
    const c = clock();
    const e = engine();
    const a = node(e, c.now);
    const code = await a.issueCode(60_000);
    // Another engine (the deployment restarted with the same root secret): refused, and stays refused.
    const restarted = node(engine(), c.now);
    expect(await restarted.redeemCode(code)).toBe(false);
    expect(await restarted.redeemCode(code)).toBe(false);
    // Another root secret, or none.
    expect(await node(e, c.now, 5, 'another-root-secret-0123456789').redeemCode(code)).toBe(false);
    const rootless = new DashboardSignIn({ maxFailures: 5, rootSecret: () => undefined, limits: e.node(), now: c.now });
    expect(await rootless.redeemCode(code)).toBe(false);
    await expect(rootless.issueCode()).rejects.toThrow(/no secret/);
    // Tampered: another body (a later expiry), another MAC, not our shape.
    const [body, mac] = code.split('.') as [string, string];
    const raw = Buffer.from(body, 'base64url');
    raw.writeBigUInt64BE(raw.readBigUInt64BE(24) + 3_600_000n, 24);
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    for (const bad of [`${raw.toString('base64url')}.${mac}`, `${body}.${flip(mac)}`, `${body}.`, body, `.${mac}`, `${code}.x`, 'x'.repeat(5000), '']) {
      expect(await a.redeemCode(bad), bad).toBe(false);
    }
    // Expired: refused even though never used.
    c.advance(60_000);
    expect(await a.redeemCode(code)).toBe(false);
  });
});
