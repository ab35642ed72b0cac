/**
 * The message rules over a real memory engine's broker: findMessage's refusals, and foldedPage
 * (untag, fold with the page's operations and, short of the top, with the ones after it; a folded
 * copy without the engine's JSON of its first content).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/schema.js';
import { ENCODED_DATA, type Broker, type EncodedPublication } from '../engine/broker.js';
import { MemoryCluster, memoryClusterOptions } from '../engine/memory/memory-cluster.js';
import { TidingsError } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import { messageTag, type MessageFields } from './message-tags.js';
import { findMessage, foldedPage } from './messages.js';

const NS = resolveConfig({ namespaces: { room: { history: { size: 100, ttl: '10m' }, messaging: { edits: true, annotations: true } } } }).namespaces['room']!;
const history = { size: 100, ttlMs: 600_000 };

let cluster: MemoryCluster;
let engine: Engine;
let broker: Broker;
beforeAll(() => {
  cluster = new MemoryCluster(memoryClusterOptions(resolveConfig({})));
  engine = cluster.node();
  broker = engine.broker;
});
afterAll(async () => {
  await engine.close();
  await cluster.close();
});

let seq = 0;
async function publish(channel: string, data: unknown, fields: MessageFields = {}, user?: string): Promise<number> {
  const event = messageTag(fields);
  const outcome = await broker.publish(channel, data, { history, json: JSON.stringify(data), ...(event !== undefined ? { event } : {}), ...(user !== undefined ? { info: { user, client: 'c' } } : {}) });
  return outcome.position!.offset;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof TidingsError ? `${err.code}: ${err.message}` : String(err);
  }
}

describe('findMessage', () => {
  it('returns the untagged message; an offset past the top, an operation or a missing one is not_found', async () => {
    const channel = `room:find-${++seq}`;
    const m = await publish(channel, 'hi', { replyTo: 1 });
    const op = await publish(channel, 'hi!', { op: { type: 'edit', ref: m } });
    expect(await findMessage(broker, channel, m)).toMatchObject({ offset: m, data: 'hi', replyTo: 1 });
    expect((await findMessage(broker, channel, m)).event).toBeUndefined();
    expect(await codeOf(findMessage(broker, channel, op))).toBe(`not_found: no message at offset ${op}: it is a message operation, not a message`);
    expect(await codeOf(findMessage(broker, channel, op + 1))).toBe(`not_found: no message at offset ${op + 1}: the channel has no such offset yet`);
  });
});

describe('foldedPage', () => {
  it('folds a page with its own operations and, short of the top, with the later ones; operations stay at their offsets', async () => {
    const channel = `room:fold-${++seq}`;
    const a = await publish(channel, 'a', {}, 'alice');
    const b = await publish(channel, 'b', {}, 'bob');
    const edit = await publish(channel, 'a2', { op: { type: 'edit', ref: a } }, 'alice');
    await publish(channel, null, { op: { type: 'annotate', ref: b, kind: 'reaction', name: '👍' } }, 'carol');
    const del = await publish(channel, null, { op: { type: 'delete', ref: b } }, 'bob');

    const whole = await broker.history(channel, { limit: 100 });
    const all = await foldedPage(broker, channel, NS, whole);
    expect(all.map((p) => [p.offset, p.data, p.version, p.deleted, p.op?.type])).toEqual([
      [a, 'a2', edit, undefined, undefined],
      [b, null, del, true, undefined],
      [edit, 'a2', undefined, undefined, 'edit'],
      [edit + 1, null, undefined, undefined, 'annotate'],
      [del, null, undefined, undefined, 'delete'],
    ]);
    for (const p of all) expect(p.event).toBeUndefined();

    // One message, the rest after it: read and folded in.
    const first = await foldedPage(broker, channel, NS, await broker.history(channel, { limit: 1 }));
    expect(first).toEqual([{ offset: a, data: 'a2', version: edit, info: { user: 'alice', client: 'c' } }]);
    // The engine's JSON of the original content does not stay on the folded copy; an unchanged message keeps it.
    expect((first[0] as EncodedPublication)[ENCODED_DATA]).toBeUndefined();
    const plain = `room:plain-${++seq}`;
    await publish(plain, 'x');
    const untouched = await foldedPage(broker, plain, NS, await broker.history(plain, { limit: 1 }));
    expect((untouched[0] as EncodedPublication)[ENCODED_DATA]).toBe('"x"');

    // A namespace without messaging reads nothing more (its page is untagged and folded in itself only).
    const off = resolveConfig({ namespaces: { n: { history: { size: 100, ttl: '10m' } } } }).namespaces['n']!;
    expect(JSON.parse(JSON.stringify(await foldedPage(broker, channel, off, await broker.history(channel, { limit: 1 }))))).toEqual([{ offset: a, data: 'a', info: { user: 'alice', client: 'c' } }]);
  });
});
