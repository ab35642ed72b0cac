/**
 * Webhooks under `tidings serve --workers 2`: the workers only enqueue (over IPC into the
 * primary's outbox) and the primary alone delivers, woken by their enqueues (the poll interval
 * here is far longer than the test). Every event arrives once; the metrics every worker answers
 * with count the primary's deliveries.
 */
import { afterAll, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../packages/server/src/test-support/webhook-receiver.js';
import { generateSecret } from '../packages/server/src/webhooks/sign.js';
import { verifyWebhook } from '../packages/server/src/webhooks/verify.js';
import { sample, scrape, startWorkers, type WorkersServer } from './support/workers.js';

const N = 20;
let server: WorkersServer | undefined;
let rx: WebhookReceiver | undefined;

afterAll(async () => {
  await server?.cleanup();
  await rx?.close();
});

it('workers enqueue, the primary delivers each event once, at once', async () => {
  rx = await startWebhookReceiver();
  const secret = generateSecret();
  server = await startWorkers(2, `webhooks:\n  pollInterval: 60s\n  endpoints:\n    - id: rx\n      url: ${rx.url}\n      secret: ${secret}\n`);
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: N }, async () => {
      // A connection per call, so the calls spread over both workers.
      const res = await fetch(`${server!.apiUrl}/webhooks/test`, { method: 'POST', headers: { authorization: `Bearer ${server!.apiKey}`, connection: 'close' } });
      expect(res.status).toBe(200);
      ids.push(((await res.json()) as { data: { id: string } }).data.id);
    }),
  );
  await rx.until((got) => new Set(got.map((h) => h.id)).size === N, 10_000);
  await new Promise((r) => setTimeout(r, 300));
  expect(rx.received.map((h) => h.id).sort()).toEqual([...ids].sort());
  for (const h of rx.received) expect(verifyWebhook(secret, h.headers, h.body).payload.type).toBe('webhook.test');
  const metrics = await scrape(server);
  expect(sample(metrics, 'tidings_webhook_deliveries_total', 'endpoint="rx",outcome="delivered"')).toBe(N);
  expect(sample(metrics, 'tidings_webhook_pending')).toBe(0);
}, 60_000);
