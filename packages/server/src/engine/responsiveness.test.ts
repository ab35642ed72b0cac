import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { redisMissing, startRedis, type RedisServer } from '../test-support/redis-server.js';
import { Responsiveness } from './responsiveness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(redisMissing())('Responsiveness (a real redis-server, paused with SIGSTOP)', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('is not ready with the reason while the server keeps its connection but does not answer, and ready again once it answers', async () => {
    const client = createClient({ url: redis.url });
    client.on('error', () => {});
    await client.connect();
    const check = new Responsiveness(() => client.ping(), { intervalMs: 100, timeoutMs: 300, name: 'Redis' });
    try {
      await check.check();
      expect(check.status()).toBeUndefined();
      redis.pause();
      // The TCP connection stays open (client.isReady), but PING goes unanswered.
      let status = check.status();
      for (let i = 0; i < 40 && status === undefined; i++) {
        await sleep(50);
        status = check.status();
      }
      expect(client.isReady).toBe(true);
      expect(status).toEqual({ ready: false, reason: 'Redis: did not answer within 300 ms' });
      redis.resume();
      for (let i = 0; i < 40 && check.status() !== undefined; i++) await sleep(50);
      expect(check.status()).toBeUndefined();
    } finally {
      check.close();
      redis.resume();
      client.destroy();
    }
  });

  it('reports a failed question with its message', async () => {
    const check = new Responsiveness(() => Promise.reject(new Error('connection refused')), { intervalMs: 10_000, timeoutMs: 300, name: 'Redis' });
    await check.check();
    expect(check.status()).toEqual({ ready: false, reason: 'Redis: connection refused' });
    check.close();
  });
});

describe('Responsiveness: questions unanswered in a row', () => {
  it('tells the owner how many questions in a row went unanswered (late or failed), and starts again at an answer', async () => {
    const told: number[] = [];
    let answer: 'never' | 'fail' | 'ok' = 'never';
    const ask = () => (answer === 'never' ? new Promise(() => {}) : answer === 'fail' ? Promise.reject(new Error('The client is offline')) : Promise.resolve('PONG'));
    const check = new Responsiveness(ask, { intervalMs: 60_000, timeoutMs: 20, name: 'Redis', onUnanswered: (n) => told.push(n) });
    try {
      await check.check();
      await check.check();
      answer = 'fail';
      await check.check();
      expect(told).toEqual([1, 2, 3]);
      answer = 'ok';
      await check.check();
      expect(check.status()).toBeUndefined();
      answer = 'never';
      await check.check();
      expect(told).toEqual([1, 2, 3, 1]);
    } finally {
      check.close();
    }
  });
});
