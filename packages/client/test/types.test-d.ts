/** Typed channels: the generic parameter types publications, publish and history stays untyped JSON. */
import { expectTypeOf, test } from 'vitest';
import { MessageLog, Tidings, type Message, type PublicationContext, type ReadPush, type Subscription } from '@tidings/client';

type TaskEvent = { kind: 'moved'; column: string } | { kind: 'renamed'; title: string };

test('subscribe<T> types publications and publish', () => {
  const client = new Tidings('ws://127.0.0.1:9/connection/websocket', { token: 't' });
  const sub = client.subscribe<TaskEvent>('task:1');
  expectTypeOf(sub).toEqualTypeOf<Subscription<TaskEvent>>();
  sub.on('publication', (p) => {
    expectTypeOf(p).toEqualTypeOf<PublicationContext<TaskEvent>>();
    expectTypeOf(p.data).toEqualTypeOf<TaskEvent>();
  });
  expectTypeOf(sub.publish).parameter(0).toEqualTypeOf<TaskEvent>();
  expectTypeOf(client.getSubscription<TaskEvent>('task:1')).toEqualTypeOf<Subscription<TaskEvent> | undefined>();
  // @ts-expect-error: not a TaskEvent
  void sub.publish({ kind: 'deleted' }).catch(() => {});
  client.disconnect();
});

test('chat: edits are typed by the channel, a MessageLog\'s messages narrow on deleted, read events are typed', () => {
  const client = new Tidings('ws://127.0.0.1:9/connection/websocket', { token: 't' });
  const sub = client.subscribe<{ text: string }>('room:1');
  expectTypeOf(sub.edit).parameter(1).toEqualTypeOf<{ text: string }>();
  // @ts-expect-error: not the channel's data
  void sub.edit(1, { title: 'x' }).catch(() => {});
  const log = new MessageLog(sub);
  expectTypeOf(log.messages).toEqualTypeOf<readonly Message<{ text: string }>[]>();
  for (const m of log.messages) {
    if (m.deleted) expectTypeOf(m.data).toEqualTypeOf<null>();
    else expectTypeOf(m.data).toEqualTypeOf<{ text: string }>();
    expectTypeOf(m.offset).toEqualTypeOf<number>();
  }
  sub.on('read', (push) => expectTypeOf(push).toEqualTypeOf<ReadPush>());
  client.on('read', (push) => expectTypeOf(push.offset).toEqualTypeOf<number>());
  log.close();
  client.disconnect();
});
