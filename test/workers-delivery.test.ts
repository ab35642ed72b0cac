/**
 * The proof of `tidings serve --workers 2` (issue 13): a real primary and two workers as child
 * processes, @tidings/client in Node over WebSocket, SSE and long-polling.
 *
 * 1. 40 WebSocket clients spread over both workers (by the node of each connection in
 *    `GET /api/v1/connections`), 4 SSE and 4 long-polling clients, all subscribed to one channel
 *    with history and recovery; 2,000 publications, half through the server API (requests
 *    landing on both workers, by their `api call` log lines) and half from clients on both
 *    workers: every subscriber gets every publication once, in offset order.
 * 2. Presence, join, typing and user status of a client on one worker seen by one on the other.
 * 3. `kill -9` of one worker while publications flow through the API to the other: every
 *    subscriber, those of the killed worker too, ends with the whole stream once and in order;
 *    an idempotent publish made on the killed worker and retried through the other publishes once.
 * 4. A dashboard sign-in (cookie) works on both workers and after a full SIGTERM restart.
 *
 * Runs the built CLI (dist/): `npm run build` first (`npx tsc -b packages/server` after server changes).
 */
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tidings, type PublicationContext, type Subscription } from '@tidings/client';
import { mintToken } from '../packages/server/src/auth/token-mint.js';
import type { ServerProcess } from './support/server-process.js';
import { alive, killWorkers, logLines, restartWorkers, startWorkers, until, waitForLog, workerNodes, workerPids, type WorkersServer } from './support/workers.js';

const CONFIG = `namespaces:
  feed:
    history: { size: 5000, ttl: 10m }
    recover: true
    clientPublish: subscribers
  room:
    presence: true
    joinLeave: true
    typing: true
presence:
  leaveGrace: 200ms
typing:
  throttle: 100ms
client:
  pingInterval: 3s
  pongTimeout: 1s
http:
  pollTimeout: 2s
  heartbeat: 2s
  retry: 200ms
limits:
  commandRate: 0
cluster:
  heartbeatInterval: 500ms
  nodeTtl: 3s
  requestTimeout: 1s
`;
/** Debug logging: each API call and connection names its worker (and the request id we give it). */
const ENV = { TIDINGS_LOG_LEVEL: 'debug' };
const WS = 40;
const SSE = 4;
const POLLING = 4;
const PER_SOURCE = 1000;

type Kind = 'websocket' | 'sse' | 'polling';
interface Member {
  name: string;
  kind: Kind;
  client: Tidings;
  /** Worker index of its connection when it was listed. */
  worker?: number;
  /** Per channel: what it received, in order. */
  got: Map<string, { offset: number; id: string; recovered: boolean }[]>;
  gaps: number;
  /** `subscribed` events that were a recovery, and those of them that recovered everything. */
  recoveries: number;
  recoveredAll: number;
}

interface Counts {
  received: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
}

/** Lost, duplicated and out-of-order publications of one subscriber, against `expected` (id → offset). */
function count(got: { offset: number; id: string }[], expected: Map<string, number>): Counts {
  const seen = new Map<string, number>();
  let outOfOrder = 0;
  let wrongOffset = 0;
  for (let i = 0; i < got.length; i++) {
    const { id, offset } = got[i]!;
    seen.set(id, (seen.get(id) ?? 0) + 1);
    if (i > 0 && offset <= got[i - 1]!.offset) outOfOrder++;
    if (expected.get(id) !== offset) wrongOffset++;
  }
  let lost = 0;
  let duplicated = 0;
  for (const id of expected.keys()) if (!seen.has(id)) lost++;
  for (const [id, n] of seen) duplicated += expected.has(id) ? n - 1 : n;
  // A publication delivered with another offset than it was given is out of order too.
  return { received: got.length, lost, duplicated, outOfOrder: outOfOrder + wrongOffset };
}

/** A Node HTTP request on `agent` (a keep-alive agent holding one socket, so one worker), with our request id. */
function call(server: ServerProcess, agent: Agent | false, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { host: '127.0.0.1', port: server.port, method, path, agent, headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, headers: res.headers }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

let requestSeq = 0;
/** An API call that logs its request id, so its `api call` line says which worker answered. */
async function apiCall(server: ServerProcess, agent: Agent | false, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; requestId: string }> {
  const requestId = `wd-${process.pid}-${++requestSeq}`;
  const res = await call(server, agent, method, `/api/v1${path}`, body, { authorization: `Bearer ${server.apiKey}`, 'x-request-id': requestId });
  return { status: res.status, body: res.body, requestId };
}

/** Worker index of each request id, from the workers' `api call` lines. */
function apiWorkers(server: ServerProcess): Map<string, number> {
  const map = new Map<string, number>();
  for (const l of logLines(server)) if (l.msg === 'api call' && typeof l['requestId'] === 'string') map.set(l['requestId'], Number(l.worker));
  return map;
}

async function workerOfRequest(server: ServerProcess, requestId: string): Promise<number> {
  let worker: number | undefined;
  await until(() => (worker = apiWorkers(server).get(requestId)) !== undefined, `the api call line of ${requestId}`, 5_000);
  return worker!;
}

/** `n` keep-alive agents (one socket each) known to be connected to `worker`. */
async function agentsOn(server: ServerProcess, worker: number, n: number): Promise<Agent[]> {
  const found: Agent[] = [];
  for (let i = 0; i < 6 * n && found.length < n; i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const res = await apiCall(server, agent, 'GET', '/nodes');
    expect(res.status).toBe(200);
    if ((await workerOfRequest(server, res.requestId)) === worker) found.push(agent);
    else agent.destroy();
  }
  expect(found.length, `keep-alive connections to worker ${worker}`).toBe(n);
  return found;
}

/** Keep-alive agents (one socket each) known to be connected to worker 1 and to worker 2. */
async function agentsOnBothWorkers(server: ServerProcess): Promise<Map<number, Agent>> {
  const agents = new Map<number, Agent>();
  for (let i = 0; i < 12 && agents.size < 2; i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const res = await apiCall(server, agent, 'GET', '/nodes');
    expect(res.status).toBe(200);
    const worker = await workerOfRequest(server, res.requestId);
    if (agents.has(worker)) agent.destroy();
    else agents.set(worker, agent);
  }
  expect([...agents.keys()].sort()).toEqual([1, 2]);
  return agents;
}

/** Worker index of each connected client id, from `GET /api/v1/connections` (its node field). */
async function connectionWorkers(server: WorkersServer): Promise<Map<string, number>> {
  const res = await apiCall(server, false, 'GET', '/connections?limit=1000');
  expect(res.status).toBe(200);
  const byNode = workerNodes(server);
  const map = new Map<string, number>();
  for (const c of res.body.data.connections as { client: string; node: string }[]) map.set(c.client, byNode.get(c.node) ?? -1);
  return map;
}

async function newClient(server: WorkersServer, user: string, kind: Kind): Promise<Tidings> {
  const client = new Tidings(server.wsUrl, {
    token: await mintToken(server.secret, { sub: user }),
    transports: [kind],
    upgradeProbeDelay: false,
    minReconnectDelay: 50,
    maxReconnectDelay: 400,
    timeout: 5_000,
    pingSlack: 1_000,
    typing: { throttle: 100, idle: 1_000, timeout: 2_000 },
  });
  // Bounded: connect() itself keeps retrying a transport that fails.
  void client.connect().catch(() => {});
  try {
    await client.ready(10_000);
  } catch (err) {
    client.disconnect();
    throw new Error(`${user} (${kind}) did not connect within 10 s: ${(err as Error).message}`);
  }
  return client;
}

function track(member: Member, sub: Subscription): void {
  const list: { offset: number; id: string; recovered: boolean }[] = [];
  member.got.set(sub.channel, list);
  sub.on('publication', (p: PublicationContext) => list.push({ offset: p.offset ?? -1, id: (p.data as { id: string }).id, recovered: p.recovered === true }));
  sub.on('gap', () => member.gaps++);
  sub.on('subscribed', (s) => {
    if (!s.wasRecovering) return;
    member.recoveries++;
    if (s.recovered) member.recoveredAll++;
  });
}

/** Subscribes every member to `channel` and waits until all are subscribed. */
async function subscribeAll(members: Member[], channel: string): Promise<void> {
  await Promise.all(
    members.map((m) => {
      const sub = m.client.subscribe(channel);
      track(m, sub);
      return sub.ready();
    }),
  );
}

/** Waits (bounded) until every member has at least `n` publications of `channel`, then prints and returns the counts. */
async function settle(members: Member[], channel: string, expected: Map<string, number>, label: string, timeoutMs = 20_000): Promise<Map<Member, Counts>> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end && members.some((m) => (m.got.get(channel)?.length ?? 0) < expected.size)) await new Promise((r) => setTimeout(r, 50));
  // A little longer, so a duplicate arriving late is counted too.
  await new Promise((r) => setTimeout(r, 300));
  const counts = new Map<Member, Counts>();
  const total: Counts = { received: 0, lost: 0, duplicated: 0, outOfOrder: 0 };
  for (const m of members) {
    const c = count(m.got.get(channel) ?? [], expected);
    counts.set(m, c);
    for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += c[k];
  }
  const byKind = (kind: Kind) => members.filter((m) => m.kind === kind).length;
  console.log(
    `[workers-delivery] ${label}: ${members.length} subscribers (${byKind('websocket')} ws, ${byKind('sse')} sse, ${byKind('polling')} polling), ${expected.size} publications each; ` +
      `received ${total.received}, lost ${total.lost}, duplicated ${total.duplicated}, out of order ${total.outOfOrder}`,
  );
  return counts;
}

describe('tidings serve --workers 2: delivery, presence, a killed worker, a restart', () => {
  let server: WorkersServer;
  let restarted: WorkersServer | undefined;
  const members: Member[] = [];
  const extra: Tidings[] = [];
  const agents: Agent[] = [];
  const started = Date.now();

  beforeAll(async () => {
    server = await startWorkers(2, CONFIG, ENV);
  }, 30_000);

  afterAll(async () => {
    for (const m of members) m.client.disconnect();
    for (const c of extra) c.disconnect();
    for (const a of agents) a.destroy();
    await killWorkers(server);
    await killWorkers(restarted);
    console.log(`[workers-delivery] whole file: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  it('delivers 2,000 publications (API and clients, both workers) to 48 subscribers on both workers once each, in order', async () => {
    const add = async (kind: Kind, n: number) => {
      for (let i = 0; i < n; i++) {
        const name = `${kind}-${i}`;
        members.push({ name, kind, client: await newClient(server, name, kind), got: new Map(), gaps: 0, recoveries: 0, recoveredAll: 0 });
      }
    };
    await add('websocket', WS);
    await add('sse', SSE);
    await add('polling', POLLING);
    for (const m of members) expect(m.client.transport, m.name).toBe(m.kind);

    // Where each connection is, by its node in the connection listing.
    const where = await connectionWorkers(server);
    for (const m of members) m.worker = where.get(m.client.clientId!);
    for (const m of members) expect([1, 2], m.name).toContain(m.worker);
    const ws = members.filter((m) => m.kind === 'websocket');
    const perWorker = [1, 2].map((w) => ws.filter((m) => m.worker === w).length);
    console.log(`[workers-delivery] websocket clients per worker: ${perWorker.join(' / ')}; sse: ${members.filter((m) => m.kind === 'sse').map((m) => m.worker).join(',')}; polling: ${members.filter((m) => m.kind === 'polling').map((m) => m.worker).join(',')}`);
    expect(perWorker[0]).toBeGreaterThanOrEqual(10);
    expect(perWorker[1]).toBeGreaterThanOrEqual(10);

    const channel = 'feed:main';
    await subscribeAll(members, channel);

    // Half from clients: 5 WebSocket clients on each worker publish 100 each.
    const publishers = [1, 2].flatMap((w) => ws.filter((m) => m.worker === w).slice(0, 5));
    expect(publishers).toHaveLength(10);
    const expected = new Map<string, number>();
    const fromClients = Promise.all(
      publishers.map(async (p) => {
        for (let i = 0; i < PER_SOURCE / publishers.length; i++) {
          const id = `${p.name}/${i}`;
          const result = await p.client.publish(channel, { id });
          expected.set(id, result.offset!);
        }
      }),
    );
    // Half through the API: each request a new TCP connection (no agent), 8 at a time, so they land on both workers.
    const requestIds: string[] = [];
    let next = 0;
    const fromApi = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < PER_SOURCE) {
          const id = `api/${next++}`;
          const res = await apiCall(server, false, 'POST', '/publish', { channel, data: { id } });
          expect(res.status, JSON.stringify(res.body)).toBe(200);
          expected.set(id, res.body.data.offset);
          requestIds.push(res.requestId);
        }
      }),
    );
    await Promise.all([fromClients, fromApi]);
    expect(expected.size).toBe(2 * PER_SOURCE);
    expect([...expected.values()].sort((a, b) => a - b)).toEqual(Array.from({ length: 2 * PER_SOURCE }, (_, i) => i + 1));

    // The API requests were answered by both workers.
    await workerOfRequest(server, requestIds.at(-1)!);
    const answered = apiWorkers(server);
    const apiPerWorker = [1, 2].map((w) => requestIds.filter((r) => answered.get(r) === w).length);
    console.log(`[workers-delivery] API publish requests per worker: ${apiPerWorker.join(' / ')}`);
    expect(apiPerWorker[0]! + apiPerWorker[1]!).toBe(PER_SOURCE);
    expect(apiPerWorker[0]).toBeGreaterThan(0);
    expect(apiPerWorker[1]).toBeGreaterThan(0);

    const counts = await settle(members, channel, expected, 'live stream');
    for (const m of members) expect({ who: m.name, ...counts.get(m) }).toEqual({ who: m.name, received: 2 * PER_SOURCE, lost: 0, duplicated: 0, outOfOrder: 0 });
    for (const m of members) expect(m.gaps, m.name).toBe(0);
  }, 60_000);

  it('shows presence, join, typing and user status of a client on the other worker', async () => {
    // Two users, each on its own worker. The primary hands TCP connections to the workers in
    // turn, so of three connections made back to back, some land on each worker.
    const watcher = await newClient(server, 'watcher', 'websocket');
    extra.push(watcher);
    let watcherWorker: number | undefined;
    let other: Tidings | undefined;
    let otherWorker: number | undefined;
    for (let round = 0; round < 4 && !other; round++) {
      const candidates = [];
      for (let i = 0; i < 3; i++) candidates.push(await newClient(server, 'typist', 'websocket'));
      const where = await connectionWorkers(server);
      watcherWorker = where.get(watcher.clientId!);
      other = candidates.find((c) => where.get(c.clientId!) !== watcherWorker);
      otherWorker = other && where.get(other.clientId!);
      for (const c of candidates) if (c !== other) c.disconnect();
    }
    expect(other, 'a connection on the other worker').toBeDefined();
    extra.push(other!);
    expect([watcherWorker, otherWorker].sort()).toEqual([1, 2]);
    console.log(`[workers-delivery] presence: watcher on worker ${watcherWorker}, typist on worker ${otherWorker}`);

    // User status: the watcher follows the typist (already online on the other worker).
    const follows = await watcher.follow(['typist']);
    expect(follows['typist']?.status).toBe('online');
    const statuses: string[] = [];
    watcher.on('status', (s) => s.user === 'typist' && statuses.push(s.status));

    const room = watcher.subscribe('room:cross');
    const joins: string[] = [];
    const leaves: string[] = [];
    const typing: { user: string; typing: boolean }[] = [];
    room.on('join', (j) => joins.push(j.info.user));
    room.on('leave', (j) => leaves.push(j.info.user));
    room.on('typing', (t) => typing.push({ user: t.user, typing: t.typing }));
    await room.ready();

    const theirs = other!.subscribe('room:cross');
    await theirs.ready();
    await until(() => joins.includes('typist'), 'the join of the typist');
    await until(() => room.presenceUsers().some((u) => u.user === 'typist'), 'the typist in presence');
    // Asked of the watcher's worker, the channel's presence holds both users with their connections.
    const listed = await room.presence();
    expect(listed.users.map((u) => u.user).sort()).toEqual(['typist', 'watcher']);
    expect(Object.keys(listed.clients).sort()).toEqual([other!.clientId!, watcher.clientId!].sort());

    theirs.setTyping(true);
    await until(() => typing.some((t) => t.user === 'typist' && t.typing), 'typing from the other worker');
    expect(room.typingUsers().map((u) => u.user)).toContain('typist');

    await other!.setStatus('away');
    await until(() => statuses.includes('away'), 'the away status from the other worker');
    other!.disconnect();
    await until(() => leaves.includes('typist'), 'the leave of the typist');
    await until(() => statuses.includes('offline'), 'the typist offline');
  }, 20_000);

  it('kill -9 of a worker mid-stream: its clients reconnect and recover, nobody loses, repeats or reorders a publication; an idempotent retry through the other worker publishes once', async () => {
    const channel = 'feed:kill';
    await subscribeAll(members, channel);
    const byWorker = await agentsOnBothWorkers(server);
    agents.push(...byWorker.values());
    const where = await connectionWorkers(server);
    for (const m of members) m.worker = where.get(m.client.clientId!);
    // The worker to kill: the one holding more of the SSE and long-polling sessions.
    const http = (w: number) => members.filter((m) => m.kind !== 'websocket' && m.worker === w).length;
    const victim = http(2) > http(1) ? 2 : 1;
    const survivor = 3 - victim;
    const victimPid = workerPids(server).get(victim)!;
    const onVictim = members.filter((m) => m.worker === victim);
    expect(onVictim.filter((m) => m.kind === 'websocket').length).toBeGreaterThanOrEqual(10);
    expect(onVictim.filter((m) => m.kind !== 'websocket').length).toBeGreaterThanOrEqual(4);

    const expected = new Map<string, number>();
    // Published on the worker about to die; its answer counts as lost: the retry goes to the other worker.
    const first = await apiCall(server, byWorker.get(victim)!, 'POST', '/publish', { channel, data: { id: 'once' }, idempotencyKey: 'kill-once' });
    expect(first.status).toBe(200);
    expected.set('once', first.body.data.offset);

    // The stream: 1,000 publications through the surviving worker, 4 requests at a time (one
    // keep-alive connection each); the other worker is killed after the 250th.
    const TOTAL = 1000;
    const lanes = [byWorker.get(survivor)!, ...(await agentsOn(server, survivor, 3))];
    agents.push(...lanes.slice(1));
    const streamStart = Date.now();
    const streamIds: string[] = [];
    let skip = 0;
    let next = 0;
    let killedAt = 0;
    await Promise.all(
      lanes.map(async (lane) => {
        while (next < TOTAL) {
          const i = next++;
          if (i === 250) {
            killedAt = Date.now() - streamStart;
            skip = logLines(server).length;
            process.kill(victimPid, 'SIGKILL');
          }
          if (i === 300) {
            const retry = await apiCall(server, lane, 'POST', '/publish', { channel, data: { id: 'once' }, idempotencyKey: 'kill-once' });
            expect(retry.status).toBe(200);
            expect(retry.body.data).toEqual({ ...first.body.data, deduplicated: true });
            streamIds.push(retry.requestId);
          }
          const id = `kill/${i}`;
          const res = await apiCall(server, lane, 'POST', '/publish', { channel, data: { id } });
          expect(res.status, JSON.stringify(res.body)).toBe(200);
          expected.set(id, res.body.data.offset);
          streamIds.push(res.requestId);
        }
      }),
    );
    const streamEnd = Date.now() - streamStart;
    expect([...expected.values()].sort((a, b) => a - b)).toEqual(Array.from({ length: TOTAL + 1 }, (_, i) => i + 1));
    // Every publication of the stream went through the surviving worker.
    await workerOfRequest(server, streamIds.at(-1)!);
    const answered = apiWorkers(server);
    expect(streamIds.filter((r) => answered.get(r) !== survivor)).toEqual([]);
    await waitForLog(server, (l) => l.msg === 'worker restarted' && l.worker === victim, skip);
    expect(alive(victimPid)).toBe(false);
    const published = Date.now();

    const counts = await settle(members, channel, expected, 'stream with a worker killed');
    console.log(`[workers-delivery] stream of ${TOTAL} publications through worker ${survivor}: worker ${victim} killed at ${killedAt} ms, last publication at ${streamEnd} ms, every subscriber complete ${Date.now() - published} ms after the restart`);
    for (const m of members) expect({ who: m.name, ...counts.get(m) }).toEqual({ who: m.name, received: TOTAL + 1, lost: 0, duplicated: 0, outOfOrder: 0 });
    for (const m of members) expect(m.gaps, m.name).toBe(0);
    // The killed worker's clients came back and recovered (every recovery complete), and some publications reached them by recovery.
    const recoveredPubs = onVictim.reduce((n, m) => n + m.got.get(channel)!.filter((p) => p.recovered).length, 0);
    console.log(
      `[workers-delivery] killed worker ${victim}: ${onVictim.length} of its clients (${onVictim.map((m) => m.kind[0]).join('')}) recovered ${recoveredPubs} publications in ${onVictim.reduce((n, m) => n + m.recoveries, 0)} recoveries`,
    );
    // Where they are now (a reconnect is a new connection: the client id is new).
    const now = await connectionWorkers(server);
    const back = [1, 2].map((w) => onVictim.filter((m) => now.get(m.client.clientId!) === w).length);
    console.log(`[workers-delivery] the killed worker's clients reconnected to worker 1 / 2: ${back.join(' / ')}`);
    expect(back[0]! + back[1]!).toBe(onVictim.length);
    for (const m of onVictim) {
      expect(m.client.state, m.name).toBe('connected');
      expect(m.recoveries, m.name).toBeGreaterThan(0);
      expect(m.recoveredAll, m.name).toBe(m.recoveries);
    }
    expect(recoveredPubs).toBeGreaterThan(0);
  }, 40_000);

  it('a dashboard sign-in works on both workers and after a full SIGTERM restart', async () => {
    const byWorker = await agentsOnBothWorkers(server);
    agents.push(...byWorker.values());
    const signIn = await call(server, byWorker.get(1)!, 'POST', '/dashboard/api/session', { key: server.apiKey });
    expect(signIn.status).toBe(200);
    const cookie = String((signIn.headers['set-cookie'] as string[])[0]).split(';')[0]!;
    expect(cookie).toMatch(/^tidings_dashboard=./);
    const signedIn = async (target: WorkersServer, agents: Map<number, Agent>) => {
      for (const worker of [1, 2]) {
        const agent = agents.get(worker)!;
        const me = await call(target, agent, 'GET', '/dashboard/api/me', undefined, { cookie });
        expect(me.status, `worker ${worker}`).toBe(200);
        expect(me.body.data.name).toBe('test');
        // The cookie also stands for the admin key on the server API (with the dashboard's header).
        const listing = await call(target, agent, 'GET', '/api/v1/nodes', undefined, { cookie, 'x-tidings-dashboard': '1' });
        expect(listing.status, `worker ${worker}`).toBe(200);
        expect((await call(target, agent, 'GET', '/dashboard/api/me')).status).toBe(401);
      }
    };
    await signedIn(server, byWorker);

    // Stop the whole server (primary and both workers), then start it again from the same file.
    for (const m of members) m.client.disconnect();
    for (const c of extra) c.disconnect();
    for (const a of agents.splice(0)) a.destroy();
    const pids = [...workerPids(server).values()];
    expect(await server.stop('SIGTERM')).toBe(0);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    restarted = await restartWorkers(server, ENV);
    const again = await agentsOnBothWorkers(restarted);
    agents.push(...again.values());
    await signedIn(restarted, again);
  }, 40_000);
});
