import type { Publication } from '@tidings/protocol';
import type { ResolvedChannel } from '../auth/channel-policy.js';
import type { HubSubscription } from '../hub/hub.js';
import type { OutFrame } from '../wire/out-frame.js';

/** The part of a session a subscription writes to. */
export interface SubscriptionOwner {
  readonly user: string;
  /** The connection's id (a publication published `exceptClient` skips it); absent in tests of the buffer alone. */
  readonly id?: string;
  push(frame: OutFrame): void;
  /** Called when a buffering subscription holds more than it may. */
  overflow(): void;
  /** Called once the subscription went live (its reply or push was sent). */
  subscribed?(sub: Subscription): void;
}

interface Buffered {
  /** Offset of a buffered publication; undefined for join/leave pushes and offset-less publications. */
  offset: number | undefined;
  frame: OutFrame;
}

/** Pushes a subscription may hold while its subscribe reply is being prepared. */
const MAX_BUFFERED = 10_000;

/**
 * One connection's subscription to one channel.
 *
 * It starts *buffering*: registered with the hub, so no live publication can slip
 * past, but holding what arrives until the subscribe (or connect) reply is queued.
 * `goLive(afterOffset)` then releases the buffer, skipping publications the reply
 * already covered, so a publication racing a (re)subscribe is neither lost nor
 * duplicated.
 */
export class Subscription implements HubSubscription {
  private buffer: Buffered[] | null = [];
  /**
   * After `goLive(afterOffset)`, until a later publication arrives: the reply's offset. An engine
   * whose stream reads and live feed travel on different connections (Redis) may deliver a
   * publication the reply already covered just after the subscription went live; it is dropped.
   */
  private liveAfter: number | undefined;

  constructor(
    private readonly owner: SubscriptionOwner,
    readonly target: ResolvedChannel,
    readonly serverSide: boolean,
  ) {}

  get channel(): string {
    return this.target.channel;
  }

  get user(): string {
    return this.owner.user;
  }

  get client(): string | undefined {
    return this.owner.id;
  }

  /** True once the reply was sent and pushes flow straight to the connection. */
  get live(): boolean {
    return this.buffer === null;
  }

  deliver(pub: Publication, frame: OutFrame): void {
    if (this.buffer !== null) return this.hold(pub.offset, frame);
    if (this.liveAfter !== undefined && pub.offset !== undefined) {
      if (pub.offset <= this.liveAfter) return;
      // Offsets only grow from here (continuity is checked per channel): no need to look again.
      this.liveAfter = undefined;
    }
    this.owner.push(frame);
  }

  deliverControl(frame: OutFrame): void {
    if (this.buffer === null) this.owner.push(frame);
    else this.hold(undefined, frame);
  }

  /**
   * Switches to live delivery. Buffered publications with an offset at or below
   * `afterOffset` are dropped: the reply carried them, or the client's position
   * starts after them.
   */
  goLive(afterOffset: number | undefined): void {
    const held = this.buffer;
    this.buffer = null;
    if (!held) return;
    this.owner.subscribed?.(this);
    this.liveAfter = afterOffset;
    for (const item of held) {
      if (afterOffset !== undefined && item.offset !== undefined && item.offset <= afterOffset) continue;
      this.owner.push(item.frame);
    }
  }

  private hold(offset: number | undefined, frame: OutFrame): void {
    this.buffer!.push({ offset, frame });
    if (this.buffer!.length > MAX_BUFFERED) this.owner.overflow();
  }
}
