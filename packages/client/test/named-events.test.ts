/**
 * Named events (issue 17, section 3) through the SDK against a real node, over every transport:
 * a publication's event name (`task:updated`) from the server API, the library and a client
 * publish reaches `subscription.on('task:updated')` after `publication`; recovery and history
 * keep it; bad names are refused with `bad_request`. Over SSE the fetch-based reader (Node has
 * no EventSource) receives the publication as the SSE event named `task:updated`.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { PublicationContext } from '@tidings/client';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, TRANSPORTS, until } from './support.js';

let server: TestNode;
const clients = new Clients();

beforeEach(async () => {
  server = await startTestNode();
});
afterEach(async () => {
  clients.closeAll();
  await server.close();
});

interface Task {
  id: number;
}

describe.each(TRANSPORTS)('named events over %s', (transport) => {
  const options = async (user: string) => ({ ...FAST, transports: [transport], token: await server.token(user) });

  test('subscription.on(name) fires for API, library and client publications of that name; publication still fires', async () => {
    const client = clients.make(server.wsUrl, await options('alice'));
    await client.connect();
    const sub = client.subscribe<Task, { 'task:updated': Task; 'order:shipped': { order: string } }>('chat:board');
    const all: PublicationContext<Task>[] = [];
    const updated: Task[] = [];
    const shipped: string[] = [];
    const order: string[] = [];
    sub.on('publication', (p) => {
      all.push(p);
      order.push(`publication:${p.event ?? '-'}`);
    });
    sub.on('task:updated', (p) => {
      updated.push(p.data);
      order.push(`named:${p.event}`);
    });
    sub.on('order:shipped', (p) => shipped.push(p.data.order));
    await sub.ready();

    expect((await server.api('POST', '/publish', { channel: 'chat:board', data: { id: 1 }, event: 'task:updated' })).status).toBe(200);
    await server.node.publish('chat:board', { order: 'o-7' }, { event: 'order:shipped' });
    await sub.publish({ id: 2 }, { event: 'task:updated' });
    await server.api('POST', '/publish', { channel: 'chat:board', data: { id: 3 } });
    expect((await server.api('POST', '/broadcast', { channels: ['chat:board'], data: { id: 4 }, event: 'task:updated' })).status).toBe(200);
    await until(() => all.length === 5, () => `publications: ${all.length}`);

    expect(all.map((p) => p.event)).toEqual(['task:updated', 'order:shipped', 'task:updated', undefined, 'task:updated']);
    expect(all[3]).not.toHaveProperty('event');
    expect(updated).toEqual([{ id: 1 }, { id: 2 }, { id: 4 }]);
    expect(shipped).toEqual(['o-7']);
    // `publication` first, then the name.
    expect(order.slice(0, 2)).toEqual(['publication:task:updated', 'named:task:updated']);
  });

  test('recovery and history keep the event name', async () => {
    const client = clients.make(server.wsUrl, await options('alice'));
    await client.connect();
    const sub = client.subscribe<Task>('chat:board');
    const all: PublicationContext<Task>[] = [];
    const named: PublicationContext<Task>[] = [];
    sub.on('publication', (p) => all.push(p));
    sub.on('task:updated', (p) => named.push(p));
    await sub.ready();
    await server.api('POST', '/publish', { channel: 'chat:board', data: { id: 1 }, event: 'task:updated' });
    await until(() => all.length === 1, 'live publication');

    client.disconnect();
    await server.api('POST', '/publish', { channel: 'chat:board', data: { id: 2 }, event: 'task:updated' });
    await server.api('POST', '/publish', { channel: 'chat:board', data: { id: 3 } });
    await client.connect();
    await until(() => all.length === 3, () => `recovered: ${all.length}`);
    expect(all.slice(1).map((p) => [p.data.id, p.event, p.recovered])).toEqual([
      [2, 'task:updated', true],
      [3, undefined, true],
    ]);
    expect(named.map((p) => p.data.id)).toEqual([1, 2]);

    const page = await sub.history({ limit: 10 });
    expect(page.publications.map((p) => [p.data, p.event])).toEqual([
      [{ id: 1 }, 'task:updated'],
      [{ id: 2 }, 'task:updated'],
      [{ id: 3 }, undefined],
    ]);
    const api = await server.api('GET', '/channels/chat%3Aboard/history?limit=10');
    expect(api.status).toBe(200);
    expect(api.body.data.publications.map((p: { event?: string }) => p.event ?? null)).toEqual(['task:updated', 'task:updated', null]);
  });

  test('a bad event name is refused with bad_request, from a client and from the API', async () => {
    const client = clients.make(server.wsUrl, await options('alice'));
    await client.connect();
    const sub = client.subscribe('chat:board');
    await sub.ready();
    for (const event of ['', 'has space', 'x'.repeat(65), 'new\nline', 'é']) {
      await expect(sub.publish({ id: 1 }, { event })).rejects.toMatchObject({ code: 'bad_request' });
      const res = await server.api('POST', '/publish', { channel: 'chat:board', data: 1, event });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('bad_request');
      expect(res.body.error.message).toMatch(/^event: /);
    }
    const broadcast = await server.api('POST', '/broadcast', { channels: ['chat:board'], data: 1, event: 'has space' });
    expect(broadcast.status).toBe(400);
    expect(broadcast.body.error.code).toBe('bad_request');
    await expect(server.node.publish('chat:board', 1, { event: 'a b' })).rejects.toMatchObject({ code: 'bad_request' });
    // The longest name is fine.
    await expect(sub.publish({ id: 1 }, { event: 'x'.repeat(64) })).resolves.toMatchObject({ offset: 1 });
  });
});
