/**
 * The PresenceManager on Redis: one channel's presence is a handful of keys under the channel's
 * hash tag, and every operation is one Lua script over them, so concurrent calls from any
 * number of nodes are ordered by Redis and each sees a consistent channel.
 *
 * Keys of a channel (`<prefix>:{c:<channel>}:<name>`, see RedisKeys):
 * - `pc` HASH client → `<status>:<stateSeq>:<user>`; `pi` HASH client → info JSON;
 *   `ps` HASH client → state JSON; `px` ZSET client → expiry (ms, Redis clock);
 * - `pk` HASH user → connections; `pl` HASH user → lastSeen; `pn` HASH user → info JSON;
 * - `pg` ZSET user → start of the leave grace period; `pgl` HASH user → `<status>:<state JSON>`
 *   (the aggregate shown during the grace period);
 * - `pq` counter: the order in which states were set (the newest state wins the aggregate);
 * - `pgc` HASH user → the client whose removal started the grace period;
 * - `pe` HASH user → JSON of what expiry did to the user, until a sweep reports it: `l` gone,
 *   `b` the visible aggregate before (status:state), `c`/`i` the last expired client and its info.
 *
 * Expiry: every script first drops the connections whose expiry passed (a node that died
 * without goodbye stops refreshing them) and the grace periods older than the TTL, noting what
 * that did in `pe`; every write gives the channel's keys twice the TTL to live, so a channel
 * nobody refreshes disappears.
 *
 * Sweeping: `<prefix>:{presence:due}` (ZSET channel → a time at or before its next expiry, 0
 * while `pe` holds something) lets a sweep find the channels due without scanning them all.
 * It is another slot than a channel's keys (Redis Cluster), so it is written after the channel's
 * script, with the time that script computed: adds and touches only add later expiries, so any
 * time a script returned stays at or before the channel's next expiry. A sweep that found a
 * channel empty takes it out, then looks again and puts it back if an add came in between.
 */
import type { PresenceClient, PresenceResult, PresenceStatus, PresenceUser } from '@tidings/protocol';
import type { PresenceAddResult, PresenceExpiry, PresenceManager, PresenceRemoveResult, PresenceStats, PresenceSweep, PresenceTouch, PresenceUpdateResult } from '../presence.js';
import type { RedisKeys } from './redis-keys.js';
import { PRESENCE_DUE_LUA, PRESENCE_LUA } from './redis-presence-lua.js';
import { asArray, asNumber, asText, jsonOrEmpty, LuaScript, parseOrUndefined, type RedisScriptClient } from './redis-state-scripts.js';

export interface RedisPresenceOptions {
  /** An entry not refreshed by `add` or `touch` for this long disappears. */
  ttlMs: number;
}

const KEY_NAMES = ['pc', 'pi', 'ps', 'px', 'pk', 'pl', 'pn', 'pg', 'pgl', 'pq', 'pe', 'pgc'] as const;

const SCRIPT = new LuaScript(PRESENCE_LUA);

const DUE = new LuaScript(PRESENCE_DUE_LUA);

/** At most this many entries of one channel go in one touch script call (keeps each call short). */
const TOUCH_CHUNK = 500;

export class RedisPresenceManager implements PresenceManager {
  private readonly dueKey: string;

  constructor(
    private readonly client: RedisScriptClient,
    private readonly keys: RedisKeys,
    private readonly options: RedisPresenceOptions,
  ) {
    this.dueKey = keys.global('presence', 'due');
  }

  async add(channel: string, client: PresenceClient): Promise<PresenceAddResult> {
    const reply = asArray(await this.run(channel, 'add', ...entryArgs(client)));
    const [joined, changed, user, all, next] = reply;
    await this.due([channel, asText(next)]);
    return { userJoined: asNumber(joined) === 1, user: decodeUser(asArray(user)), changed: asNumber(changed) === 1, snapshot: decodeChannel(all) };
  }

  async touch(entries: readonly PresenceTouch[]): Promise<void> {
    const byChannel = new Map<string, string[][]>();
    for (const { channel, client } of entries) {
      let chunks = byChannel.get(channel);
      if (!chunks) byChannel.set(channel, (chunks = [[]]));
      if (chunks[chunks.length - 1]!.length >= TOUCH_CHUNK * 5) chunks.push([]);
      chunks[chunks.length - 1]!.push(...entryArgs(client));
    }
    // Issued in one tick: node-redis sends them as one pipeline.
    const calls: Promise<string[]>[] = [];
    for (const [channel, chunks] of byChannel) for (const args of chunks) calls.push(this.run(channel, 'touch', ...args).then((next) => [channel, asText(next)]));
    const due = await Promise.all(calls);
    if (due.length > 0) await this.due(...due);
  }

  async update(channel: string, clientId: string, patch: { status?: PresenceStatus; state?: unknown }): Promise<PresenceUpdateResult> {
    let stateOp = '';
    let state = '';
    if ('state' in patch) {
      state = patch.state === null ? '' : jsonOrEmpty(patch.state);
      stateOp = state === '' ? 'del' : 'set';
    }
    const reply = asArray(await this.run(channel, 'update', clientId, patch.status ?? '', stateOp, state));
    if (asNumber(reply[0]) === 0) return { user: undefined, changed: false };
    return { user: decodeUser(asArray(reply[2])), changed: asNumber(reply[1]) === 1 };
  }

  async remove(channel: string, clientId: string): Promise<PresenceRemoveResult> {
    const reply = asArray(await this.run(channel, 'remove', clientId));
    if (asNumber(reply[0]) === 0) return { lastClient: false, changed: false };
    if (asNumber(reply[1]) === 1) return { lastClient: true, changed: false };
    return { lastClient: false, user: decodeUser(asArray(reply[3])), changed: asNumber(reply[2]) === 1 };
  }

  async settleLeave(channel: string, user: string): Promise<boolean> {
    return asNumber(await this.run(channel, 'settle', user)) === 1;
  }

  async clients(channel: string): Promise<Record<string, PresenceClient>> {
    return decodeChannel(await this.run(channel, 'read')).clients;
  }

  async users(channel: string): Promise<PresenceUser[]> {
    return decodeChannel(await this.run(channel, 'read')).users;
  }

  async stats(channel: string): Promise<PresenceStats> {
    const [clients, users] = asArray(await this.run(channel, 'stats'));
    return { clients: asNumber(clients), users: asNumber(users) };
  }

  async sweepExpired(limit: number): Promise<PresenceSweep> {
    const channels = asArray(await DUE.run(this.client, [this.dueKey], ['due', limit])).map(asText);
    const replies = await Promise.all(channels.map((channel) => this.run(channel, 'sweep')));
    const expired: PresenceExpiry[] = [];
    const next: string[][] = [];
    const emptied: string[] = [];
    replies.forEach((reply, i) => {
      const channel = channels[i]!;
      const [found, at] = asArray(reply);
      for (const raw of asArray(found)) expired.push(decodeExpiry(channel, asArray(raw)));
      next.push([channel, asText(at)]);
      if (asNumber(at) < 0) emptied.push(channel);
    });
    if (next.length > 0) await this.due(...next);
    // An add may have come in between the sweep and taking the channel out: look again.
    if (emptied.length > 0) {
      const again = await Promise.all(emptied.map(async (channel) => [channel, asText(await this.run(channel, 'next'))]));
      const back = again.filter(([, at]) => Number(at) >= 0);
      if (back.length > 0) await this.due(...back);
    }
    return { expired, more: channels.length >= limit };
  }

  /** The client belongs to whoever made it: closing presence leaves it open. */
  async close(): Promise<void> {}

  /** Sets channels' times in the index of channels due for a sweep: [channel, time] pairs. */
  private async due(...pairs: string[][]): Promise<void> {
    await DUE.run(this.client, [this.dueKey], ['set', 2 * this.options.ttlMs + 2000, ...pairs.flat()]);
  }

  private run(channel: string, op: string, ...args: string[]): Promise<unknown> {
    const tag = this.keys.tagged('c', channel);
    const keys = KEY_NAMES.map((name) => `${tag}:${name}`);
    return SCRIPT.run(this.client, keys, [this.options.ttlMs, op, ...args]);
  }
}

/** One connection as the scripts take it: id, user, status, info JSON, state JSON ('' = absent). */
function entryArgs(client: PresenceClient): string[] {
  return [client.client, client.user, client.status, client.info ? JSON.stringify(client.info) : '', jsonOrEmpty(client.state)];
}

/** One sweep entry: gone (1), user, client, info JSON, or present (0) with its user reply. */
function decodeExpiry(channel: string, fields: unknown[]): PresenceExpiry {
  const [left, user, client, info] = fields.slice(0, 4).map(asText) as [string, string, string, string];
  const out: PresenceExpiry = { channel, userLeft: left === '1', info: info ? { user, client, info: JSON.parse(info) as Record<string, unknown> } : { user, client } };
  if (left !== '1') out.user = decodeUser(asArray(fields[4]));
  return out;
}

function decodeUser(fields: unknown[]): PresenceUser {
  const [user, status, state, lastSeen, clients, info] = fields.map(asText);
  const out: PresenceUser = { user: user!, status: status as PresenceStatus, lastSeen: Number(lastSeen), clients: Number(clients) };
  if (info) out.info = JSON.parse(info) as Record<string, unknown>;
  if (state) out.state = JSON.parse(state);
  return out;
}

function decodeChannel(reply: unknown): PresenceResult {
  const [rawClients, rawUsers] = asArray(reply).map((part) => asArray(part).map(asText));
  const clients: Record<string, PresenceClient> = {};
  for (let i = 0; i < rawClients!.length; i += 5) {
    const [id, user, status, info, state] = rawClients!.slice(i, i + 5) as [string, string, string, string, string];
    const entry: PresenceClient = { user, client: id, status: status as PresenceStatus };
    if (info) entry.info = JSON.parse(info) as Record<string, unknown>;
    const value = parseOrUndefined(state);
    if (value !== undefined) entry.state = value;
    clients[id] = entry;
  }
  const users: PresenceUser[] = [];
  for (let i = 0; i < rawUsers!.length; i += 6) users.push(decodeUser(rawUsers!.slice(i, i + 6)));
  users.sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
  return { clients, users };
}
