import type { IncomingMessage } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/schema.js';
import { MemorySharedLimits } from '../engine/memory/memory-limits.js';
import type { SharedLimits } from '../engine/shared-limits.js';
import { GatedLimits } from '../test-support/gated-limits.js';
import { TestClient } from '../test-support/test-client.js';
import { withNodePair } from '../test-support/node-pair.js';
import { TEST_NAMESPACES } from '../test-support/test-node.js';
import { createClientIpResolver } from './client-ip.js';
import { NodeLimits } from './limits.js';
import { TokenBucket } from '../token-bucket.js';
import { StrikeCounter } from './rate-limit.js';

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
  const shared = new MemorySharedLimits();
  afterAll(() => shared.close());

  function limits(input: Record<string, unknown>, node: SharedLimits = shared.node()) {
    const hits: string[] = [];
    return { hits, limits: new NodeLimits(resolveConfig({ limits: { connectionRatePerIp: 0, ...input } }), (limit) => hits.push(limit), node) };
  }

  it('holds a slot per open connection from an IP until it is released (limits.connectionsPerIp)', async () => {
    const { hits, limits: l } = limits({ connectionsPerIp: 2 });
    const a = await l.admit('203.0.113.1', 0);
    const b = await l.admit('203.0.113.1', 1);
    expect(a.release && b.release).toBeTypeOf('function');
    expect((await l.admit('203.0.113.1', 2)).rejection).toMatchObject({ status: 429, code: 'limit_exceeded', temporary: true });
    expect(hits).toEqual(['connections_per_ip']);
    // Another address has its own count.
    expect((await l.admit('203.0.113.2', 2)).rejection).toBeUndefined();
    // Releasing twice frees one slot, not two.
    a.release!();
    a.release!();
    expect(await l.openFrom('203.0.113.1')).toBe(1);
    const c = await l.admit('203.0.113.1', 2);
    expect(c.rejection).toBeUndefined();
    expect((await l.admit('203.0.113.1', 3)).rejection).toBeDefined();
    b.release!();
    c.release!();
    expect(await l.openFrom('203.0.113.1')).toBe(0);
  });

  it('with connectionsPerIp 0 an admission holds nothing: every connection gets the same release, no closure of its own', async () => {
    const { limits: l } = limits({ connectionsPerIp: 0 });
    const a = await l.admit('203.0.113.9', 0);
    const b = await l.admit('203.0.113.9', 1);
    // Before: a closure (with its key and holder strings) per connection, kept until the socket closed.
    expect(a.release).toBe(b.release);
    a.release!();
    expect(await l.openFrom('203.0.113.9')).toBe(0);
  });

  it('0 turns the per-IP and per-node caps off', async () => {
    const { limits: l } = limits({ connectionsPerIp: 0, connectionsPerNode: 0 });
    for (let i = 0; i < 5000; i++) expect((await l.admit('198.51.100.1', i)).rejection).toBeUndefined();
  });

  it('protects a node by default: 20,000 connections per node, 1,000 open per IP', async () => {
    const config = resolveConfig({});
    expect(config.limits.connectionsPerNode).toBe(20_000);
    expect(config.limits.connectionsPerIp).toBe(1000);
    expect(config.websocket).toMatchObject({ maxFragments: 32, preConnectBytes: 65_536, preConnectFrames: 16 });
    const l = new NodeLimits(config, () => {}, shared.node());
    expect((await l.admit('192.0.2.1', 20_000)).rejection).toMatchObject({ status: 503, code: 'limit_exceeded' });
  });

  it('limits.connectionsPerIp holds across two nodes sharing their limits: 30 racing admissions, 10 admitted', async () => {
    const a = limits({ connectionsPerIp: 10 });
    const b = limits({ connectionsPerIp: 10 });
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).limits.admit('203.0.113.50', 0)));
    const admitted = results.filter((r) => !r.rejection);
    expect(admitted.length).toBe(10);
    expect(a.hits.length + b.hits.length).toBe(20);
    // A slot released on one node is free for the other.
    admitted[0]!.release!();
    expect(await a.limits.openFrom('203.0.113.50')).toBe(9);
    expect((await a.limits.admit('203.0.113.50', 0)).rejection).toBeUndefined();
    expect((await b.limits.admit('203.0.113.50', 0)).rejection).toMatchObject({ status: 429, code: 'limit_exceeded' });
  });

  it('limits.connectionRatePerIp is one budget across nodes, and a rate refusal gives the open slot back', async () => {
    const a = limits({ connectionRatePerIp: 2, connectionsPerIp: 100 });
    const b = limits({ connectionRatePerIp: 2, connectionsPerIp: 100 });
    // Burst of twice the rate: 4 new connections from the address, whichever node they reach.
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).limits.admit('203.0.113.60', 0)));
    expect(results.filter((r) => !r.rejection).length).toBe(4);
    expect(results.filter((r) => r.rejection?.code === 'rate_limited').length).toBe(4);
    expect(await a.limits.openFrom('203.0.113.60')).toBe(4);
  });

  it('an admission the shared limits do not answer in time is refused with 503, and the slot taken late goes back', async () => {
    const inner = shared.node();
    const gated = new GatedLimits(inner);
    const l = new NodeLimits(resolveConfig({ limits: { connectionRatePerIp: 0, connectionsPerIp: 5 } }), () => {}, gated, 30);
    const admission = await l.admit('203.0.113.70', 0);
    expect(admission.rejection).toMatchObject({ status: 503, code: 'unavailable', temporary: true });
    gated.open();
    for (let i = 0; i < 50 && gated.releases === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(gated.releases).toBe(1);
    expect(await inner.held('conn-ip\u0000203.0.113.70')).toBe(0);
  });

  it('a SharedLimits that fails refuses admission with 503 unavailable and the publish check with unavailable', async () => {
    const gone = shared.node();
    await gone.close();
    const { limits: l } = limits({ connectionsPerIp: 5 }, gone);
    expect((await l.admit('203.0.113.80', 0)).rejection).toMatchObject({ status: 503, code: 'unavailable', temporary: true });
    const ns = resolveConfig({ namespaces: { chat: { rateLimit: { messages: 1, intervalMs: 1000 } } } }).namespaces.chat!;
    await expect(l.publishAllowed('chat', ns, 'u')).rejects.toMatchObject({ code: 'unavailable', temporary: true });
  });

  it('the publish rateLimit is per user across nodes; a changed rateLimit starts a fresh budget', async () => {
    const a = limits({});
    const b = limits({});
    const ns = resolveConfig({ namespaces: { chat: { rateLimit: { messages: 3, intervalMs: 60_000 } } } }).namespaces.chat!;
    const user = `u-${Math.random()}`;
    const allowed = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).limits.publishAllowed('chat', ns, user)));
    expect(allowed.filter(Boolean).length).toBe(3);
    expect(await a.limits.publishAllowed('chat', ns, `${user}-other`)).toBe(true);
    const reloaded = resolveConfig({ namespaces: { chat: { rateLimit: { messages: 4, intervalMs: 60_000 } } } }).namespaces.chat!;
    expect(await b.limits.publishAllowed('chat', reloaded, user)).toBe(true);
  });
});

describe('limits across two nodes sharing one engine (real sockets on 127.0.0.1)', () => {
  const refusedStatus = (url: string) => TestClient.open(url).then((c) => (c.close(), 101), (e: { status?: number }) => e.status);

  it('limits.connectionsPerIp holds across two nodes: 12 racing upgrades over both, 3 admitted, the rest 429', () =>
    withNodePair({ limits: { connectionsPerIp: 3, connectionRatePerIp: 0 } }, async (a, b) => {
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => TestClient.open((i % 2 ? a : b).wsUrl)));
      const open = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<TestClient>).value);
      expect(open.length).toBe(3);
      for (const r of results) if (r.status === 'rejected') expect((r.reason as { status: number }).status).toBe(429);
      expect(await refusedStatus(a.wsUrl)).toBe(429);
      expect(await refusedStatus(b.wsUrl)).toBe(429);
      for (const c of open) c.close();
    }));

  it('a connection that closes on one node frees its IP slot for the other node', () =>
    withNodePair({ limits: { connectionsPerIp: 2, connectionRatePerIp: 0 } }, async (a, b) => {
      const onA = await TestClient.open(a.wsUrl);
      const onB = await TestClient.open(b.wsUrl);
      expect(await refusedStatus(b.wsUrl)).toBe(429);
      onA.close();
      await onA.closed;
      // The release is asynchronous: within a bounded wait, node B admits again.
      let next: TestClient | undefined;
      for (let i = 0; i < 50 && !next; i++) {
        next = await TestClient.open(b.wsUrl).catch(() => undefined);
        if (!next) await new Promise((r) => setTimeout(r, 20));
      }
      expect(next).toBeDefined();
      expect(await refusedStatus(a.wsUrl)).toBe(429);
      next!.close();
      onB.close();
    }));

  it('the namespace publish rateLimit is one budget per user across two nodes', () =>
    withNodePair({ namespaces: { ...TEST_NAMESPACES, course: { clientPublish: 'subscribers', rateLimit: { messages: 3, intervalMs: 60_000 } } } }, async (a, b) => {
      const { client: onA } = await TestClient.connect(a.wsUrl, await a.token('student'));
      const { client: onB } = await TestClient.connect(b.wsUrl, await b.token('student'));
      const { client: other } = await TestClient.connect(b.wsUrl, await b.token('classmate'));
      for (const c of [onA, onB, other]) await c.ok('subscribe', { channel: 'course:c1' });
      const replies = [];
      for (let i = 0; i < 6; i++) replies.push(await (i % 2 ? onB : onA).call('publish', { channel: 'course:c1', data: i }));
      expect(replies.filter((r) => 'result' in r).length).toBe(3);
      for (const r of replies.filter((r) => 'error' in r)) expect(r).toMatchObject({ error: { code: 'rate_limited', temporary: true } });
      // Per user: the classmate still has its own budget.
      await other.ok('publish', { channel: 'course:c1', data: 'hi' });
      for (const c of [onA, onB, other]) c.close();
    }));
});
