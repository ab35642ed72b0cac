/**
 * What the node does about a delivery gap (`cluster/channels.ts` finds them): the channel's
 * live subscriptions on this node end with an `unsubscribe` push of code 2500
 * (`UnsubscribeCode.Resubscribe`), on which the client subscribes again with recovery from the
 * last position it saw, so it gets what the gap skipped from history or learns
 * `recovered: false`. Counted in `tidings_delivery_gaps_total` and logged: never silent.
 *
 * A subscription still waiting for its subscribe reply is left alone: its reply comes from
 * a history read of its own.
 */
import { UnsubscribeCode, encodeFrame, type StreamPosition } from '@tidings/protocol';
import type { Hub } from '../hub/hub.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../ops/metrics.js';
import type { Session } from '../session/session.js';
import { OutFrame } from '../wire/out-frame.js';

export interface DeliveryGapDeps {
  hub: Hub<Session>;
  log: Logger;
  metrics: NodeMetrics;
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
      session.detach(sub);
      session.push(push);
      told++;
    }
    deps.log.warn({ channel, last, next, subscribers: told }, 'delivery gap: subscribers told to recover');
    return told;
  };
}
