/**
 * The bounded, ordered list of publications `useChannel` returns. Pure functions: every
 * change returns a new array, and an unchanged list is returned as is.
 *
 * Publications of channels with history carry an offset: the list is kept in offset order
 * and one offset appears once, however it arrived (live, recovered, or read from history).
 * Publications without an offset (channels without history) are kept in arrival order.
 */
import type { Publication, PublicationContext } from '@tidings/client';

/** Adds one live publication, keeping at most `keep` (the newest). */
export function appendPublication<T>(list: readonly PublicationContext<T>[], pub: PublicationContext<T>, keep: number): readonly PublicationContext<T>[] {
  const last = list[list.length - 1];
  if (pub.offset === undefined || last?.offset === undefined || pub.offset > last.offset) return trim([...list, pub], keep);
  return mergePublications(list, [pub], keep);
}

/**
 * Merges publications into the list: de-duplicated by offset (the one already listed is
 * kept), ordered by offset, at most `keep` (the newest).
 */
export function mergePublications<T>(list: readonly PublicationContext<T>[], incoming: readonly PublicationContext<T>[], keep: number): readonly PublicationContext<T>[] {
  if (incoming.length === 0) return list;
  const all = [...list, ...incoming];
  if (all.some((p) => p.offset === undefined)) return trim(all, keep);
  const byOffset = new Map<number, PublicationContext<T>>();
  for (const pub of all) if (!byOffset.has(pub.offset!)) byOffset.set(pub.offset!, pub);
  const merged = [...byOffset.values()].sort((a, b) => a.offset! - b.offset!);
  if (merged.length === list.length && merged.every((p, i) => p === list[i])) return list;
  return trim(merged, keep);
}

/** A publication read from history, in the shape live ones are delivered. */
export function fromHistory<T>(channel: string, pub: Publication): PublicationContext<T> {
  return {
    channel,
    data: pub.data as T,
    ...(pub.offset !== undefined ? { offset: pub.offset } : {}),
    ...(pub.info ? { info: pub.info } : {}),
  };
}

function trim<T>(list: PublicationContext<T>[], keep: number): PublicationContext<T>[] {
  return list.length > keep ? list.slice(list.length - keep) : list;
}
