/**
 * The Redis engine tells its observer (metrics) what happens, against a real redis-server: round
 * trips by operation, the pub/sub channels it holds, failures by kind while Redis is gone, and the
 * reconnects once it is back.
 */
import { randomBytes } from 'node:crypto';
import { ErrorReply } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineErrorKind, EngineObserver, EngineOp } from '../engine-observer.js';
import { redisMissing, startRedis, type RedisServer } from '../../test-support/redis-server.js';
import { createRedisEngine, type RedisEngineSettings } from './redis-engine.js';
import { classifyRedisError } from './redis-observe.js';

const SETTINGS: RedisEngineSettings = {
  history: { metaTtl: 60_000, maxBytes: 0, maxStreams: 0 },
  idempotency: { maxKeys: 1000 },
  presence: { ttl: 10_000 },
  status: { lastSeenTtl: 60_000 },
  cluster: { nodeTtl: 5000 },
};

function recorder(): EngineObserver & { ops: EngineOp[]; errors: EngineErrorKind[]; reconnects: number; channels: () => number } {
  const seen = {
    ops: [] as EngineOp[],
    errors: [] as EngineErrorKind[],
    reconnects: 0,
    channels: () => -1,
    operation: (op: EngineOp) => void seen.ops.push(op),
    error: (kind: EngineErrorKind) => void seen.errors.push(kind),
    reconnect: () => void seen.reconnects++,
    pubsubChannels: (read: () => number) => void (seen.channels = read),
  };
  return seen;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('classifyRedisError', () => {
  it('sorts node-redis errors into kinds and leaves errors that are not Redis’s alone', () => {
    expect(classifyRedisError(new ErrorReply('ERR unknown command'))).toBe('reply');
    expect(classifyRedisError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', syscall: 'connect' }))).toBe('connection');
    const unavailable = Object.assign(new Error('Redis did not answer a publish within 50 ms'), { name: 'BrokerUnavailableError' });
    expect(classifyRedisError(unavailable)).toBe('timeout');
    expect(classifyRedisError(Object.assign(new Error('Redis is not answering: x', { cause: new ErrorReply('ERR x') }), { name: 'BrokerUnavailableError' }))).toBe('reply');
    expect(classifyRedisError(new Error('the user history budget is full'))).toBeUndefined();
    expect(classifyRedisError('not an error')).toBeUndefined();
  });
});

describe.skipIf(redisMissing())('the Redis engine and its observer', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('times publish, history and subscribe, reads the pub/sub channels it holds, counts failures while Redis is gone and the reconnects after', async () => {
    const seen = recorder();
    const engine = createRedisEngine({ url: redis.url, prefix: `obs-${randomBytes(4).toString('hex')}`, connectTimeoutMs: 500, maxReconnectDelayMs: 100 }, { ...SETTINGS, observer: seen });
    try {
      await until('Redis ready', () => engine.status?.().ready === true);
      await engine.broker.subscribe(['chat:a', 'chat:b']);
      expect(seen.channels()).toBe(2);
      await engine.broker.publish('chat:a', { n: 1 }, { history: { size: 10, ttlMs: 60_000 } });
      await engine.broker.history('chat:a', { limit: 10 });
      await engine.presence.stats('chat:a');
      expect(seen.ops).toEqual(expect.arrayContaining(['subscribe', 'publish', 'history', 'presence']));
      expect(seen.errors).toEqual([]);
      await engine.broker.unsubscribe(['chat:b']);
      expect(seen.channels()).toBe(1);

      await redis.kill();
      await expect(engine.broker.publish('chat:a', { n: 2 }, { history: { size: 10, ttlMs: 60_000 } })).rejects.toThrow();
      await until('a failure counted', () => seen.errors.length > 0);
      expect(seen.errors.every((kind) => kind === 'connection' || kind === 'timeout')).toBe(true);
      expect(seen.reconnects).toBe(0);

      await redis.restart();
      await until('the connections back', () => seen.reconnects >= 2 && engine.status?.().ready === true, 15_000);
      await engine.broker.publish('chat:a', { n: 3 }, { history: { size: 10, ttlMs: 60_000 } });
    } finally {
      await engine.close();
    }
  }, 30_000);
});
