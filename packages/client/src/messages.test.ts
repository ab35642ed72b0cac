/**
 * MessageLog's folding rule, for arrival orders a network does not produce on demand: a page of
 * history folded up to its top, live operations after it, publications that arrive while the page
 * is read, a recovered batch folded up to the subscribe's offset (its operations apply only to the
 * messages held before it), gaps. The subscription is a stand-in with the events and `history()`
 * of a real one; the end-to-end cases against a real node are in test/messaging.test.ts. Each case
 * compares the log with `foldMessages` of the whole stream (the server's own fold).
 */
import { describe, expect, test } from 'vitest';
import { foldMessages, type HistoryResult, type MessageOp, type Publication } from '@tidings/protocol';
import { Emitter } from './emitter.js';
import { MessageLog, type Message } from './messages.js';
import { publicationContext } from './subscription-stream.js';
import type { Subscription } from './subscription.js';
import type { SubscriptionEvents, SubscriptionState } from './types.js';

const CHANNEL = 'chat:room';

/** A channel's stream: what the server holds, and folds as history does. */
class Stream {
  readonly pubs: Publication[] = [];
  message(data: unknown, user = 'alice'): Publication {
    return this.#add({ data, info: { client: 'c', user } });
  }
  op(op: MessageOp, user = 'bob', data: unknown = null): Publication {
    return this.#add({ data, op, info: { client: 'c', user } });
  }
  /** The newest `limit`, newest first, folded with what follows them (a history reply). */
  page(limit: number): HistoryResult {
    return { epoch: 'e', offset: this.pubs.length, publications: foldMessages(this.pubs.slice(-limit)).reverse() };
  }
  /** Everything after `since`, folded (a recovery). */
  after(since: number): Publication[] {
    return foldMessages(this.pubs.slice(since));
  }
  /** The messages of the whole stream, folded: what every log must end at. */
  final(): Array<Omit<Publication, 'op'>> {
    return foldMessages(this.pubs).filter((p) => p.op === undefined);
  }
  #add(p: Publication): Publication {
    const pub = { ...p, offset: this.pubs.length + 1 };
    this.pubs.push(pub);
    return pub;
  }
}

/** A subscription as MessageLog sees it: its events, its state, and `history()` answered by the test. */
class StandIn extends Emitter<SubscriptionEvents<unknown>> {
  readonly channel = CHANNEL;
  state: SubscriptionState = 'subscribed';
  readonly reads: Array<{ limit?: number; resolve: (r: HistoryResult) => void; reject: (e: unknown) => void }> = [];
  history(options: { limit?: number }): Promise<HistoryResult> {
    return new Promise((resolve, reject) => this.reads.push({ ...options, resolve, reject }));
  }
  live(pub: Publication): void {
    this.emit('publication', publicationContext(CHANNEL, pub));
  }
  /** A recovered subscribe: the folded publications after `since`, then `subscribed` at the top. */
  recover(stream: Stream, since: number): void {
    for (const pub of stream.after(since)) this.emit('publication', publicationContext(CHANNEL, pub, true));
    this.emit('subscribed', { channel: CHANNEL, recoverable: true, wasRecovering: true, recovered: true, serverSide: false, epoch: 'e', offset: stream.pubs.length });
  }
}

function logOf(sub: StandIn, limit = 50): MessageLog {
  return new MessageLog(sub as unknown as Subscription, { limit });
}

/** The log's messages in the shape of the stream's fold. */
function plain(messages: readonly Message[]): Array<Omit<Publication, 'op'>> {
  return messages.map(({ channel: _channel, ...m }) => m);
}

const settle = () => new Promise<void>((r) => setTimeout(r, 0));

describe('MessageLog', () => {
  test('a page folded by the server, then live operations applied once each, in offset order', async () => {
    const stream = new Stream();
    const m1 = stream.message({ text: 'hi' });
    stream.op({ type: 'edit', ref: m1.offset! }, 'alice', { text: 'hello' });
    stream.message({ text: 'second' }, 'bob');
    const sub = new StandIn();
    const log = logOf(sub);
    expect(log.loading).toBe(true);
    sub.reads[0]!.resolve(stream.page(50));
    await settle();
    expect(log.loading).toBe(false);
    expect(log.messages.map((m) => m.data)).toEqual([{ text: 'hello' }, { text: 'second' }]);
    expect(log.messages[0]).toMatchObject({ version: 2, info: { user: 'alice' } });

    const changes: number[] = [];
    log.on('change', (messages) => changes.push(messages.length));
    const a = stream.op({ type: 'annotate', ref: 1, kind: 'reaction', name: '👍' }, 'bob');
    sub.live(a);
    sub.live(a); // the same offset again (an upgrade's overlap): taken once
    const u = stream.op({ type: 'annotate', ref: 1, kind: 'reaction', name: '👍' }, 'carol');
    sub.live(u);
    const d = stream.op({ type: 'delete', ref: 3 }, 'bob');
    sub.live(d);
    sub.live(stream.op({ type: 'edit', ref: 3 }, 'bob', { text: 'after delete' })); // nothing changes a deleted message
    const m7 = stream.message({ text: 'third' });
    sub.live(m7);
    expect(plain(log.messages)).toEqual(stream.final());
    expect(log.message(1)?.annotations).toEqual({ reaction: { '👍': { count: 2, users: ['bob', 'carol'] } } });
    expect(log.message(3)).toMatchObject({ deleted: true, data: null, version: 6 });
    expect(changes).toEqual([2, 2, 2, 3]); // the duplicate and the edit after the delete changed nothing
  });

  test('publications that arrive while the page is read wait for it: none twice, newer operations applied to the page', async () => {
    const stream = new Stream();
    stream.message({ n: 1 });
    stream.message({ n: 2 });
    const sub = new StandIn();
    const log = logOf(sub);
    // Live before the read is answered: an op and a message the page will hold (folded) …
    const e3 = stream.op({ type: 'edit', ref: 1 }, 'alice', { n: 10 });
    sub.live(e3);
    const m4 = stream.message({ n: 4 });
    sub.live(m4);
    const page = stream.page(50); // folded up to 4
    // … and publications after the page's top, still before its answer.
    sub.live(stream.op({ type: 'annotate', ref: 4, kind: 'reaction', name: '🎉' }, 'bob'));
    sub.live(stream.op({ type: 'edit', ref: 1 }, 'alice', { n: 100 }));
    expect(log.messages).toEqual([]);
    sub.reads[0]!.resolve(page);
    await settle();
    expect(plain(log.messages)).toEqual(stream.final());
    expect(log.messages.map((m) => m.offset)).toEqual([1, 2, 4]);
    expect(log.message(1)).toMatchObject({ data: { n: 100 }, version: 6 });
  });

  test('a recovered batch: its messages come folded (its operations not applied again), its operations on older messages are applied', async () => {
    const stream = new Stream();
    stream.message({ n: 1 }); // 1
    stream.message({ n: 2 }); // 2
    const sub = new StandIn();
    const log = logOf(sub);
    sub.reads[0]!.resolve(stream.page(50));
    await settle();
    // Disconnected from offset 2; meanwhile:
    stream.op({ type: 'annotate', ref: 1, kind: 'reaction', name: '👍' }, 'bob'); // 3, on a held message
    stream.message({ n: 4 }); // 4
    stream.op({ type: 'annotate', ref: 4, kind: 'reaction', name: '👍' }, 'bob'); // 5
    stream.op({ type: 'unannotate', ref: 4, kind: 'reaction', name: '👍' }, 'bob'); // 6: taken back
    stream.op({ type: 'annotate', ref: 4, kind: 'reaction', name: '❤️' }, 'carol'); // 7
    stream.op({ type: 'edit', ref: 2 }, 'alice', { n: 20 }); // 8
    stream.op({ type: 'unannotate', ref: 1, kind: 'reaction', name: '👍' }, 'bob'); // 9
    stream.op({ type: 'annotate', ref: 1, kind: 'reaction', name: '👀' }, 'bob'); // 10
    sub.recover(stream, 2);
    expect(plain(log.messages)).toEqual(stream.final());
    // Message 4 came folded (bob's 👍 added and taken back, carol's ❤️); message 1 got the batch's operations.
    expect(log.message(4)?.annotations).toEqual({ reaction: { '❤️': { count: 1, users: ['carol'] } } });
    expect(log.message(1)?.annotations).toEqual({ reaction: { '👀': { count: 1, users: ['bob'] } } });
    expect(log.message(2)).toMatchObject({ data: { n: 20 }, version: 8 });
    // Live again after the recovery.
    sub.live(stream.op({ type: 'delete', ref: 4 }, 'alice'));
    expect(plain(log.messages)).toEqual(stream.final());
  });

  test('a recovered batch that arrives before the first page waits for it, and what the page holds is taken once', async () => {
    const stream = new Stream();
    stream.message({ n: 1 });
    const sub = new StandIn();
    sub.state = 'subscribing';
    const log = logOf(sub);
    expect(sub.reads).toHaveLength(0); // not subscribed: nothing read yet
    stream.message({ n: 2 });
    stream.op({ type: 'edit', ref: 2 }, 'alice', { n: 22 });
    sub.recover(stream, 1); // subscribed: the first read starts
    expect(sub.reads).toHaveLength(1);
    stream.op({ type: 'annotate', ref: 2, kind: 'reaction', name: '👍' }, 'bob');
    sub.live(stream.pubs[3]!);
    sub.reads[0]!.resolve(stream.page(50));
    await settle();
    expect(plain(log.messages)).toEqual(stream.final());
    expect(log.messages).toHaveLength(2);
  });

  test('after a gap the page is read again and replaces the list; a failed read is reported and retried on the next subscribe', async () => {
    const stream = new Stream();
    stream.message({ n: 1 });
    const sub = new StandIn();
    const log = logOf(sub, 3);
    expect(sub.reads[0]!.limit).toBe(3);
    sub.reads[0]!.resolve(stream.page(3));
    await settle();
    stream.message({ n: 2 });
    stream.message({ n: 3 });
    stream.op({ type: 'edit', ref: 3 }, 'alice', { n: 33 });
    sub.emit('gap', { channel: CHANNEL, from: { epoch: 'e', offset: 1 }, to: { epoch: 'e', offset: 4 } });
    expect(log.loading).toBe(true);
    sub.reads[1]!.resolve(stream.page(3));
    await settle();
    expect(log.messages.map((m) => m.data)).toEqual([{ n: 2 }, { n: 33 }]);

    const errors: string[] = [];
    log.on('error', (e) => errors.push(e.code));
    sub.emit('gap', { channel: CHANNEL, from: { epoch: 'e', offset: 4 }, to: { epoch: 'f', offset: 0 } });
    sub.reads[2]!.reject(new Error('boom'));
    await settle();
    expect(errors).toEqual(['internal']);
    expect(log.error?.code).toBe('internal');
    sub.emit('subscribed', { channel: CHANNEL, recoverable: true, wasRecovering: false, recovered: false, serverSide: false, epoch: 'f', offset: 0 });
    sub.reads[3]!.resolve({ epoch: 'f', offset: 0, publications: [] });
    await settle();
    expect(log.error).toBeNull();
    expect(log.messages).toEqual([]);
  });

  test('a failed read does not hold live publications back: they are shown, and waiting ones are not kept', async () => {
    const stream = new Stream();
    const sub = new StandIn();
    const log = logOf(sub);
    sub.live(stream.message({ n: 1 }));
    sub.reads[0]!.reject(new Error('no history'));
    await settle();
    expect(log.error?.code).toBe('internal');
    sub.live(stream.message({ n: 2 }));
    sub.live(stream.op({ type: 'edit', ref: 2 }, 'alice', { n: 22 }));
    expect(log.messages.map((m) => m.data)).toEqual([{ n: 1 }, { n: 22 }]);
  });

  test('close() stops following the subscription', async () => {
    const stream = new Stream();
    const sub = new StandIn();
    const log = logOf(sub);
    sub.reads[0]!.resolve(stream.page(50));
    await settle();
    log.close();
    sub.live(stream.message({ n: 1 }));
    expect(log.messages).toEqual([]);
    expect(sub.listenerCount('publication')).toBe(0);
  });

  test('limit must be a positive integer', () => {
    expect(() => logOf(new StandIn(), 0)).toThrow(/limit must be an integer ≥ 1/);
  });
});
