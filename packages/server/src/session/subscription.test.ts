import { describe, expect, it } from 'vitest';
import type { ResolvedChannel } from '../auth/channel-policy.js';
import { OutFrame } from '../wire/out-frame.js';
import { Subscription } from './subscription.js';

function subscription() {
  const pushed: string[] = [];
  const owner = { user: 'u', push: (frame: OutFrame) => void pushed.push(frame.text), overflow: () => {} };
  const sub = new Subscription(owner, { channel: 'chat:a' } as ResolvedChannel, false);
  const deliver = (offset: number | undefined) => sub.deliver(offset === undefined ? { data: 'x' } : { data: 'x', offset }, OutFrame.fromText(`pub ${offset ?? '-'}`));
  return { sub, pushed, deliver };
}

describe('Subscription', () => {
  it('drops buffered publications the reply covered and sends the rest in order', () => {
    const { sub, pushed, deliver } = subscription();
    deliver(2);
    deliver(3);
    deliver(4);
    sub.goLive(3);
    expect(pushed).toEqual(['pub 4']);
  });

  it('drops a publication at or below the reply offset that arrives just after going live (stream read and live feed on different connections), once', () => {
    const { sub, pushed, deliver } = subscription();
    sub.goLive(3);
    // The engine's live feed lags its stream read: offset 3 (in the reply) arrives after the reply.
    deliver(3);
    deliver(4);
    deliver(5);
    expect(pushed).toEqual(['pub 4', 'pub 5']);
  });

  it('passes publications without an offset, and everything when the reply named no offset', () => {
    const { sub, pushed, deliver } = subscription();
    sub.goLive(undefined);
    deliver(1);
    deliver(undefined);
    expect(pushed).toEqual(['pub 1', 'pub -']);
    const other = subscription();
    other.sub.goLive(7);
    other.deliver(undefined);
    other.deliver(8);
    expect(other.pushed).toEqual(['pub -', 'pub 8']);
  });
});
