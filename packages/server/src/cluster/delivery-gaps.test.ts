import { describe, expect, it } from 'vitest';
import { Hub } from '../hub/hub.js';
import { createLogger } from '../log.js';
import { NodeMetrics } from '../ops/metrics.js';
import type { Session } from '../session/session.js';
import type { WebhookEvent } from '../webhook-events.js';
import { resubscribeOnGap } from './delivery-gaps.js';

describe('delivery gaps', () => {
  it('sends one delivery.gap webhook per gap: node, positions around it, publications missed (null when unknown)', () => {
    const events: WebhookEvent[] = [];
    const webhooks = { emit: (e: WebhookEvent) => void events.push(e), wants: () => true };
    const onGap = resubscribeOnGap({ hub: new Hub<Session>(), log: createLogger('silent'), metrics: new NodeMetrics(), webhooks, nodeId: 'n1' });
    onGap('chat:a', { epoch: 'e1', offset: 4 }, { epoch: 'e1', offset: 8 });
    onGap('chat:b', { epoch: 'e1', offset: 4 }, { epoch: 'e2', offset: 1 });
    onGap('chat:c', { epoch: 'e1', offset: 4 }, { epoch: '', offset: 0 });
    expect(events).toEqual([
      { type: 'delivery.gap', channel: 'chat:a', data: { node: 'n1', last: { epoch: 'e1', offset: 4 }, next: { epoch: 'e1', offset: 8 }, missed: 3, subscribers: 0 } },
      { type: 'delivery.gap', channel: 'chat:b', data: { node: 'n1', last: { epoch: 'e1', offset: 4 }, next: { epoch: 'e2', offset: 1 }, missed: null, subscribers: 0 } },
      { type: 'delivery.gap', channel: 'chat:c', data: { node: 'n1', last: { epoch: 'e1', offset: 4 }, next: null, missed: null, subscribers: 0 } },
    ]);
  });
});
