/**
 * Webhooks when a node dies without goodbye: a `tidings serve` child on a real redis-server holds
 * the only subscriber of a channel (and the only device of a user, in a presence channel), and
 * is killed with SIGKILL. Its entries expire after `presence.ttl`; the surviving node (in this
 * process, same Redis and prefix) sweeps and sends channel.vacated, presence.leave and
 * user.offline, each exactly once; a channel the survivor still holds is not vacated. Every event
 * is counted at a real receiver (duplicates and losses).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../packages/server/src/auth/token-mint.js';
import type { TidingsOptions } from '../packages/server/src/node.js';
import { startRedis, redisMissing, type RedisServer } from '../packages/server/src/test-support/redis-server.js';
import { TestClient } from '../packages/server/src/test-support/test-client.js';
import { startTestNode, type TestNode } from '../packages/server/src/test-support/test-node.js';
import { startWebhookSink, type WebhookSink } from '../packages/server/src/test-support/webhook-sink.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

const TTL = 2000;
const DELAY = 400;
/** The survivor sweeps every max(1 s, ttl / 3). */
const SWEEP = 1000;
const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(redisMissing())('webhooks after kill -9 of a node on Redis', () => {
  let redis: RedisServer;
  let sink: WebhookSink;
  let child: (ServerProcess & { secret: string }) | undefined;
  let survivor: TestNode | undefined;
  const prefix = `kill${process.pid}`;

  beforeAll(async () => {
    redis = await startRedis();
    sink = await startWebhookSink();
  });
  afterAll(async () => {
    await child?.cleanup();
    await survivor?.close();
    await sink?.close();
    await redis?.close();
  });

  it('channel.vacated, presence.leave and user.offline once each, within ttl + delay (+ one sweep); none for a channel still held', async () => {
    child = await startServerProcess(
      [
        'engine:',
        '  type: redis',
        `  url: ${redis.url}`,
        `  prefix: ${prefix}`,
        'presence:',
        `  ttl: ${TTL}ms`,
        '  leaveGrace: 150ms',
        'namespaces:',
        '  chat: { presence: true, joinLeave: true }',
        'webhooks:',
        `  vacatedDelay: ${DELAY}ms`,
        '  pollInterval: 50ms',
        '  endpoints:',
        '    - id: sink',
        `      url: ${sink.url}`,
        `      secret: ${SECRET}`,
        '',
      ].join('\n'),
    );
    survivor = await startTestNode({
      engine: { type: 'redis', url: redis.url, prefix },
      presence: { ttl: TTL, leaveGrace: 150 },
      webhooks: { endpoints: [{ id: 'sink', url: sink.url, secret: SECRET }], vacatedDelay: DELAY, pollInterval: 50 },
    } as TidingsOptions);
    for (let i = 0; i < 200 && !survivor.node.ready; i++) await sleep(25);

    const token = await mintToken(child.secret, { sub: 'zed', ttlSeconds: 600 });
    const doomed = (await TestClient.connect(child.wsUrl, token)).client;
    const { client: kept } = await TestClient.connect(survivor.wsUrl, await survivor.token('amy'));
    await doomed.ok('subscribe', { channel: 'chat:only-there' });
    await doomed.ok('subscribe', { channel: 'chat:both' });
    await kept.ok('subscribe', { channel: 'chat:both' });
    await sink.waitFor('channel.occupied', (d) => d.channel === 'chat:only-there');
    await sink.waitFor('channel.occupied', (d) => d.channel === 'chat:both');
    await sink.waitFor('presence.join', (d) => d.channel === 'chat:only-there' && d.user === 'zed');
    await sink.waitFor('user.online', (d) => d.user === 'zed');

    const killed = Date.now();
    child.child.kill('SIGKILL');
    await child.exited;
    const bound = TTL + DELAY + SWEEP + 1500;
    const [vacated] = await sink.waitFor('channel.vacated', (d) => d.channel === 'chat:only-there', 1, bound);
    expect(Date.now() - killed).toBeLessThan(bound);
    expect(vacated!.data).toMatchObject({ channel: 'chat:only-there', reason: 'expired', node: expect.any(String) });
    const [leave] = await sink.waitFor('presence.leave', (d) => d.channel === 'chat:only-there' && d.user === 'zed', 1, bound);
    expect(leave!.data).toMatchObject({ reason: 'expired' });
    const [offline] = await sink.waitFor('user.offline', (d) => d.user === 'zed', 1, bound);
    expect(offline!.data).toMatchObject({ user: 'zed', reason: 'expired' });
    // Two more sweeps: nothing reported twice, the channel the survivor holds never vacated.
    await sleep(2 * SWEEP + DELAY);
    const count = (type: string, where: (d: Record<string, any>) => boolean) => sink.of(type, where).length;
    const counted = {
      occupiedOnlyThere: count('channel.occupied', (d) => d.channel === 'chat:only-there'),
      vacatedOnlyThere: count('channel.vacated', (d) => d.channel === 'chat:only-there'),
      occupiedBoth: count('channel.occupied', (d) => d.channel === 'chat:both'),
      vacatedBoth: count('channel.vacated', (d) => d.channel === 'chat:both'),
      // zed was in both channels' presence: one leave in each.
      leaveZedOnlyThere: count('presence.leave', (d) => d.user === 'zed' && d.channel === 'chat:only-there'),
      leaveZedBoth: count('presence.leave', (d) => d.user === 'zed' && d.channel === 'chat:both'),
      offlineZed: count('user.offline', (d) => d.user === 'zed'),
    };
    expect(counted).toEqual({ occupiedOnlyThere: 1, vacatedOnlyThere: 1, occupiedBoth: 1, vacatedBoth: 0, leaveZedOnlyThere: 1, leaveZedBoth: 1, offlineZed: 1 });
    kept.close();
  }, 60_000);
});
