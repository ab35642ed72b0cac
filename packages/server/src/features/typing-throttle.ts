/**
 * Typing indicators of one connection in one channel, for the presence feature
 * (`features/presence.ts`): starts are forwarded at most once per `typing.throttle` (each
 * forwarded one refreshes the stored entry and is announced again, so receivers extend their own
 * expiry), a stop goes out at once, and a start not refreshed within `typing.timeout` stops.
 */
import type { TidingsConfig } from '../config/schema.js';
import type { ControlEvent } from '../engine/broker.js';
import type { PresenceState } from './presence-state.js';

/** What is kept of one connection's typing in one channel. */
export interface TypingSlot {
  /** Typing here since when (undefined: not typing). */
  typingSince: number | undefined;
  /** When the last start was forwarded. */
  typingForwardedAt: number;
  /** The expiry timer. */
  typingTimer: NodeJS.Timeout | undefined;
}

/** Who is typing: the connection's user and info. */
export interface Typist {
  readonly user: string;
  readonly info: Record<string, unknown> | undefined;
}

export interface TypingDeps {
  config: TidingsConfig;
  state: Pick<PresenceState, 'startTyping' | 'stopTyping'>;
  control(channel: string, event: ControlEvent): Promise<void>;
}

/** A start: (re)arms the expiry (`expire` stops it), forwards unless throttled. */
export async function startTyping(deps: TypingDeps, typist: Typist, channel: string, slot: TypingSlot, expire: () => void): Promise<void> {
  const { timeout, throttle } = deps.config.typing;
  clearTimeout(slot.typingTimer);
  slot.typingTimer = setTimeout(expire, timeout);
  slot.typingTimer.unref();
  const now = Date.now();
  if (slot.typingSince !== undefined && now - slot.typingForwardedAt < throttle) return;
  slot.typingSince ??= now;
  slot.typingForwardedAt = now;
  // The stored entry outlives our own timer by a throttle interval, so it never lapses between refreshes.
  await deps.state.startTyping(channel, typist.user, typist.info, timeout + throttle);
  // Re-announced on every forwarded refresh, so receivers can extend their own expiry.
  await deps.control(channel, typingEvent(typist, true));
}

/** Ends the connection's typing in a channel (command, expiry, unsubscribe or disconnect). */
export async function endTyping(deps: TypingDeps, typist: Typist, channel: string, slot: TypingSlot): Promise<void> {
  clearTimeout(slot.typingTimer);
  slot.typingTimer = undefined;
  if (slot.typingSince === undefined) return;
  slot.typingSince = undefined;
  await deps.state.stopTyping(channel, typist.user);
  // This connection was typing, so its stop is announced even if the stored entry already lapsed.
  await deps.control(channel, typingEvent(typist, false));
}

function typingEvent(typist: Typist, typing: boolean): ControlEvent {
  const event: ControlEvent = { type: 'typing', user: typist.user, typing, exceptUser: typist.user };
  if (typist.info) event.info = typist.info;
  return event;
}
