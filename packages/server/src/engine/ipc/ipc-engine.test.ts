/**
 * The IPC engine against real processes: the engine contracts (one node and two) run through a
 * forked host process holding MemoryClusters (dist/engine/ipc/ipc-test-peer.js: build first
 * with `npx tsc -b packages/server`), plus what only a process boundary has: a host that dies,
 * a worker that dies, batching and order across the link.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Publication, StreamPosition } from '@tidings/protocol';
import { TidingsError } from '../../errors.js';
import { BadCursorError } from '../../store/notification-store.js';
import { brokerContract, waitFor, type BrokerFactoryOptions } from '../broker.contract.js';
import { ENCODED_DATA, HistoryBudgetError, type EncodedPublication } from '../broker.js';
import { sleep, unique } from '../contract-support.js';
import type { Engine } from '../engine.js';
import { MemoryCluster } from '../memory/memory-cluster.js';
import { BusRequestError } from '../node-bus.js';
import { nodeBusContract } from '../node-bus.contract.js';
import { presenceContract, presenceTwoNodeContract } from '../presence.contract.js';
import { progressContract, progressTwoNodeContract } from '../progress.contract.js';
import { sharedLimitsContract } from '../shared-limits.contract.js';
import { typingContract, typingTwoNodeContract } from '../typing.contract.js';
import { userStatusContract, userStatusTwoNodeContract } from '../user-status.contract.js';
import { serveEngine } from './engine-host.js';
import { ipcEngine } from './ipc-engine.js';
import { LinkBacklogError, LinkClosedError, messageSize, processLink, type Link } from './link.js';
import { fromWireError, toWireError } from './rpc-errors.js';

const PEER = fileURLToPath(new URL('../../../dist/engine/ipc/ipc-test-peer.js', import.meta.url));

/** Forks the test peer in `mode` and resolves once it says it is ready. */
async function forkPeer(mode: string, ...args: string[]): Promise<ChildProcess> {
  const child = fork(PEER, [mode, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ipc-test-peer ${mode} did not start`)), 10_000);
    child.on('message', (m: { ready?: boolean }) => {
      if (m?.ready) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`ipc-test-peer ${mode} exited with ${code}`)));
  });
  return child;
}

const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

let host: ChildProcess;
let link: Link;
beforeAll(async () => {
  host = await forkPeer('host');
  link = processLink(host);
});
afterAll(async () => {
  link.close();
  host.kill();
  await exited(host);
});

interface ClusterSettings {
  streams?: Record<string, unknown>;
  presenceTtlMs?: number;
  lastSeenTtlMs?: number;
  nodeTtlMs?: number;
}

/** `count` IPC engine nodes of one fresh MemoryCluster in the host process. */
function nodes(count: number, settings: ClusterSettings = {}): Engine[] {
  const options = {
    cluster: unique('cluster'),
    streams: { metaTtlMs: 3_600_000, sweepIntervalMs: 50, ...settings.streams },
    presenceTtlMs: settings.presenceTtlMs ?? 60_000,
    lastSeenTtlMs: settings.lastSeenTtlMs ?? 3_600_000,
    ...(settings.nodeTtlMs !== undefined ? { nodeTtlMs: settings.nodeTtlMs } : {}),
  };
  return Array.from({ length: count }, () => ipcEngine(link, { options }));
}

const closeAll = (engines: Engine[]) => async () => {
  await Promise.all(engines.map((e) => e.close()));
};

function brokerStreams({ idempotencyMaxKeys, ...options }: BrokerFactoryOptions) {
  return { ...options, idempotency: idempotencyMaxKeys === undefined ? {} : { maxKeys: idempotencyMaxKeys } };
}

brokerContract('IPC engine', async (options, count) => {
  const engines = nodes(count, { streams: brokerStreams(options) });
  return { nodes: engines.map((e) => e.broker), close: closeAll(engines) };
});
presenceContract('IPC engine', async ({ ttlMs }) => {
  const [e] = nodes(1, { presenceTtlMs: ttlMs });
  return { ...e!.presence, close: () => e!.close() };
});
presenceTwoNodeContract('IPC engine', async ({ ttlMs }) => {
  const engines = nodes(2, { presenceTtlMs: ttlMs });
  return { a: engines[0]!.presence, b: engines[1]!.presence, close: closeAll(engines) };
});
userStatusContract('IPC engine', async ({ ttlMs, lastSeenTtlMs }) => {
  const [e] = nodes(1, { presenceTtlMs: ttlMs, lastSeenTtlMs });
  return { ...e!.userStatus, close: () => e!.close() };
});
userStatusTwoNodeContract('IPC engine', async ({ ttlMs, lastSeenTtlMs }) => {
  const engines = nodes(2, { presenceTtlMs: ttlMs, lastSeenTtlMs });
  return { a: engines[0]!.userStatus, b: engines[1]!.userStatus, close: closeAll(engines) };
});
// Channel occupancy (Engine.occupancy) is a user status store of its own, reached over the link as its own part.
userStatusTwoNodeContract('IPC engine occupancy', async ({ ttlMs }) => {
  const engines = nodes(2, { presenceTtlMs: ttlMs });
  return { a: engines[0]!.occupancy!, b: engines[1]!.occupancy!, close: closeAll(engines) };
});
typingContract('IPC engine', async () => {
  const [e] = nodes(1);
  return { ...e!.typing, close: () => e!.close() };
});
typingTwoNodeContract('IPC engine', async () => {
  const engines = nodes(2);
  return { a: engines[0]!.typing, b: engines[1]!.typing, close: closeAll(engines) };
});
progressContract('IPC engine', async () => {
  const [e] = nodes(1);
  return { ...e!.progress, close: () => e!.close() };
});
progressTwoNodeContract('IPC engine', async () => {
  const engines = nodes(2);
  return { a: engines[0]!.progress, b: engines[1]!.progress, close: closeAll(engines) };
});
nodeBusContract('IPC engine', async (count, { nodeTtlMs }) => {
  const engines = nodes(count, { nodeTtlMs });
  return { nodes: engines.map((e) => e.bus), close: closeAll(engines) };
});
sharedLimitsContract('IPC engine', async (count) => {
  const engines = nodes(count);
  return { nodes: engines.map((e) => e.limits), close: closeAll(engines) };
});

describe('IPC engine across processes', () => {
  it('keeps the order of 1,000 publications across the link, with their positions, on the publishing node and the other', async () => {
    const [a, b] = nodes(2);
    try {
      const got = { a: [] as { pub: Publication; position: StreamPosition | undefined }[], b: [] as { pub: Publication; position: StreamPosition | undefined }[] };
      a!.broker.setHandler({ onPublication: (_c, pub, position) => got.a.push({ pub, position }), onControl: () => {} });
      b!.broker.setHandler({ onPublication: (_c, pub, position) => got.b.push({ pub, position }), onControl: () => {} });
      const channel = unique('order:');
      await a!.broker.subscribe([channel]);
      await b!.broker.subscribe([channel]);
      // Published without waiting for each other: the calls leave in one batch per tick.
      const outcomes = await Promise.all(Array.from({ length: 1000 }, (_, i) => a!.broker.publish(channel, { i }, { history: { size: 2000, ttlMs: 60_000 } })));
      expect(outcomes.map((o) => o.position!.offset)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      await waitFor(() => got.a.length === 1000 && got.b.length === 1000, 5000);
      const epoch = outcomes[0]!.position!.epoch;
      for (const list of [got.a, got.b]) {
        expect(list.map((r) => r.pub.data)).toEqual(Array.from({ length: 1000 }, (_, i) => ({ i })));
        expect(list.map((r) => r.position)).toEqual(Array.from({ length: 1000 }, (_, i) => ({ epoch, offset: i + 1 })));
      }
    } finally {
      await closeAll([a!, b!])();
    }
  });

  it('a publication with unicode, nested arrays, large numbers and a "__proto__" key arrives byte-identical to one process, on both nodes and from history', async () => {
    // JSON text as a client or the API would send it: parsed, "__proto__" is an own key.
    const text = String.raw`{"__proto__":{"admin":true},"text":"h\u00e9llo 世界 \ud83d\ude00 \ud800 é \"q\" \\ \n","nested":[[1,[2,[3,[]]]],{"a":[{"b":[null,true,false]}]}],"big":[12345678901234567890,9007199254740993,1e308,-0,5e-324,0.1],"empty":{}}`;
    const data = JSON.parse(text) as Record<string, unknown>;
    data['holes'] = [1, undefined, 2];
    data['gone'] = undefined;
    // Text passed as is (PublishOptions.json): kept to the byte, spaces and escapes included.
    const spaced = String.raw` { "x" : "\u00e9" , "y":[ 1 ,2 ], "z": "é" } `;
    const history = { history: { size: 10, ttlMs: 60_000 } };
    const publishes = [
      { data, options: {} },
      { data, options: history },
      { data: JSON.parse(spaced) as unknown, options: { ...history, json: spaced } },
    ];
    const textOf = (pub: Publication) => (pub as EncodedPublication)[ENCODED_DATA] ?? JSON.stringify(pub.data);

    // One process: the memory engine, as a single node publishes and delivers.
    const cluster = new MemoryCluster({ streams: { metaTtlMs: 60_000 }, presenceTtlMs: 60_000, lastSeenTtlMs: 60_000 });
    const local = cluster.node();
    const single: string[] = [];
    local.broker.setHandler({ onPublication: (_c, pub) => single.push(textOf(pub)), onControl: () => {} });
    const [a, b] = nodes(2);
    try {
      const channel = unique('bytes:');
      await local.broker.subscribe([channel]);
      for (const p of publishes) await local.broker.publish(channel, p.data, p.options);
      await waitFor(() => single.length === 3);
      expect(single[0]).toBe(JSON.stringify(data));
      expect(single[2]).toBe(spaced);

      // Two workers over the IPC engine: published on A, delivered to A and B.
      const got = { a: [] as Publication[], b: [] as Publication[] };
      a!.broker.setHandler({ onPublication: (_c, pub) => got.a.push(pub), onControl: () => {} });
      b!.broker.setHandler({ onPublication: (_c, pub) => got.b.push(pub), onControl: () => {} });
      await a!.broker.subscribe([channel]);
      await b!.broker.subscribe([channel]);
      for (const p of publishes) await a!.broker.publish(channel, p.data, p.options);
      await waitFor(() => got.a.length === 3 && got.b.length === 3);
      for (const list of [got.a, got.b]) {
        expect(list.map(textOf)).toEqual(single);
        const first = list[0]!.data as Record<string, unknown>;
        expect(Object.hasOwn(first, '__proto__')).toBe(true);
        expect(Object.getPrototypeOf(first)).toBe(Object.prototype);
        expect(first['__proto__']).toEqual({ admin: true });
        expect(first['holes']).toEqual([1, null, 2]);
        expect('gone' in first).toBe(false);
        expect(first['text']).toBe(data['text']);
        expect(first['big']).toEqual([12345678901234567890, 9007199254740993, 1e308, 0, 5e-324, 0.1]);
      }
      const page = await b!.broker.history(channel, { limit: 10 });
      const localPage = await local.broker.history(channel, { limit: 10 });
      expect(page.publications.map(textOf)).toEqual(localPage.publications.map(textOf));
      expect(page.publications.map(textOf)).toEqual([single[1], single[2]]);
    } finally {
      await local.close();
      await cluster.close();
      await closeAll([a!, b!])();
    }
  });

  it('the host dying rejects pending calls with a clear error, and later calls at once', async () => {
    const own = await forkPeer('host');
    const ownLink = processLink(own);
    const engine = ipcEngine(ownLink, { options: { cluster: 'dying', streams: { metaTtlMs: 60_000 }, presenceTtlMs: 60_000, lastSeenTtlMs: 60_000 } });
    expect(await engine.typing.list('t:x')).toEqual([]);
    // Stopped, the host reads nothing: these calls are on their way when it is killed.
    own.kill('SIGSTOP');
    const typing = engine.typing.start('t:x', 'alice', undefined, 5000);
    const publish = engine.broker.publish('c:x', { n: 1 }, {});
    const nodesCall = engine.bus.nodes();
    const settled = Promise.allSettled([typing, publish, nodesCall]);
    await sleep(20);
    own.kill('SIGKILL');
    const [t, p, n] = await settled;
    expect(t.status === 'rejected' && t.reason).toBeInstanceOf(LinkClosedError);
    expect((t as PromiseRejectedResult).reason.message).toMatch(/^IPC engine: typing\.start failed, the engine host is gone: /);
    expect((p as PromiseRejectedResult).reason.message).toMatch(/^IPC engine: broker\.publish failed, the engine host is gone: /);
    expect((n as PromiseRejectedResult).reason).toBeInstanceOf(BusRequestError);
    expect((n as PromiseRejectedResult).reason).toMatchObject({ code: 'closed' });
    await expect(engine.presence.users('p:x')).rejects.toThrow(/presence\.users failed, the engine host is gone/);
    await engine.close();
  });

  it("a closed link releases the node's subscriptions, bus membership and limit slots", async () => {
    const cluster = new MemoryCluster({ streams: { metaTtlMs: 150, sweepIntervalMs: 20 }, presenceTtlMs: 60_000, lastSeenTtlMs: 60_000 });
    const channel = unique('held:');
    const key = unique('user:');
    const worker = await (async () => {
      const child = fork(PEER, ['worker', channel, key], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const workerLink = processLink(child);
      const served = serveEngine(workerLink, () => cluster.node());
      await new Promise<void>((resolve) => child.on('message', (m: { ready?: boolean }) => m?.ready && resolve()));
      return { child, served };
    })();
    const local = cluster.node();
    try {
      local.broker.setHandler({ onPublication: () => {}, onControl: () => {} });
      await local.bus.start('local', { onMessage: () => 'local' });
      expect(worker.served.nodes).toBe(1);
      expect(await local.limits.held(key)).toBe(1);
      expect(await local.bus.request('worker', { type: 'ping' }, 2000)).toBe('worker');
      // The worker's subscription keeps the stream (and its epoch) past metaTtl.
      const before = await local.broker.position(channel);
      await sleep(300);
      expect(await local.broker.position(channel)).toEqual(before);
      worker.child.kill('SIGKILL');
      await exited(worker.child);
      await waitFor(() => worker.served.nodes === 0);
      expect(await local.limits.held(key)).toBe(0);
      await expect(local.bus.request('worker', { type: 'ping' }, 2000)).rejects.toMatchObject({ code: 'unknown_node' });
      await sleep(300);
      expect((await local.broker.position(channel)).epoch).not.toBe(before.epoch);
    } finally {
      await local.close();
      await cluster.close();
    }
  });
});

/** A forked `stall` peer whose engine node is served from `cluster` over a link bounded at `maxBacklogBytes`. */
async function stallPeer(cluster: MemoryCluster, channel: string, maxBacklogBytes: number) {
  const child = fork(PEER, ['stall', channel], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const peerLink = processLink(child, { maxBacklogBytes });
  const served = serveEngine(peerLink, () => cluster.node());
  const next = (key: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (m && key in m) {
          child.off('message', on);
          resolve(m);
        }
      };
      child.on('message', on);
    });
  await next('ready');
  return { child, link: peerLink, served, next };
}

describe('IPC link backpressure', () => {
  const pad = 'x'.repeat(64 * 1024);

  it('closes the link of a peer that stops reading once its backlog passes the bound, holding no more than the bound meanwhile', async () => {
    const cluster = new MemoryCluster({ streams: { metaTtlMs: 60_000 }, presenceTtlMs: 60_000, lastSeenTtlMs: 60_000 });
    const channel = unique('stuck:');
    const bound = 2 * 1024 * 1024;
    const peer = await stallPeer(cluster, channel, bound);
    const publisher = cluster.node();
    try {
      const closedWith = new Promise<Error>((resolve) => peer.link.onClose(resolve));
      expect(peer.served.nodes).toBe(1);
      peer.child.send({ stall: 10_000 });
      await peer.next('stalled');
      // 12 MiB for the stuck peer, one publication per turn (the link flushes between them).
      let most = 0;
      let sent = 0;
      for (let i = 0; i < 200; i++) {
        await publisher.broker.publish(channel, { i, pad }, {});
        sent++;
        await new Promise((resolve) => setImmediate(resolve));
        most = Math.max(most, peer.link.backlog);
      }
      const error = await closedWith;
      expect(error).toBeInstanceOf(LinkBacklogError);
      expect(error).toBeInstanceOf(LinkClosedError);
      expect((error as LinkBacklogError).backlogBytes).toBeGreaterThan(bound);
      expect((error as LinkBacklogError).maxBacklogBytes).toBe(bound);
      // Never more than the bound held for it, and nothing more queued after the close.
      expect(sent).toBe(200);
      expect(most).toBeLessThanOrEqual(bound);
      expect(most).toBeGreaterThan(bound / 2);
      const after = peer.link.backlog;
      await publisher.broker.publish(channel, { late: true, pad }, {});
      expect(peer.link.backlog).toBe(after);
      // Its engine handle is closed: its node and subscription are gone.
      await waitFor(() => peer.served.nodes === 0);
      const outcome = await publisher.broker.publish(channel, { after: true }, { history: { size: 10, ttlMs: 60_000 } });
      expect(outcome.position).toBeDefined();
      // The primary's part: the stuck process is killed.
      peer.child.kill('SIGKILL');
      await exited(peer.child);
      expect(peer.child.signalCode).toBe('SIGKILL');
    } finally {
      peer.child.kill('SIGKILL');
      await publisher.close();
      await cluster.close();
    }
  });

  it('keeps the link of a peer that is slow but stays within the bound, and it gets every publication in order', async () => {
    const cluster = new MemoryCluster({ streams: { metaTtlMs: 60_000 }, presenceTtlMs: 60_000, lastSeenTtlMs: 60_000 });
    const channel = unique('slow:');
    const bound = 16 * 1024 * 1024;
    const peer = await stallPeer(cluster, channel, bound);
    const publisher = cluster.node();
    try {
      peer.child.send({ stall: 500 });
      await peer.next('stalled');
      // 5 MiB while it reads nothing: more than the socket buffers hold, less than the bound.
      let most = 0;
      for (let i = 0; i < 80; i++) {
        await publisher.broker.publish(channel, { i, pad }, {});
        await new Promise((resolve) => setImmediate(resolve));
        most = Math.max(most, peer.link.backlog);
      }
      expect(most).toBeGreaterThan(1024 * 1024);
      let count: Record<string, unknown> = {};
      for (let tries = 0; tries < 200 && count.received !== 80; tries++) {
        if (tries > 0) await sleep(50);
        const answer = peer.next('received');
        peer.child.send({ count: true });
        count = await answer;
      }
      expect(count.received).toBe(80);
      expect(count.last).toBe(JSON.stringify({ i: 79, pad }));
      expect(peer.link.closed).toBe(false);
      expect(peer.served.nodes).toBe(1);
      await waitFor(() => peer.link.backlog === 0);
    } finally {
      peer.link.close();
      peer.child.kill('SIGKILL');
      await exited(peer.child);
      await publisher.close();
      await cluster.close();
    }
  });

  it('estimates a message at its JSON length, and measures one too large or cyclic to walk without failing', () => {
    for (const m of [{ t: 'ev', n: 'node-1', p: 'broker', m: 'pub', a: ['chat:1', '{"x":[1,2]}', { client: 'c', user: 'u' }, 12, 'ep'] }, ['abc', null, true, { k: 'v' }]]) {
      const exact = JSON.stringify(m).length;
      expect(messageSize(m)).toBeGreaterThanOrEqual(exact * 0.9);
      expect(messageSize(m)).toBeLessThanOrEqual(exact * 1.5);
    }
    const big = Array.from({ length: 20_000 }, (_, i) => i);
    expect(messageSize(big)).toBe(JSON.stringify(big).length);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(messageSize(cyclic)).toBe(0);
  });
});

describe('IPC link', () => {
  it('sends the messages of one tick as one batch, in order, and fails only a message the channel cannot serialize', async () => {
    const echo = await forkPeer('echo');
    const echoLink = processLink(echo);
    try {
      const batches: number[] = [];
      echo.on('message', (m: { batch?: number }) => m?.batch !== undefined && batches.push(m.batch));
      for (let i = 0; i < 50; i++) echoLink.send({ i });
      await waitFor(() => batches.length === 1);
      await sleep(50);
      expect(batches).toEqual([50]);
      const failed: Error[] = [];
      echoLink.send({ ok: 1 }, (e) => failed.push(e));
      echoLink.send({ bad: 10n }, (e) => failed.push(e));
      echoLink.send({ ok: 2 }, (e) => failed.push(e));
      await waitFor(() => batches.length === 3);
      expect(batches.slice(1)).toEqual([1, 1]);
      expect(failed.map((e) => e.message)).toEqual([expect.stringMatching(/BigInt/)]);
      expect(echoLink.closed).toBe(false);
      echo.kill('SIGKILL');
      await exited(echo);
      await waitFor(() => echoLink.closed);
      const late: Error[] = [];
      echoLink.send({ after: true }, (e) => late.push(e));
      expect(late[0]).toBeInstanceOf(LinkClosedError);
    } finally {
      echo.kill();
    }
  });

  it('rebuilds the errors callers test by class from their name and fields', () => {
    const round = (err: Error) => fromWireError(JSON.parse(JSON.stringify(toWireError(err))));
    const budget = round(new HistoryBudgetError('user', 100, 250, true));
    expect(budget).toBeInstanceOf(HistoryBudgetError);
    expect(budget).toMatchObject({ budget: 'user', maxBytes: 100, bytes: 250, tooLarge: true, message: new HistoryBudgetError('user', 100, 250, true).message });
    expect(round(new BusRequestError('no answer', 'remote', 'forbidden'))).toMatchObject({ constructor: BusRequestError, code: 'remote', remoteCode: 'forbidden', message: 'no answer' });
    const tidings = round(new TidingsError('rate_limited', 'slow down', { temporary: true }));
    expect(tidings).toBeInstanceOf(TidingsError);
    expect(tidings).toMatchObject({ code: 'rate_limited', temporary: true, message: 'slow down' });
    expect(round(new BadCursorError('zzz'))).toBeInstanceOf(BadCursorError);
    const other = round(Object.assign(new RangeError('deep'), { code: 'E_DEEP' }));
    expect(other).toMatchObject({ name: 'RangeError', message: 'deep', code: 'E_DEEP' });
  });
});
