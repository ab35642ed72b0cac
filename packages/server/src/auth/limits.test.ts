import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/schema.js';
import { createClientIpResolver } from './client-ip.js';
import { NodeLimits } from './limits.js';
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

describe('connection admission', () => {
  function limits(input: Record<string, unknown>) {
    const hits: string[] = [];
    return { hits, limits: new NodeLimits(resolveConfig({ limits: { connectionRatePerIp: 0, ...input } }), (limit) => hits.push(limit)) };
  }

  it('holds a slot per open connection from an IP until it is released (limits.connectionsPerIp)', () => {
    const { hits, limits: l } = limits({ connectionsPerIp: 2 });
    const a = l.admit('203.0.113.1', 0);
    const b = l.admit('203.0.113.1', 1);
    expect(a.release && b.release).toBeTypeOf('function');
    expect(l.admit('203.0.113.1', 2).rejection).toMatchObject({ status: 429, code: 'limit_exceeded', temporary: true });
    expect(hits).toEqual(['connections_per_ip']);
    // Another address has its own count.
    expect(l.admit('203.0.113.2', 2).rejection).toBeUndefined();
    // Releasing twice frees one slot, not two.
    a.release!();
    a.release!();
    expect(l.openFrom('203.0.113.1')).toBe(1);
    const c = l.admit('203.0.113.1', 2);
    expect(c.rejection).toBeUndefined();
    expect(l.admit('203.0.113.1', 3).rejection).toBeDefined();
    b.release!();
    c.release!();
    expect(l.openFrom('203.0.113.1')).toBe(0);
    l.close();
  });

  it('0 turns the per-IP and per-node caps off', () => {
    const { limits: l } = limits({ connectionsPerIp: 0, connectionsPerNode: 0 });
    for (let i = 0; i < 5000; i++) expect(l.admit('198.51.100.1', i).rejection).toBeUndefined();
    l.close();
  });

  it('protects a node by default: 20,000 connections per node, 1,000 open per IP', () => {
    const config = resolveConfig({});
    expect(config.limits.connectionsPerNode).toBe(20_000);
    expect(config.limits.connectionsPerIp).toBe(1000);
    expect(config.websocket).toMatchObject({ maxFragments: 32, preConnectBytes: 65_536, preConnectFrames: 16 });
    const l = new NodeLimits(config, () => {});
    expect(l.admit('192.0.2.1', 20_000).rejection).toMatchObject({ status: 503, code: 'limit_exceeded' });
    l.close();
  });
});
