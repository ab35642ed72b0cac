/**
 * Which transport to try next. A round tries every transport in order, skipping those
 * recently found blocked; a transport is found blocked when it failed to open while a later
 * one of the same round reached the server, and is skipped for `blockedTransportRetry` ms.
 */
import type { TransportFactory } from '../transports/types.js';

/** @internal The client's transports, its rounds of attempts and the blocked list. */
export interface TransportRounds {
  /** Every transport, in the order of preference. */
  readonly factories: readonly TransportFactory[];
  /** The transport to open now: the one the round is at, or the first of a new round. */
  next(): TransportFactory;
  /** Name of the transport the round is at. */
  trying(): string | undefined;
  /**
   * The transport being tried failed to open. With `tryNext`, the round moves on and the
   * next transport is returned (to be opened at once) when there is one; otherwise the round
   * ends and the next attempt starts a new one.
   */
  openFailed(tryNext: boolean): TransportFactory | undefined;
  /** The connection ended otherwise (it had opened, or the client stopped): the next attempt starts a new round. */
  endRound(): void;
  /** `name` reached the server: the transports that failed to open before it this round are blocked for a while. */
  connected(name: string): void;
  /** A probe of `name` was accepted and the client switched to it. */
  upgraded(name: string): void;
  block(name: string): void;
  /** The first transport preferred to `current` that is blocked: the one to probe. */
  blockedBefore(current: string): TransportFactory | undefined;
}

/** @internal */
export function transportRounds(factories: readonly TransportFactory[], blockedTransportRetry: number): TransportRounds {
  /** Transports that failed to open while a later one reached the server: skipped until then (ms). */
  const blocked = new Map<string, number>();
  /** This round's transports, in order, and the one being tried. */
  let round: TransportFactory[] = [];
  let pos = 0;
  let failed: string[] = [];
  const block = (name: string): void => void blocked.set(name, Date.now() + blockedTransportRetry);
  return {
    factories,
    next() {
      if (pos === 0 || pos >= round.length) {
        // A new round: every transport in order, but those recently found blocked.
        const now = Date.now();
        for (const [name, until] of blocked) if (until <= now) blocked.delete(name);
        const usable = factories.filter((f) => !blocked.has(f.name));
        round = usable.length > 0 ? usable : [...factories];
        pos = 0;
        failed = [];
      }
      return round[pos]!;
    },
    trying: () => round[pos]?.name,
    openFailed(tryNext) {
      const name = round[pos]?.name;
      if (name !== undefined) {
        failed.push(name);
        if (tryNext && pos + 1 < round.length) return round[++pos];
      }
      pos = 0;
      return undefined;
    },
    endRound() {
      pos = 0;
    },
    connected(name) {
      for (const f of failed) if (f !== name) block(f);
      failed = [];
      pos = 0;
    },
    upgraded(name) {
      blocked.delete(name);
      failed = [];
    },
    block,
    blockedBefore(current) {
      const index = factories.findIndex((f) => f.name === current);
      return factories.slice(0, Math.max(index, 0)).find((f) => blocked.has(f.name));
    },
  };
}
