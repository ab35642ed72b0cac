/**
 * Channel names: `namespace:rest`.
 *
 * - `namespace` is 1–64 characters of `A-Z a-z 0-9 _ -`.
 * - The whole name is at most 255 characters (bytes: the charset is ASCII).
 * - `rest` uses a charset that admits real user ids (emails, Auth0 `auth0|123`):
 *   `A-Z a-z 0-9 _ - . @ + = / | ~ :` plus `#` and `,` for user-limited channels.
 * - Wildcards (`*`, `?`, `>`), spaces, NUL and control characters are rejected.
 * - `ns:...#alice,bob` is user-limited: only users `alice` and `bob` may subscribe.
 * - `user:#<id>` is the personal channel of user `<id>`.
 *
 * @example
 * ```ts
 * parseChannel('dm:#alice,bob'); // { namespace: 'dm', rest: '#alice,bob', users: ['alice', 'bob'] }
 * ```
 */

export const CHANNEL_MAX_LENGTH = 255;
export const NAMESPACE_MAX_LENGTH = 64;
/** User ids (token `sub`) are at most this long. */
export const USER_ID_MAX_LENGTH = 200;

/** The namespace of personal channels. */
export const PERSONAL_NAMESPACE = 'user';

const NAMESPACE_RE = /^[A-Za-z0-9_-]{1,64}$/;
const REST_RE = /^[A-Za-z0-9_\-.@+=/|~:#,]+$/;
/** A user id fits in a channel name and cannot be confused with its separators. */
const USER_ID_RE = /^[A-Za-z0-9_\-.@+=/|~:]+$/;

export interface ParsedChannel {
  namespace: string;
  rest: string;
  /** Users allowed on a user-limited channel (`#` in `rest`). */
  users?: string[];
}

/** Returns why `name` is not a valid channel name, or `null` when it is. */
export function channelError(name: unknown): string | null {
  if (typeof name !== 'string') return 'channel must be a string';
  if (name.length === 0) return 'channel must not be empty';
  if (name.length > CHANNEL_MAX_LENGTH) return `channel is longer than ${CHANNEL_MAX_LENGTH} characters`;
  const colon = name.indexOf(':');
  if (colon <= 0) return 'channel must be "namespace:name"';
  const ns = name.slice(0, colon);
  if (!NAMESPACE_RE.test(ns)) return 'namespace may hold only A-Z, a-z, 0-9, "_" and "-" (1-64 characters)';
  const rest = name.slice(colon + 1);
  if (rest.length === 0) return 'channel name after the namespace must not be empty';
  if (!REST_RE.test(rest)) return 'channel holds a character outside A-Z a-z 0-9 _ - . @ + = / | ~ : # ,';
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    if (rest.indexOf('#', hash + 1) >= 0) return 'channel may hold at most one "#"';
    if (rest.slice(0, hash).includes(',')) return '"," is only allowed in the user list after "#"';
    const users = rest.slice(hash + 1).split(',');
    if (users.some((u) => u.length === 0)) return 'user-limited channel lists an empty user id';
  } else if (rest.includes(',')) {
    return '"," is only allowed in the user list after "#"';
  }
  return null;
}

/** True when `name` is a valid channel name. */
export function isValidChannel(name: unknown): name is string {
  return channelError(name) === null;
}

/** Splits a channel name that is already known to be valid. */
export function parseChannel(name: string): ParsedChannel {
  const colon = name.indexOf(':');
  const namespace = name.slice(0, colon);
  const rest = name.slice(colon + 1);
  const hash = rest.indexOf('#');
  if (hash < 0) return { namespace, rest };
  return { namespace, rest, users: rest.slice(hash + 1).split(',') };
}

/** True when `id` can be a user id: fits a channel name and holds no `#` or `,`. */
export function isValidUserId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= USER_ID_MAX_LENGTH && USER_ID_RE.test(id);
}

/** The personal channel of a user: only that user's connections receive it. */
export function personalChannel(userId: string): string {
  return `${PERSONAL_NAMESPACE}:#${userId}`;
}
