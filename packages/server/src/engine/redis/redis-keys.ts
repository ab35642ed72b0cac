/**
 * Every Redis key and pub/sub channel name the Redis engine uses, in one place.
 *
 * Keys that one atomic step (a Lua script, a MULTI) touches together share a hash tag, the part
 * between `{` and `}` that Redis Cluster hashes to pick a slot:
 * - a channel's keys (stream position, history, idempotency results) and its pub/sub channel:
 *   `{c:<channel>}`, so the publish script, its keys and its (S)PUBLISH share one slot;
 * - a user's keys: `{u:<user>}`; a namespace's: `{ns:<name>}`; a node's: `{n:<node>}`.
 * The name inside the braces is escaped (`%`, `{`, `}` as `%25`, `%7B`, `%7D`), so a name can
 * never close the tag early and whatever follows the tag (an idempotency key, a suffix) can never
 * make two keys collide. The prefix (default `tidings`) separates deployments sharing one Redis.
 *
 * The broker's Lua scripts (`redis-scripts.ts`) build the same names for keys of other channels,
 * namespaces and owners (budget eviction, stream eviction); a test checks they agree.
 */

/** The default key prefix. */
export const DEFAULT_REDIS_PREFIX = 'tidings';

/** Escapes a name for use inside a hash tag: no `{` or `}` in the result, and `%` escaped so it stays reversible. */
export function tagName(name: string): string {
  return name.replace(/[%{}]/g, (c) => (c === '%' ? '%25' : c === '{' ? '%7B' : '%7D'));
}

/** Throws when `prefix` cannot be used: it must be non-empty and hold no `{` or `}` (that would move the hash tag). */
export function checkRedisPrefix(prefix: string): void {
  if (prefix === '' || /[{}]/.test(prefix)) throw new Error(`Redis key prefix must be non-empty and hold no "{" or "}": ${JSON.stringify(prefix)}`);
}

/** Key and channel names under one prefix. */
export class RedisKeys {
  constructor(readonly prefix: string = DEFAULT_REDIS_PREFIX) {
    checkRedisPrefix(prefix);
  }

  /** `<prefix>:{<kind>:<name>}`: the common start of every key of one tagged entity. */
  tagged(kind: string, name: string): string {
    return `${this.prefix}:{${kind}:${tagName(name)}}`;
  }

  // ---- channels: one hash tag per channel -------------------------------------------------

  /** HASH of a channel's stream: `e` epoch, `o` top offset. */
  channelMeta(channel: string): string {
    return `${this.tagged('c', channel)}:m`;
  }

  /** STREAM of a channel's history; entry ids are `<offset>-0`. */
  channelHistory(channel: string): string {
    return `${this.tagged('c', channel)}:h`;
  }

  /** HASH of a channel's remembered publish outcomes, by idempotency key. */
  channelIdempotency(channel: string): string {
    return `${this.tagged('c', channel)}:i`;
  }

  /** ZSET of a channel's idempotency keys by the time their window ends (ms), bounding and expiring `channelIdempotency`. */
  channelIdempotencyIndex(channel: string): string {
    return `${this.tagged('c', channel)}:ik`;
  }

  /** The pub/sub channel carrying a channel's publications and control events (same tag: SPUBLISH-ready). */
  channelPubSub(channel: string): string {
    return `${this.tagged('c', channel)}:p`;
  }

  // ---- history budgets ----------------------------------------------------------------------

  /** STRING counting the bytes of one owner's (user's) stored publications. */
  ownerBytes(owner: string): string {
    return `${this.tagged('u', owner)}:hb`;
  }

  /** ZSET of one owner's stored publications (member `<offset>:<bytes>:<expiresAt>:<epoch>:<channel>`, score = insertion sequence). */
  ownerIndex(owner: string): string {
    return `${this.tagged('u', owner)}:hi`;
  }

  /** STRING counting the bytes of one history namespace's stored publications. */
  namespaceBytes(namespace: string): string {
    return `${this.tagged('ns', namespace)}:hb`;
  }

  /** ZSET of one namespace's stored publications (same members as `ownerIndex`), oldest first. */
  namespaceIndex(namespace: string): string {
    return `${this.tagged('ns', namespace)}:hi`;
  }

  /** STRING counting the bytes of every stored publication under this prefix (the deployment-wide budget). */
  allBytes(): string {
    return `${this.prefix}:{all}:hb`;
  }

  /** ZSET of every stored publication under this prefix that counts toward the deployment-wide budget. */
  allIndex(): string {
    return `${this.prefix}:{all}:hi`;
  }

  /** ZSET of the streams (member: channel, score: sequence of last use), for `maxStreams`. */
  streams(): string {
    return `${this.prefix}:{all}:streams`;
  }

  /** STRING: a sequence giving each stored publication a global insertion order (for budget eviction). */
  sequence(): string {
    return `${this.prefix}:{all}:seq`;
  }

  // ---- users and nodes (for presence, user status, the node bus) ---------------------------

  /** A key of one user's, e.g. `user('alice', 'p')` → `<prefix>:{u:alice}:p`. */
  user(user: string, suffix: string): string {
    return `${this.tagged('u', user)}:${suffix}`;
  }

  /** The pub/sub channel of one user's events. */
  userPubSub(user: string): string {
    return `${this.tagged('u', user)}:p`;
  }

  /** A key of one node's, e.g. `node(id, 'hb')`. */
  node(node: string, suffix: string): string {
    return `${this.tagged('n', node)}:${suffix}`;
  }

  /** The pub/sub channel of messages addressed to one node. */
  nodePubSub(node: string): string {
    return `${this.tagged('n', node)}:p`;
  }

  /** The pub/sub channel every node listens to (membership, broadcasts). */
  controlPubSub(): string {
    return `${this.prefix}:{ctl}:p`;
  }

  /** A key not tied to a channel, user or node, e.g. `global('limits', name)`. */
  global(kind: string, name: string, suffix = ''): string {
    return suffix === '' ? this.tagged(kind, name) : `${this.tagged(kind, name)}:${suffix}`;
  }
}
