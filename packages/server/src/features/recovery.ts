/**
 * Subscribe-with-recovery: decides what a (re)subscribing client gets.
 *
 * The caller has already registered the subscription with the hub in buffering
 * mode, so every live publication from that moment is held. Here we read the
 * stream: either its position (fresh subscribe) or everything after the client's
 * position (recovery). The caller replies, then releases the buffer skipping
 * offsets up to `lastOffset`. Together: no publication lost, none duplicated,
 * and never a silent gap: when the missed publications cannot all be returned,
 * the answer says `recovered: false`.
 */
import type { Publication, StreamPosition, SubscribeResult } from '@tidings/protocol';
import type { ResolvedChannel } from '../auth/channel-policy.js';
import { foldedPage } from './messages.js';

/** How recovery reads a channel's stream: `cluster/channels.ts` (which asks the engine). */
export interface StreamReader {
  /** The stream's epoch and top offset. */
  position(channel: string): Promise<StreamPosition>;
  /** Publications after `since` (none when its epoch is not the stream's), with the stream's position. */
  history(channel: string, query: { since?: StreamPosition; limit: number; reverse?: boolean }): Promise<{ position: StreamPosition; publications: Publication[] }>;
}

export interface RecoveryOutcome {
  result: SubscribeResult;
  /** Buffered publications at or below this offset are already covered by `result`. */
  lastOffset: number | undefined;
}

export async function recoverySubscribe(
  streams: StreamReader,
  target: ResolvedChannel,
  recover: StreamPosition | undefined,
  maxPublications: number,
): Promise<RecoveryOutcome> {
  const { ns, channel } = target;
  if (!ns.history) {
    const result: SubscribeResult = { recoverable: false };
    if (recover) {
      result.recovered = false;
      result.publications = [];
    }
    return { result, lastOffset: undefined };
  }
  if (!recover || !ns.recover) {
    const position = await streams.position(channel);
    const result: SubscribeResult = { epoch: position.epoch, offset: position.offset, recoverable: ns.recover };
    if (recover) {
      result.recovered = false;
      result.publications = [];
    }
    return { result, lastOffset: position.offset };
  }
  // One more than allowed, to tell "exactly at the limit" from "beyond it". When some
  // missed publications left history (size, ttl, a byte budget's eviction), the page
  // starts after a gap: fewer publications than missed, the first above recover.offset + 1.
  // A forgotten stream (metaTtl, maxStreams) has another epoch. Either way: recovered false.
  const page = await streams.history(channel, { since: recover, limit: maxPublications + 1 });
  const { position, publications } = page;
  const missed = position.offset - recover.offset;
  const complete =
    position.epoch === recover.epoch &&
    missed >= 0 &&
    missed <= maxPublications &&
    publications.length === missed &&
    (missed === 0 || publications[0]!.offset === recover.offset + 1);
  const result: SubscribeResult = {
    epoch: position.epoch,
    offset: position.offset,
    recoverable: true,
    recovered: complete,
    // Reaching the top, the page folds with its own operations (messages at their latest version).
    publications: complete ? await foldedPage(streams, channel, ns, page) : [],
  };
  return { result, lastOffset: position.offset };
}
