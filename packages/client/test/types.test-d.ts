/** Typed channels: the generic parameter types publications, publish and history stays untyped JSON. */
import { expectTypeOf, test } from 'vitest';
import { Tidings, type PublicationContext, type Subscription } from '@tidings/client';

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
