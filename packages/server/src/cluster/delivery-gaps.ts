/**
 * What the node does about a delivery gap (`cluster/channels.ts` finds them): the channel's
 * live subscriptions on this node end with an `unsubscribe` push of code 2500
 * (`UnsubscribeCode.Resubscribe`), on which the client subscribes again with recovery from the
 * last position it saw, so it gets what the gap skipped from history or learns
 * `recovered: false`. Counted in `tidings_delivery_gaps_total`, logged and sent as a
 * `delivery.gap` webhook (with the positions around the gap): never silent.
 *
 * A subscription still waiting for its subscribe reply is left alone: its reply comes from
 * a history read of its own.
 */
import { UnsubscribeCode, encodeFrame, type StreamPosition } from '@tidings/protocol';
import type { Hub } from '../hub/hub.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../ops/metrics.js';
import type { Session } from '../session/session.js';
import { NO_WEBHOOKS, type WebhookEmitter } from '../webhook-events.js';
import { OutFrame } from '../wire/out-frame.js';

export interface DeliveryGapDeps {
  hub: Hub<Session>;
  log: Logger;
  metrics: NodeMetrics;
  /** Told of each gap (`delivery.gap`); default none. */
  webhooks?: WebhookEmitter;
  /** This node's id (the webhook says where the gap was seen). */
  nodeId?: string;
}

/** A `DeliveryGapHandler` for `Channels`: tells the channel's live subscribers to recover. Returns how many were told. */
export function resubscribeOnGap(deps: DeliveryGapDeps): (channel: string, last: StreamPosition, next: StreamPosition) => number {
  return (channel, last, next) => {
    deps.metrics.deliveryGap();
    const push = OutFrame.fromText(encodeFrame({ type: 'unsubscribe', channel, code: UnsubscribeCode.Resubscribe, reason: 'delivery gap: subscribe again with recovery' }));
    let told = 0;
    // Gaps are rare (a failure between nodes, a lost stream): a walk over the sessions is fine.
    for (const session of deps.hub.allSessions()) {
      const sub = session.subs.get(channel);
      if (!sub || !sub.live) continue;
      session.detach(sub, 'resubscribe');
      session.push(push);
      told++;
    }
    deps.log.warn({ channel, last, next, subscribers: told }, 'delivery gap: subscribers told to recover');
    (deps.webhooks ?? NO_WEBHOOKS).emit({ type: 'delivery.gap', channel, data: gapData(deps.nodeId, last, next, told) });
    return told;
  };
}

/**
 * The `delivery.gap` payload: the node, the last position its subscribers had, the stream's next
 * (null: the stream is gone), how many publications were skipped (null when the epoch changed or
 * the stream is gone: unknown), and how many subscribers were told to recover.
 */
function gapData(node: string | undefined, last: StreamPosition, next: StreamPosition, subscribers: number): Record<string, unknown> {
  const gone = next.epoch === '';
  const missed = !gone && next.epoch === last.epoch ? Math.max(0, next.offset - last.offset - 1) : null;
  return { node: node ?? '', last, next: gone ? null : next, missed, subscribers };
}
