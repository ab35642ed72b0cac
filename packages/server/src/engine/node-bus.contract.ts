/**
 * The contract every NodeBus implementation passes, with one node and with two.
 * The factory builds a fresh deployment of `count` bus handles (not started yet) whose
 * node TTL is `nodeTtlMs`; the suite starts them with ids of its own and closes them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, unique } from './contract-support.js';
import { BusRequestError, type BusMessage, type NodeBus } from './node-bus.js';

export interface BusDeployment {
  nodes: NodeBus[];
  /** Closes what the factory opened beyond the nodes (a hub, a relay); the nodes are closed first. */
  close(): Promise<void>;
}

export type NodeBusFactory = (count: number, options: { nodeTtlMs: number }) => Promise<BusDeployment>;

const TTL = 400;

interface Joined {
  id: string;
  bus: NodeBus;
  got: Array<{ message: BusMessage; from: string }>;
  /** Answers requests; the default echoes `{ echo: message, by: id }`. */
  answer: (message: BusMessage, from: string) => unknown;
}

async function rejection(p: Promise<unknown>): Promise<BusRequestError> {
  try {
    await p;
  } catch (err) {
    return err as BusRequestError;
  }
  throw new Error('expected a rejection');
}

async function until(check: () => Promise<boolean> | boolean, withinMs: number): Promise<void> {
  const end = Date.now() + withinMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error(`condition not met within ${withinMs} ms`);
}

export function nodeBusContract(name: string, factory: NodeBusFactory): void {
  describe(`NodeBus contract: ${name}`, () => {
    const open: BusDeployment[] = [];
    afterEach(async () => {
      for (const d of open.splice(0)) {
        await Promise.all(d.nodes.map((n) => n.close()));
        await d.close();
      }
    });

    /** Starts `count` nodes; ids sort in creation order. */
    async function deploy(count: number): Promise<Joined[]> {
      const d = await factory(count, { nodeTtlMs: TTL });
      open.push(d);
      const prefix = unique('node-');
      const joined: Joined[] = [];
      for (let i = 0; i < count; i++) {
        const j: Joined = {
          id: `${prefix}-${i}`,
          bus: d.nodes[i]!,
          got: [],
          answer: (message) => ({ echo: message, by: j.id }),
        };
        await j.bus.start(j.id, {
          onMessage: (message, from) => {
            j.got.push({ message, from });
            return j.answer(message, from);
          },
        });
        joined.push(j);
      }
      return joined;
    }

    const info = (j: Joined, connections = 0) => ({ id: j.id, pid: process.pid, host: 'test-host', startedAt: 1000, connections });

    describe('one node', () => {
      it('broadcast and send reach the sender itself, asynchronously', async () => {
        const [a] = await deploy(1);
        // Nothing arrives within the call itself; whether the broadcast has arrived by the time
        // its promise settles depends on the bus (over a process boundary it may have).
        const broadcast = a!.bus.broadcast({ type: 'hello', n: 1 });
        expect(a!.got).toEqual([]);
        await broadcast;
        const before = a!.got.length;
        const send = a!.bus.send(a!.id, { type: 'direct', n: 2 });
        expect(a!.got.length).toBe(before);
        await send;
        await until(() => a!.got.length === 2, 1000);
        expect(a!.got).toEqual([
          { message: { type: 'hello', n: 1 }, from: a!.id },
          { message: { type: 'direct', n: 2 }, from: a!.id },
        ]);
      });

      it('answers its own request, and requestAll lists only itself', async () => {
        const [a] = await deploy(1);
        expect(await a!.bus.request(a!.id, { type: 'ping', x: [1, 2] }, 1000)).toEqual({ echo: { type: 'ping', x: [1, 2] }, by: a!.id });
        expect(await a!.bus.requestAll({ type: 'ping' }, 1000)).toEqual([{ node: a!.id, value: { echo: { type: 'ping' }, by: a!.id } }]);
      });

      it('rejects a request to a node it never saw at once with unknown_node', async () => {
        const [a] = await deploy(1);
        const started = Date.now();
        const err = await rejection(a!.bus.request('no-such-node', { type: 'ping' }, 5000));
        expect(err).toBeInstanceOf(BusRequestError);
        expect(err.code).toBe('unknown_node');
        expect(Date.now() - started).toBeLessThan(2500);
      });

      it('lists itself after a heartbeat, and nobody after close', async () => {
        const [a] = await deploy(1);
        expect(await a!.bus.nodes()).toEqual([]);
        const before = Date.now();
        await a!.bus.heartbeat(info(a!, 3));
        const listed = await a!.bus.nodes();
        expect(listed).toEqual([{ ...info(a!, 3), lastHeartbeat: expect.any(Number) }]);
        expect(listed[0]!.lastHeartbeat).toBeGreaterThanOrEqual(before - 50);
        await a!.bus.close();
        await expect(a!.bus.request(a!.id, { type: 'ping' }, 500)).rejects.toMatchObject({ code: 'closed' });
      });
    });

    describe('two nodes', () => {
      it('broadcast reaches both nodes, the sender included', async () => {
        const [a, b] = await deploy(2);
        await a!.bus.broadcast({ type: 'kick', user: 'u1' });
        await until(() => a!.got.length === 1 && b!.got.length === 1, 1000);
        expect(a!.got).toEqual([{ message: { type: 'kick', user: 'u1' }, from: a!.id }]);
        expect(b!.got).toEqual([{ message: { type: 'kick', user: 'u1' }, from: a!.id }]);
      });

      it('delivers messages from one node to another in order, each once', async () => {
        const [a, b] = await deploy(2);
        for (let i = 0; i < 100; i++) {
          if (i % 10 === 0) await a!.bus.broadcast({ type: 'seq', i });
          else await a!.bus.send(b!.id, { type: 'seq', i });
        }
        await until(() => b!.got.length === 100, 2000);
        await sleep(50);
        expect(b!.got.map((g) => g.message.i)).toEqual(Array.from({ length: 100 }, (_, i) => i));
        expect(b!.got.every((g) => g.from === a!.id)).toBe(true);
        expect(a!.got.map((g) => g.message.i)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
      });

      it('answers a request from the other node, sync or async', async () => {
        const [a, b] = await deploy(2);
        expect(await a!.bus.request(b!.id, { type: 'ping' }, 1000)).toEqual({ echo: { type: 'ping' }, by: b!.id });
        b!.answer = async (m) => {
          await sleep(20);
          return { later: m.type };
        };
        expect(await a!.bus.request(b!.id, { type: 'slowish' }, 1000)).toEqual({ later: 'slowish' });
        b!.answer = () => undefined;
        expect(await a!.bus.request(b!.id, { type: 'nothing' }, 1000)).toBeUndefined();
        expect(b!.got.every((g) => g.from === a!.id)).toBe(true);
      });

      it('a handler that throws rejects the request with remote, its message and code', async () => {
        const [a, b] = await deploy(2);
        b!.answer = () => {
          throw Object.assign(new Error('not allowed here'), { code: 'forbidden' });
        };
        const err = await rejection(a!.bus.request(b!.id, { type: 'x' }, 1000));
        expect(err).toBeInstanceOf(BusRequestError);
        expect(err).toMatchObject({ code: 'remote', remoteCode: 'forbidden', message: 'not allowed here' });
        b!.answer = async () => {
          throw new Error('async failure');
        };
        const err2 = await rejection(a!.bus.request(b!.id, { type: 'x' }, 1000));
        expect(err2).toMatchObject({ code: 'remote', message: 'async failure' });
        expect(err2.remoteCode).toBeUndefined();
        // The bus goes on working for both nodes.
        b!.answer = () => 'fine';
        expect(await a!.bus.request(b!.id, { type: 'x' }, 1000)).toBe('fine');
      });

      it('rejects with timeout when the other node does not answer in time', async () => {
        const [a, b] = await deploy(2);
        b!.answer = () => sleep(1000).then(() => 'too late');
        const started = Date.now();
        const err = await rejection(a!.bus.request(b!.id, { type: 'slow' }, 150));
        const took = Date.now() - started;
        expect(err).toBeInstanceOf(BusRequestError);
        expect(err.code).toBe('timeout');
        expect(took).toBeGreaterThanOrEqual(140);
        expect(took).toBeLessThan(900);
      });

      it('requestAll answers for every node; a slow one appears as a timeout', async () => {
        const [a, b] = await deploy(2);
        const all = await a!.bus.requestAll({ type: 'count' }, 1000);
        expect(all.sort((x, y) => (x.node < y.node ? -1 : 1))).toEqual([
          { node: a!.id, value: { echo: { type: 'count' }, by: a!.id } },
          { node: b!.id, value: { echo: { type: 'count' }, by: b!.id } },
        ]);
        b!.answer = () => sleep(1000).then(() => 'too late');
        const started = Date.now();
        const some = await a!.bus.requestAll({ type: 'count' }, 150);
        expect(Date.now() - started).toBeLessThan(900);
        expect(some.sort((x, y) => (x.node < y.node ? -1 : 1))).toEqual([
          { node: a!.id, value: { echo: { type: 'count' }, by: a!.id } },
          { node: b!.id, error: { message: expect.any(String), code: 'timeout' } },
        ]);
        a!.answer = () => {
          throw Object.assign(new Error('nope'), { code: 'denied' });
        };
        b!.answer = () => 7;
        const mixed = await b!.bus.requestAll({ type: 'count' }, 1000);
        expect(mixed.sort((x, y) => (x.node < y.node ? -1 : 1))).toEqual([
          { node: a!.id, error: { message: 'nope', code: 'denied' } },
          { node: b!.id, value: 7 },
        ]);
      });

      it('rejects a request to an unknown node at once, the known one still answers', async () => {
        const [a, b] = await deploy(2);
        const started = Date.now();
        await expect(a!.bus.request(`${b!.id}-other`, { type: 'ping' }, 5000)).rejects.toMatchObject({ code: 'unknown_node' });
        expect(Date.now() - started).toBeLessThan(2500);
        expect(await a!.bus.request(b!.id, { type: 'ping' }, 1000)).toMatchObject({ by: b!.id });
      });

      it('lists nodes from their heartbeats; one that stops heartbeating drops out within the TTL', async () => {
        const [a, b] = await deploy(2);
        await a!.bus.heartbeat(info(a!, 1));
        await b!.bus.heartbeat(info(b!, 2));
        for (const j of [a!, b!]) {
          const listed = await j.bus.nodes();
          expect(listed.map((n) => [n.id, n.connections, n.pid, n.host, n.startedAt])).toEqual([
            [a!.id, 1, process.pid, 'test-host', 1000],
            [b!.id, 2, process.pid, 'test-host', 1000],
          ]);
        }
        // a goes on heartbeating, b stops (as a crashed node would).
        const stoppedAt = Date.now();
        let beats = 0;
        await until(async () => {
          await a!.bus.heartbeat(info(a!, 5));
          beats++;
          const ids = (await a!.bus.nodes()).map((n) => n.id);
          return ids.length === 1;
        }, TTL * 4);
        expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(TTL - 50);
        expect(beats).toBeGreaterThan(1);
        const listed = await b!.bus.nodes();
        expect(listed.map((n) => [n.id, n.connections])).toEqual([[a!.id, 5]]);
        // b heartbeats again: it is back.
        await b!.bus.heartbeat(info(b!, 0));
        expect((await a!.bus.nodes()).map((n) => n.id)).toEqual([a!.id, b!.id]);
      });

      it('a node that closes leaves: not listed, unknown to requests, not in requestAll or broadcasts', async () => {
        const [a, b] = await deploy(2);
        await a!.bus.heartbeat(info(a!));
        await b!.bus.heartbeat(info(b!));
        await b!.bus.close();
        await until(async () => (await a!.bus.nodes()).length === 1, 1000);
        expect((await a!.bus.nodes()).map((n) => n.id)).toEqual([a!.id]);
        await expect(a!.bus.request(b!.id, { type: 'ping' }, 1000)).rejects.toMatchObject({ code: 'unknown_node' });
        const all = await a!.bus.requestAll({ type: 'ping' }, 1000);
        expect(all.map((x) => x.node)).toEqual([a!.id]);
        await a!.bus.broadcast({ type: 'after' });
        await until(() => a!.got.some((g) => g.message.type === 'after'), 1000);
        await sleep(50);
        expect(b!.got.some((g) => g.message.type === 'after')).toBe(false);
      });

      it('a request pending when the requester closes rejects with closed', async () => {
        const [a, b] = await deploy(2);
        b!.answer = () => sleep(500).then(() => 'late');
        const pending = rejection(a!.bus.request(b!.id, { type: 'slow' }, 2000));
        await sleep(30);
        await a!.bus.close();
        expect((await pending).code).toBe('closed');
      });
    });
  });
}
