/**
 * The client's own reconnect scheduling, run for real over a scripted transport with fake
 * timers (so delays are measured exactly, not guessed from the formula): backoff grows and
 * is capped, its defaults are 500 ms and 20 s, it resets after a successful connection;
 * terminal close codes 4501 and 4502 stop with a typed error; and `disconnect()` called
 * from a `connecting` or `state` listener stops the client for good.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { Tidings, type TidingsError, type TidingsOptions, type TransportFactory, type TransportHandlers } from '@tidings/client';

/** A server in a box: refuses or accepts each connection as `script` says, and answers `connect`. */
function scripted(script: (attempt: number) => 'refuse' | 'accept') {
  const opens: number[] = [];
  let live: TransportHandlers | null = null;
  const factory: TransportFactory = {
    name: 'scripted',
    open(_url, handlers) {
      const attempt = opens.push(Date.now()) - 1;
      const accept = script(attempt) === 'accept';
      queueMicrotask(() => (accept ? ((live = handlers), handlers.onOpen()) : handlers.onClose(1006, 'refused')));
      return {
        send(text) {
          for (const line of text.split('\n')) {
            const frame = JSON.parse(line) as { id?: number; type?: string };
            if (frame.type !== 'connect') continue;
            const result = { client: `c${attempt}`, user: 'alice', version: 'test', protocol: 1, ping: 0, pong: 0, subs: {} };
            queueMicrotask(() => handlers.onMessage(JSON.stringify({ id: frame.id, result })));
          }
        },
        close() {
          if (live === handlers) live = null;
        },
      };
    },
  };
  return {
    factory,
    opens,
    /** Gaps between consecutive opens, ms. */
    gaps: () => opens.slice(1).map((t, i) => t - opens[i]!),
    /** The server closes the open connection. */
    close(code: number, reason = '') {
      const h = live;
      live = null;
      h?.onClose(code, reason);
    },
  };
}

let client: Tidings | undefined;
const make = (options: TidingsOptions) => (client = new Tidings('ws://test.invalid/connection/websocket', { token: 't', ...options }));

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  client?.disconnect();
  client = undefined;
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('backoff', () => {
  test('grows from the minimum, doubling its ceiling per attempt, and is capped at the maximum', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999999);
    const server = scripted(() => 'refuse');
    void make({ transport: server.factory, minReconnectDelay: 100, maxReconnectDelay: 1000 }).connect().catch(() => {});
    await vi.advanceTimersByTimeAsync(10_000);
    // min + random × min(max, min × 2^attempt), never above max.
    expect(server.gaps().slice(0, 8)).toEqual([199, 299, 499, 899, 1000, 1000, 1000, 1000]);
    expect(client!.state).toBe('connecting');
  });

  test('with full jitter it may wait as little as the minimum', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const server = scripted(() => 'refuse');
    void make({ transport: server.factory, minReconnectDelay: 100, maxReconnectDelay: 1000 }).connect().catch(() => {});
    await vi.advanceTimersByTimeAsync(1_000);
    expect(server.gaps().slice(0, 6)).toEqual([100, 100, 100, 100, 100, 100]);
  });

  test('defaults to 500 ms minimum and 20 s maximum', async () => {
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.999999);
    const server = scripted(() => 'refuse');
    void make({ transport: server.factory }).connect().catch(() => {});
    await vi.advanceTimersByTimeAsync(120_000);
    expect(server.gaps().slice(0, 9)).toEqual([999, 1499, 2499, 4499, 8499, 16499, 20000, 20000, 20000]);
    client!.disconnect();
    random.mockReturnValue(0);
    const again = scripted(() => 'refuse');
    void make({ transport: again.factory }).connect().catch(() => {});
    await vi.advanceTimersByTimeAsync(2_000);
    expect(again.gaps().slice(0, 3)).toEqual([500, 500, 500]);
  });

  test('resets after a successful connection', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999999);
    const server = scripted((attempt) => (attempt === 4 ? 'accept' : 'refuse'));
    const c = make({ transport: server.factory, minReconnectDelay: 100, maxReconnectDelay: 1000 });
    void c.connect().catch(() => {});
    await vi.advanceTimersByTimeAsync(3_000);
    expect(c.state).toBe('connected');
    expect(server.gaps()).toEqual([199, 299, 499, 899]);
    const closedAt = Date.now();
    server.close(1006, 'network lost');
    await vi.advanceTimersByTimeAsync(198);
    expect(server.opens).toHaveLength(5);
    await vi.advanceTimersByTimeAsync(1);
    // Attempt 0 again, not attempt 5 (which would wait 1000 ms).
    expect(server.opens).toHaveLength(6);
    expect(server.opens.at(-1)! - closedAt).toBe(199);
  });
});

describe('terminal close codes', () => {
  test.each([
    [4501, 'bad_request'],
    [4502, 'permission_denied'],
  ])('%i stops reconnecting with a typed %s error', async (code, errorCode) => {
    const server = scripted(() => 'accept');
    const c = make({ transport: server.factory, minReconnectDelay: 10, maxReconnectDelay: 10 });
    const stopped = new Promise<{ code: number; error?: TidingsError }>((resolve) => c.on('disconnected', resolve));
    await c.connect();
    server.close(code, 'refused by the server');
    const ctx = await stopped;
    expect(ctx.code).toBe(code);
    expect(ctx.error).toMatchObject({ name: 'TidingsError', code: errorCode, temporary: false, closeCode: code });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.opens).toHaveLength(1);
    expect(c.state).toBe('disconnected');
  });

  test('a terminal close while connecting rejects connect() with the typed error', async () => {
    const c = make({
      transport: {
        name: 'closing',
        open: (_url, handlers) => (queueMicrotask(() => handlers.onClose(4502, 'forbidden origin')), { send() {}, close() {} }),
      },
    });
    await expect(c.connect()).rejects.toMatchObject({ code: 'permission_denied', closeCode: 4502 });
  });
});

describe('disconnect() from a listener', () => {
  test('"give up after N attempts" in a connecting listener stops the client', async () => {
    const server = scripted(() => 'refuse');
    const c = make({ transport: server.factory, minReconnectDelay: 10, maxReconnectDelay: 20 });
    let attempts = 0;
    c.on('connecting', () => {
      if (++attempts === 3) c.disconnect();
    });
    const connecting = c.connect();
    connecting.catch(() => {});
    await vi.advanceTimersByTimeAsync(5_000);
    await expect(connecting).rejects.toMatchObject({ code: 'disconnected' });
    expect(attempts).toBe(3);
    expect(server.opens).toHaveLength(2);
    expect(c.state).toBe('disconnected');
  });

  test('in a state listener, as connect() starts: nothing is opened', async () => {
    const server = scripted(() => 'accept');
    const c = make({ transport: server.factory });
    const states: string[] = [];
    c.on('state', ({ state }) => {
      states.push(state);
      if (state === 'connecting') c.disconnect();
    });
    await expect(c.connect()).rejects.toMatchObject({ code: 'disconnected' });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(server.opens).toHaveLength(0);
    expect(states).toEqual(['connecting', 'disconnected']);
  });

  test('in a state listener, on connected: the connection is not set up behind its back', async () => {
    const server = scripted(() => 'accept');
    const c = make({ transport: server.factory });
    c.on('state', ({ state }) => state === 'connected' && c.disconnect());
    const connected: unknown[] = [];
    c.on('connected', (ctx) => connected.push(ctx));
    await expect(c.connect()).rejects.toMatchObject({ code: 'disconnected' });
    expect(c.state).toBe('disconnected');
    expect(connected).toEqual([]);
    // Commands wait for the next connect() instead of going to a transport that is gone.
    void c.publish('chat:x', 1).catch(() => {});
    expect(c.queued).toBe(1);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(server.opens).toHaveLength(1);
  });
});
