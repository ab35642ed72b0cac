import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createClientIpResolver } from './client-ip.js';
import { StrikeCounter, TokenBucket } from './rate-limit.js';

function req(peer: string, xff?: string): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } } as unknown as IncomingMessage;
}

describe('client IP', () => {
  it('uses the socket address when no proxy is trusted, ignoring X-Forwarded-For', () => {
    const ip = createClientIpResolver([]);
    expect(ip(req('203.0.113.9', '1.2.3.4'))).toBe('203.0.113.9');
    expect(ip(req('::ffff:198.51.100.7'))).toBe('198.51.100.7');
  });

  it('reads X-Forwarded-For from the right through trusted proxies only', () => {
    const ip = createClientIpResolver(['10.0.0.0/8', '192.0.2.1', '::1']);
    expect(ip(req('10.1.2.3', '203.0.113.5'))).toBe('203.0.113.5');
    // A client-supplied left part is not believed: the first untrusted hop from the right wins.
    expect(ip(req('10.1.2.3', '6.6.6.6, 203.0.113.5, 10.9.9.9'))).toBe('203.0.113.5');
    expect(ip(req('192.0.2.1', '198.51.100.2'))).toBe('198.51.100.2');
    expect(ip(req('::1', '2001:db8::7'))).toBe('2001:db8::7');
    // Not from a trusted proxy: the header is ignored.
    expect(ip(req('203.0.113.77', '1.1.1.1'))).toBe('203.0.113.77');
    // Through a trusted proxy but no header, or garbage in it: the proxy address.
    expect(ip(req('10.1.2.3'))).toBe('10.1.2.3');
    expect(ip(req('10.1.2.3', 'not-an-ip, 203.0.113.5'))).toBe('203.0.113.5');
    expect(ip(req('10.1.2.3', '203.0.113.5, junk'))).toBe('10.1.2.3');
  });

  it('rejects bad trustedProxies entries', () => {
    expect(() => createClientIpResolver(['10.0.0.0/x'])).toThrow(/trustedProxies: "10.0.0.0\/x"/);
    expect(() => createClientIpResolver(['proxy.local'])).toThrow(TypeError);
  });
});

describe('rate limiting', () => {
  it('allows a burst, then the refill rate', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 5, () => now);
    expect(Array.from({ length: 7 }, () => bucket.take())).toEqual([true, true, true, true, true, false, false]);
    now += 100; // one token back
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    now += 10_000;
    expect(bucket.idle()).toBe(true);
  });

  it('counts strikes in a sliding window', () => {
    let now = 0;
    const strikes = new StrikeCounter(3, 1000, () => now);
    expect([strikes.strike(), strikes.strike(), strikes.strike()]).toEqual([false, false, false]);
    now += 1500;
    expect(strikes.strike()).toBe(false);
    expect([strikes.strike(), strikes.strike(), strikes.strike()]).toEqual([false, false, true]);
  });
});
