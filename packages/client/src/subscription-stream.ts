/**
 * A subscription's place in its channel's stream, and what recovery and gaps mean for it: the
 * last position seen, the publications a recovery brings, and the gaps to report. The base of
 * `Subscription` (subscription.ts), which adds its state, its commands, presence and typing.
 */
import type { Publication, Push, StreamPosition, SubscribeResult } from '@tidings/protocol';
import { Emitter } from './emitter.js';
import type { GapContext, PublicationContext, SubscriptionEvents } from './types.js';

/** The subscription's own events: a publication named like one fires only `publication`. */
const OWN_EVENTS: readonly string[] = ['state', 'subscribing', 'subscribed', 'unsubscribed', 'publication', 'gap', 'join', 'leave', 'presence', 'typing', 'read', 'error'];

/** The optional fields of a publication a `PublicationContext` carries over as they are. */
const CARRIED = ['info', 'event', 'replyTo', 'op', 'version', 'deleted', 'annotations'] as const;

/** A publication (pushed, recovered or read from history) in the shape the SDK delivers it. */
export function publicationContext<T>(channel: string, pub: Publication, recovered?: true): PublicationContext<T> {
  const ctx: PublicationContext<T> = { channel, data: pub.data as T };
  if (pub.offset !== undefined) ctx.offset = pub.offset;
  for (const key of CARRIED) if (pub[key] !== undefined) (ctx as unknown as Record<string, unknown>)[key] = pub[key];
  if (recovered) ctx.recovered = true;
  return ctx;
}

/** @internal The stream bookkeeping of a `Subscription`. */
export abstract class StreamSubscription<T> extends Emitter<SubscriptionEvents<T>> {
  /** The channel name. */
  abstract readonly channel: string;
  #epoch: string | undefined;
  #offset: number | undefined;
  #recoverable = false;

  /** The last position seen in the channel's stream (channels with history). */
  get position(): StreamPosition | undefined {
    return this.#epoch !== undefined && this.#offset !== undefined ? { epoch: this.#epoch, offset: this.#offset } : undefined;
  }

  /** Whether the namespace keeps history and allows recovery (known once subscribed). */
  get recoverable(): boolean {
    return this.#recoverable;
  }

  /**
   * @internal Takes the position of a subscribe result. With `recover` sent and recovery done,
   * delivers the recovered publications; returns the gap to report when recovery was refused,
   * or, with `known` (the last position when none was sent), when the stream moved on meanwhile.
   */
  protected _advance(result: SubscribeResult, recover: StreamPosition | undefined, known: StreamPosition | undefined): GapContext | undefined {
    let gap: GapContext | undefined;
    if (recover !== undefined && result.recovered) {
      for (const pub of result.publications ?? []) {
        // Already delivered live: during an upgrade the old connection keeps delivering until the new one is ready.
        if (pub.offset !== undefined && this.#offset !== undefined && this.#epoch === result.epoch && pub.offset <= this.#offset) continue;
        if (pub.offset !== undefined) this.#offset = pub.offset;
        this._deliver(publicationContext<T>(this.channel, pub, true));
      }
    } else if (recover !== undefined) {
      gap = { channel: this.channel, from: recover, to: { epoch: result.epoch, offset: result.offset } };
    } else if (known && (known.epoch !== result.epoch || known.offset !== result.offset)) {
      gap = { channel: this.channel, from: known, to: { epoch: result.epoch, offset: result.offset } };
    }
    this.#epoch = result.epoch;
    this.#offset = result.offset;
    this.#recoverable = result.recoverable;
    return gap;
  }

  /**
   * @internal A live publication, while subscribed: delivers it when it follows the last one
   * (or the channel has no offsets); when it skips, reports the gap and delivers it if nothing
   * can be replayed, or else has the subscription recover (`_recover`), which delivers it.
   */
  protected _follow(push: Extract<Push, { type: 'publication' }>): void {
    if (push.offset !== undefined && this.#offset !== undefined) {
      if (push.offset !== this.#offset + 1 && !this.#recoverable) {
        // Nothing can be replayed here: say so, and go on from this publication. (An offset that
        // went down means a new epoch, which publications do not carry: `to` has no epoch then.)
        const to = push.offset > this.#offset ? { epoch: this.#epoch, offset: push.offset } : { offset: push.offset };
        this._gap({ channel: this.channel, from: this.position!, to });
      } else if (push.offset !== this.#offset + 1) {
        this._recover(this.#offset, push.offset);
        return;
      }
      this.#offset = push.offset;
    }
    // The connection a server-side publish excepted: its offset, no data, nothing to deliver.
    if (push.skip) return;
    this._deliver(publicationContext<T>(this.channel, push));
  }

  /**
   * Emits a publication: `publication`, then its event name, unless the name is one of the
   * subscription's own events (`state`, `gap`, `join`, …), which a named publication never fires.
   */
  protected _deliver(ctx: PublicationContext<T>): void {
    this.emit('publication', ctx);
    if (ctx.event !== undefined && !OWN_EVENTS.includes(ctx.event)) this.emit(ctx.event as 'publication', ctx);
  }

  /** @internal Reports a gap: the `gap` event and the `onGap` option. */
  protected abstract _gap(gap: GapContext): void;

  /** @internal A publication after `last` skipped to `got`: recover what was missed. */
  protected abstract _recover(last: number, got: number): void;
}
