/**
 * Channel policy at the edges an attacker reaches: the dashboard's reserved namespace
 * (`tidings-admin`) is closed to every path but the dashboard's own subscribe, and the
 * names of `Object.prototype` members are no namespaces.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from './token-mint.js';
import { createLogger } from '../log.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_API_KEY, TEST_SECRET, type TestNode } from '../test-support/test-node.js';

const STATS = 'tidings-admin:stats';
/** What the node logged at error level or above (pino: 50 error, 60 fatal). */
const errorLines: string[] = [];
const open: TestClient[] = [];

let t: TestNode;
beforeAll(async () => {
  const logger = createLogger('debug', {
    write(line: string) {
      if ((JSON.parse(line) as { level: number }).level >= 50) errorLines.push(line);
    },
  });
  t = await startTestNode({ logger, dashboard: { statsInterval: 50 } });
  t.node.onConnect(({ user }) => (user === 'hooked' ? { channels: [STATS, 'news:hooked'] } : undefined));
});
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});
afterAll(() => t.close());

async function connect(user: string, claims: Parameters<TestNode['token']>[1] = {}) {
  const { client, result } = await TestClient.connect(t.wsUrl, await t.token(user, claims));
  open.push(client);
  return { client, result };
}

/** A connection of the node's own dashboard: signed in with the admin key, its token minted by the node. */
async function dashboardConnection(): Promise<TestClient> {
  const base = `http://127.0.0.1:${t.port}/dashboard/api`;
  const signIn = await fetch(`${base}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: TEST_API_KEY }) });
  expect(signIn.status).toBe(200);
  const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
  const { data } = await (await fetch(`${base}/token`, { headers: { cookie } })).json();
  const { client } = await TestClient.connect(t.wsUrl, data.token);
  open.push(client);
  return client;
}

/** Waits for a few stats intervals: a subscriber of the stats channel would have had a snapshot by then. */
const severalIntervals = () => new Promise((r) => setTimeout(r, 250));

describe('reserved namespace tidings-admin', () => {
  it('the dashboard connection subscribes with a plain subscribe and gets the stats (the one path that stays open)', async () => {
    const dash = await dashboardConnection();
    await dash.ok('subscribe', { channel: STATS });
    await dash.waitForPush((p) => p.type === 'publication' && p.channel === STATS, 2000);
  });

  it('a connection token channels claim does not subscribe it', async () => {
    const { client, result } = await connect('claimer', { channels: [STATS, 'news:claimed'] });
    expect(Object.keys(result.subs).sort()).toEqual(['news:claimed', 'user:#claimer']);
    // A dashboard watching keeps the node publishing stats meanwhile.
    await (await dashboardConnection()).ok('subscribe', { channel: STATS });
    await severalIntervals();
    expect(client.publications(STATS)).toEqual([]);
  });

  it('an onConnect hook channels list does not subscribe it', async () => {
    const { client, result } = await connect('hooked');
    expect(Object.keys(result.subs).sort()).toEqual(['news:hooked', 'user:#hooked']);
    await (await dashboardConnection()).ok('subscribe', { channel: STATS });
    await severalIntervals();
    expect(client.publications(STATS)).toEqual([]);
  });

  it('a subscription token for it is refused, even one held by a dashboard connection', async () => {
    const { client } = await connect('tokened');
    const token = await mintToken(TEST_SECRET, { sub: 'tokened', channel: STATS });
    expect(await client.call('subscribe', { channel: STATS, token })).toMatchObject({ error: { code: 'permission_denied' } });
    const dash = await dashboardConnection();
    expect(await dash.call('subscribe', { channel: STATS, token: await mintToken(TEST_SECRET, { sub: 'dashboard.admin', channel: STATS }) })).toMatchObject({
      error: { code: 'permission_denied' },
    });
  });

  it('a plain subscribe is refused for every application role, the claimed dashboard role included', async () => {
    for (const roles of [[], ['admin'], ['staff'], ['tidings-admin'], ['tidings-admin', 'admin']]) {
      const { client } = await connect('roles', { roles });
      for (const channel of [STATS, 'tidings-admin:other', 'tidings-admin:x#roles']) {
        expect(await client.call('subscribe', { channel }), `${roles.join(',')} ${channel}`).toMatchObject({ error: { code: 'permission_denied' } });
      }
    }
  });

  it('client publishes are refused, the dashboard connection included', async () => {
    const { client } = await connect('publisher', { roles: ['tidings-admin'] });
    expect(await client.call('publish', { channel: STATS, data: { connections: 0 } })).toMatchObject({ error: { code: 'permission_denied' } });
    const dash = await dashboardConnection();
    await dash.ok('subscribe', { channel: STATS });
    expect(await dash.call('publish', { channel: STATS, data: { connections: 0 } })).toMatchObject({ error: { code: 'permission_denied' } });
  });

  it('the server API refuses publish, broadcast, history, channel info (presence) and unsubscribe with 403', async () => {
    const refused = (r: { status: number; body: any }) => {
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('permission_denied');
    };
    refused(await t.api('POST', '/publish', { channel: STATS, data: { connections: 1e9 } }));
    refused(await t.api('GET', `/channels/${encodeURIComponent(STATS)}/history`));
    refused(await t.api('GET', `/channels/${encodeURIComponent(STATS)}`));
    refused(await t.api('POST', `/channels/${encodeURIComponent(STATS)}/unsubscribe`, { user: 'someone' }));
    const broadcast = await t.api('POST', '/broadcast', { channels: [STATS, 'news:b'], data: 1 });
    expect(broadcast.status).toBe(200);
    expect(broadcast.body.data.results[0]).toMatchObject({ channel: STATS, error: { code: 'permission_denied' } });
    expect(broadcast.body.data.results[1]).toMatchObject({ channel: 'news:b', offset: expect.any(Number) });
  });

  it('the library refuses publish, history, presence and channel info', async () => {
    for (const call of [
      () => t.node.publish(STATS, { connections: 1e9 }),
      () => t.node.publish(STATS, 1, { idempotencyKey: 'k' }),
      () => t.node.history(STATS),
      () => t.node.presenceOf(STATS),
      () => t.node.channelInfo(STATS),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: 'permission_denied' });
    }
    expect(() => t.node.resolveChannel(STATS)).toThrow(expect.objectContaining({ code: 'permission_denied' }));
  });
});

describe('Object.prototype names are no namespaces', () => {
  const NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

  it('subscribe and publish to them answer unknown_namespace, never internal', async () => {
    const { client } = await connect('alice');
    for (const ns of NAMES) {
      for (const channel of [`${ns}:x`, `${ns}:x#alice`]) {
        expect(await client.call('subscribe', { channel }), channel).toMatchObject({ error: { code: 'unknown_namespace' } });
        expect(await client.call('publish', { channel, data: 1 }), channel).toMatchObject({ error: { code: 'unknown_namespace' } });
      }
    }
    expect(client.pushes.filter((p) => p.type === 'disconnect')).toEqual([]);
    expect(errorLines).toEqual([]);
  });

  it('a token channels claim naming them is skipped', async () => {
    const { result } = await connect('bob', { channels: NAMES.map((ns) => `${ns}:x`) });
    expect(Object.keys(result.subs)).toEqual(['user:#bob']);
    expect(errorLines).toEqual([]);
  });

  it('the server API answers 400 unknown_namespace for publish, history and channel info', async () => {
    for (const ns of NAMES) {
      const channel = `${ns}:x`;
      for (const r of [
        await t.api('POST', '/publish', { channel, data: 1 }),
        await t.api('GET', `/channels/${encodeURIComponent(channel)}/history`),
        await t.api('GET', `/channels/${encodeURIComponent(channel)}`),
      ]) {
        expect(r.status, channel).toBe(400);
        expect(r.body.error.code, channel).toBe('unknown_namespace');
      }
    }
    await expect(t.node.publish('toString:x', 1)).rejects.toMatchObject({ code: 'unknown_namespace' });
    expect(errorLines).toEqual([]);
  });
});
