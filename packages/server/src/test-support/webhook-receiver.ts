/**
 * A webhook receiver for tests: a real node:http server on 127.0.0.1, port 0, that records every
 * request (headers and the exact body bytes) and answers as the test says: a status (with
 * headers), or `hold` (no answer until `releaseHeld` or `close`).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  signature: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** When it arrived (ms since the epoch). */
  at: number;
  /** The status it was answered with; undefined while held (or when never answered). */
  status?: number;
}

export type ReceiverAnswer = { status: number; headers?: Record<string, string> } | 'hold';

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** How the next request is answered (the default answers 204). */
  answer: (hook: ReceivedWebhook, received: ReceivedWebhook[]) => ReceiverAnswer;
  /** Requests held open now. */
  held(): ReceivedWebhook[];
  /** Answers every held request with `status`. */
  releaseHeld(status?: number): void;
  /** Resolves once `predicate` holds, checked on every request and every 20 ms, within `timeoutMs`. */
  until(predicate: (received: ReceivedWebhook[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const holding = new Map<ReceivedWebhook, ServerResponse>();
  const receiver: WebhookReceiver = {
    url: '',
    received: [],
    answer: () => ({ status: 204 }),
    held: () => [...holding.keys()],
    releaseHeld(status = 204) {
      for (const [hook, res] of holding) {
        hook.status = status;
        res.writeHead(status).end();
      }
      holding.clear();
    },
    async until(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(receiver.received)) {
        if (Date.now() > deadline) throw new Error(`webhook receiver: condition not met within ${timeoutMs} ms (${receiver.received.length} requests)`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of holding.values()) res.destroy();
        holding.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const h = (name: string) => String(req.headers[name] ?? '');
      const hook: ReceivedWebhook = { id: h('webhook-id'), timestamp: h('webhook-timestamp'), signature: h('webhook-signature'), headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      receiver.received.push(hook);
      const answer = receiver.answer(hook, receiver.received);
      if (answer === 'hold') {
        holding.set(hook, res);
        res.on('close', () => holding.delete(hook));
        return;
      }
      hook.status = answer.status;
      res.writeHead(answer.status, answer.headers ?? {}).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return receiver;
}
