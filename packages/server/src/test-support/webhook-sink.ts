/**
 * Webhook events as a test counts them: a real receiver (`webhook-receiver.ts`, answering 204)
 * whose requests are read as events (`{type, timestamp, data}`), each with its `webhook-id`, in
 * arrival order.
 */
import { startWebhookReceiver } from './webhook-receiver.js';

export interface ReceivedEvent {
  id: string;
  type: string;
  data: Record<string, any>;
}

export interface WebhookSink {
  url: string;
  /** Every event received so far. */
  readonly received: ReceivedEvent[];
  /** Events of `type`, optionally only those whose data matches `where`. */
  of(type: string, where?: (data: Record<string, any>) => boolean): ReceivedEvent[];
  /** Waits (bounded) until `count` events of `type` matching `where` arrived. */
  waitFor(type: string, where?: (data: Record<string, any>) => boolean, count?: number, timeoutMs?: number): Promise<ReceivedEvent[]>;
  close(): Promise<void>;
}

export async function startWebhookSink(): Promise<WebhookSink> {
  const receiver = await startWebhookReceiver();
  const events = (): ReceivedEvent[] =>
    receiver.received.map((r) => {
      const body = JSON.parse(r.body) as { type: string; data?: Record<string, any> };
      return { id: r.id, type: body.type, data: body.data ?? {} };
    });
  const of = (type: string, where: (data: Record<string, any>) => boolean = () => true) => events().filter((e) => e.type === type && where(e.data));
  return {
    url: receiver.url,
    get received() {
      return events();
    },
    of,
    async waitFor(type, where, count = 1, timeoutMs = 10_000) {
      await receiver.until(() => of(type, where).length >= count, timeoutMs).catch(() => {
        throw new Error(`webhook sink: ${count} × ${type} not received within ${timeoutMs} ms (got ${of(type, where).length}; all: ${events().map((e) => e.type).join(', ')})`);
      });
      return of(type, where);
    },
    close: () => receiver.close(),
  };
}
