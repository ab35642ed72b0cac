/**
 * What each command does. A handler either replies itself (so a subscribe reply
 * and the release of its buffered publications happen in one synchronous step)
 * or throws a TidingsError, which the session turns into an error reply.
 */
import {
  CloseCode,
  ErrorCode,
  PROTOCOL_VERSION,
  encodeFrame,
  personalChannel,
  type Command,
  type ConnectCommand,
  type ConnectResult,
  type HistoryCommand,
  type PublishCommand,
  type PublishResult,
  type RefreshCommand,
  type RpcCommand,
  type StreamPosition,
  type SubscribeCommand,
  type SubscribeResult,
  type UnsubscribeCommand,
} from '@tidings/protocol';
import type { ResolvedChannel } from '../auth/channel-policy.js';
import type { ConnectionClaims } from '../auth/token-verifier.js';
import { TidingsError, toErrorBody } from '../errors.js';
import { checkReply, foldedPage } from '../features/messages.js';
import { recoverySubscribe } from '../features/recovery.js';
import { HookDisconnect, type ConnectResultOverride, type SubscribeOverride } from '../hooks.js';
import { DURABLE_COMMAND_HANDLERS } from './durable-commands.js';
import type { PublishRequest } from './services.js';
import { MESSAGE_COMMAND_HANDLERS } from './message-commands.js';
import { PRESENCE_COMMAND_HANDLERS, requireSubscription } from './presence-commands.js';
import { RECEIPT_COMMAND_HANDLERS } from './receipt-commands.js';
import type { CommandHandler, CommandTable, Session } from './session.js';
import { clientPublication, connectionOpened } from './session-webhooks.js';
import { Subscription } from './subscription.js';
import { OutFrame } from '../wire/out-frame.js';

type Handler<C extends Command> = CommandHandler<C>;

/** The session closed while a command awaited something; nothing more to do. */
class SessionClosed extends Error {}

function expirySeconds(expiresAt: number | undefined): { expires?: number; ttl?: number } {
  if (expiresAt === undefined) return {};
  return { expires: Math.floor(expiresAt / 1000), ttl: Math.max(0, Math.floor((expiresAt - Date.now()) / 1000)) };
}

/**
 * Registers a subscription (buffering), then reads the stream position or the
 * missed publications. The caller queues its reply, then calls `sub.goLive(lastOffset)`.
 */
async function attach(
  session: Session,
  target: ResolvedChannel,
  serverSide: boolean,
  recover: StreamPosition | undefined,
): Promise<{ sub: Subscription; result: SubscribeResult; lastOffset: number | undefined }> {
  const { hub, streams, config, presenceFeature } = session.services;
  const sub = new Subscription(session, target, serverSide);
  session.subs.set(target.channel, sub);
  try {
    await hub.subscribe(sub);
    const { result, lastOffset } = await recoverySubscribe(streams, target, recover, config.history.recoveryMaxPublications);
    const presence = await presenceFeature.enterChannel(session, sub);
    if (presence) result.presence = presence;
    if (session.closed || session.subs.get(target.channel) !== sub) throw new SessionClosed();
    return { sub, result, lastOffset };
  } catch (err) {
    session.detach(sub);
    throw err;
  }
}

/**
 * A server-side subscription made after connect (`Tidings.subscribeUser`, through steering): the
 * client gets a `subscribe` push with the subscribe result, then the channel's publications.
 * False when the connection is not connected, already has the channel or holds
 * `limits.subscriptionsPerConnection` subscriptions.
 */
export async function subscribeServerSide(session: Session, target: ResolvedChannel): Promise<boolean> {
  const { config } = session.services;
  if (session.state !== 'connected' || session.subs.has(target.channel) || session.subs.size >= config.limits.subscriptionsPerConnection) return false;
  try {
    const { sub, result, lastOffset } = await attach(session, target, true, undefined);
    session.push(OutFrame.fromText(encodeFrame({ type: 'subscribe', channel: target.channel, ...result })));
    sub.goLive(lastOffset);
    return true;
  } catch (err) {
    if (err instanceof SessionClosed || session.closed) return false;
    throw err;
  }
}

/** The user's sticky channels (`POST /users/:id/subscriptions`); a store that fails is logged and the connect goes on without them. */
async function stickyChannels(session: Session): Promise<string[]> {
  const store = session.services.userChannels;
  if (session.user === '' || !store) return [];
  try {
    return await store.list(session.user);
  } catch (err) {
    session.services.log.warn({ err, user: session.user }, 'could not read the user\'s sticky channels; connecting without them');
    return [];
  }
}

function connectFailure(session: Session, id: number, err: unknown): void {
  if (err instanceof HookDisconnect) return session.disconnect(err.code, { reason: err.reason });
  const body = toErrorBody(err);
  if (body.code === ErrorCode.Unauthorized || body.code === ErrorCode.TokenExpired) {
    session.services.audit.emit({ type: 'auth_failure', ip: session.request.remoteAddress, transport: session.transport.kind, reason: body.message });
  }
  session.replyError(id, body);
  let code: number = CloseCode.InvalidToken;
  if (body.code === ErrorCode.TokenExpired) code = CloseCode.TokenExpired;
  else if (body.code === ErrorCode.LimitExceeded) code = CloseCode.ConnectionLimit;
  else if (body.temporary) code = CloseCode.InternalError;
  else if (body.code !== ErrorCode.Unauthorized) code = CloseCode.Forbidden;
  session.disconnect(code);
}

const connect: Handler<ConnectCommand> = async (session, cmd) => {
  if (session.state === 'connected') throw new TidingsError(ErrorCode.AlreadyConnected, 'already connected');
  const { verifier, config, hooks, hub, policy, counters, log, version, presenceFeature } = session.services;
  let claims: ConnectionClaims | undefined;
  const extraChannels: string[] = [];
  let stickyGeneration: number | undefined;
  try {
    if (cmd.token !== undefined) claims = await verifier.verifyConnection(cmd.token);
    else if (session.handshakeClaims) claims = session.handshakeClaims;
    else if (!config.auth.allowAnonymous && !hooks.connect.some((h) => h.authenticates)) {
      throw new TidingsError(ErrorCode.Unauthorized, 'a token is required: send it in connect.token or in the Sec-WebSocket-Protocol header');
    }
    if (session.closed) return;
    if (claims) {
      session.user = claims.user;
      session.info = claims.info;
      session.roles = claims.roles;
      session.expiresAt = claims.expiresAt;
    }
    session.clientName = cmd.name;
    session.clientVersion = cmd.version;
    for (const entry of hooks.connect) {
      // Without a token (and anonymous connections off) only a hook that authenticates runs until one decides the user.
      if (claims ? !entry.withToken : session.user === '' && !config.auth.allowAnonymous && !entry.authenticates) continue;
      const extra = await entry.hook(session.context);
      if (session.closed) return;
      if (extra) applyConnectOverride(session, extra, extraChannels);
    }
    if (!claims && session.user === '' && !config.auth.allowAnonymous) throw new TidingsError(ErrorCode.Unauthorized, 'a token is required, or a connect hook that decides the user');
    if (session.closed) return;
    stickyGeneration = session.services.userChannels?.generation;
    extraChannels.push(...(await stickyChannels(session)));
    await presenceFeature.connectionOpened(session);
  } catch (err) {
    if (!session.closed) connectFailure(session, cmd.id, err);
    return;
  }
  if (session.closed) return;
  session.state = 'connected';
  session.transport.connectAccepted?.();
  counters.connectsTotal++;
  hub.addSession(session);
  session.startPinging();
  session.scheduleExpiry();
  // A sticky channel added (on any node) since they were read, before this session was in the hub for steering to find: read again.
  if (stickyGeneration !== session.services.userChannels?.generation) {
    extraChannels.push(...(await stickyChannels(session)));
    if (session.closed) return;
  }

  const channels = new Set<string>();
  if (session.user !== '' && config.personal.enabled) channels.add(personalChannel(session.user));
  for (const ch of [...(claims?.channels ?? []), ...extraChannels]) channels.add(ch);
  const subs: Record<string, SubscribeResult> = {};
  const attached: { sub: Subscription; lastOffset: number | undefined }[] = [];
  try {
    for (const channel of channels) {
      let target: ResolvedChannel;
      try {
        target = policy.resolve(channel);
        if (session.subs.size >= config.limits.subscriptionsPerConnection) throw new Error('limits.subscriptionsPerConnection reached');
      } catch (err) {
        log.warn({ client: session.id, channel, problem: (err as Error).message }, 'skipped server-side subscription');
        continue;
      }
      // Subscribed already by steering (a sticky channel added while this connection was being set up).
      if (session.subs.has(target.channel)) continue;
      const r = await attach(session, target, true, cmd.subs?.[channel]);
      subs[channel] = r.result;
      attached.push(r);
    }
  } catch (err) {
    if (err instanceof SessionClosed || session.closed) return;
    connectFailure(session, cmd.id, err);
    return;
  }
  const result: ConnectResult = {
    client: session.id,
    user: session.user,
    version,
    protocol: PROTOCOL_VERSION,
    ...expirySeconds(session.expiresAt),
    // Whole seconds, rounded up so a sub-second test setting never reads as 0 ("off").
    ping: Math.ceil(config.client.pingInterval / 1000),
    pong: Math.ceil(config.client.pongTimeout / 1000),
    subs,
  };
  if (session.connectData !== undefined) Object.assign(result, { data: session.connectData });
  session.reply(cmd.id, result);
  connectionOpened(session);
  for (const { sub, lastOffset } of attached) sub.goLive(lastOffset);
  session.services.audit.emit({ type: 'connect', client: session.id, user: session.user, ip: session.request.remoteAddress, transport: session.transport.kind });
  log.debug({ client: session.id, user: session.user, transport: session.transport.kind }, 'connected');
};

/** What a connect hook decided: user, info, expiry (then refreshed through the refresh hooks), channels, reply data. */
function applyConnectOverride(session: Session, o: ConnectResultOverride, channels: string[]): void {
  if (o.user !== undefined) session.user = o.user;
  if (o.info !== undefined) session.info = o.info;
  if (o.expiresAt !== undefined) {
    session.expiresAt = o.expiresAt;
    session.hookTimers.expiryByHook = true;
  }
  if (o.channels) channels.push(...o.channels);
  if (o.data !== undefined) session.connectData = o.data;
}

const refresh: Handler<RefreshCommand> = async (session, cmd) => {
  const claims = await session.services.verifier.verifyConnection(cmd.token);
  if (claims.user !== session.user) throw new TidingsError(ErrorCode.Unauthorized, 'refresh token is for another user');
  session.expiresAt = claims.expiresAt;
  if (claims.info) session.info = claims.info;
  session.roles = claims.roles;
  session.scheduleExpiry();
  session.reply(cmd.id, expirySeconds(session.expiresAt));
};

const subscribe: Handler<SubscribeCommand> = async (session, cmd) => {
  const { policy, hooks, config, hub } = session.services;
  // With the principal: the dashboard's reserved channel resolves for dashboard connections only.
  const target = policy.resolve(cmd.channel, session.principal);
  if (session.subs.has(target.channel)) throw new TidingsError(ErrorCode.AlreadySubscribed, 'already subscribed');
  const perConnection = config.limits.subscriptionsPerConnection;
  if (session.subs.size >= perConnection) {
    session.services.limitHit('subscriptions_per_connection', { user: session.user, client: session.id });
    throw new TidingsError(ErrorCode.LimitExceeded, `a connection may hold ${perConnection} subscriptions (limits.subscriptionsPerConnection)`);
  }
  // Counted on this node; a cluster-wide count needs an engine counter (with the Redis engine).
  const max = target.ns.maxSubscribers;
  if (max > 0 && hub.subscriberCount(target.channel) >= max) {
    session.services.limitHit('max_subscribers', { user: session.user, client: session.id });
    throw new TidingsError(ErrorCode.LimitExceeded, `channel has ${max} subscribers already (maxSubscribers)`);
  }
  await policy.authorizeSubscribe(session.principal, target, cmd.token);
  const granted: SubscribeOverride = {};
  for (const hook of hooks.subscribe) {
    const r = await hook({ ...session.context, channel: target.channel });
    if (r?.info !== undefined) granted.info = r.info;
    if (r?.expiresAt !== undefined) granted.expiresAt = r.expiresAt;
  }
  if (session.subs.has(target.channel)) throw new TidingsError(ErrorCode.AlreadySubscribed, 'already subscribed');
  let r;
  try {
    r = await attach(session, target, false, cmd.recover);
  } catch (err) {
    if (err instanceof SessionClosed) return;
    throw err;
  }
  // The subscription's info from the hooks rides in the reply (docs/proxy.md).
  session.reply(cmd.id, granted.info === undefined ? r.result : { ...r.result, info: granted.info });
  r.sub.goLive(r.lastOffset);
  if (granted.expiresAt !== undefined) session.hookTimers.watchSubscription(r.sub, target.channel, granted.expiresAt);
};

const unsubscribe: Handler<UnsubscribeCommand> = async (session, cmd) => {
  const sub = session.subs.get(cmd.channel);
  if (!sub) throw new TidingsError(ErrorCode.NotSubscribed, 'not subscribed');
  session.detach(sub, 'client');
  session.reply(cmd.id, {});
};

const publish: Handler<PublishCommand> = async (session, cmd) => {
  const { policy, hooks } = session.services;
  const target = policy.resolve(cmd.channel);
  policy.authorizePublish(session.principal, target, session.subs.get(target.channel)?.live === true);
  // Anonymous connections share no user id, so each gets its own budget.
  if (!(await session.services.publishAllowed(target, session.user === '' ? `#${session.id}` : session.user))) {
    const rl = target.ns.rateLimit!;
    session.rateLimited(cmd.id, 'publish_rate', `more than ${rl.messages} publications per ${rl.intervalMs} ms in namespace "${target.parsed.namespace}"`);
    return;
  }
  let data = cmd.data;
  for (const hook of hooks.publish) {
    const override = await hook({ ...session.context, channel: target.channel, data });
    if (override && 'data' in override) data = override.data;
  }
  const options: PublishRequest = { source: 'client', info: session.clientInfo };
  // Keys are scoped by user, so one user cannot suppress another's publications; as a JSON
  // array, so no user id and key can spell another pair's scoped key (`alice:x`+`k` vs `alice`+`x:k`).
  if (cmd.idempotencyKey !== undefined) options.idempotencyKey = JSON.stringify(['c', session.user, cmd.idempotencyKey]);
  if (cmd.event !== undefined) options.event = cmd.event;
  if (cmd.replyTo !== undefined) {
    await checkReply(session.services.streams, target, cmd.replyTo);
    options.replyTo = cmd.replyTo;
  }
  const outcome = await session.services.publish(target, data, options);
  const result: PublishResult = outcome.position ? { offset: outcome.position.offset, epoch: outcome.position.epoch } : {};
  if (outcome.deduplicated) result.deduplicated = true;
  session.reply(cmd.id, result);
  clientPublication(session, target, data, outcome);
};

const history: Handler<HistoryCommand> = async (session, cmd) => {
  const { target } = requireSubscription(session, cmd.channel, 'history');
  if (!target.ns.history) throw new TidingsError(ErrorCode.NotAvailable, 'history is off in this namespace');
  const max = session.services.config.history.maxLimit;
  const query = { limit: Math.min(cmd.limit ?? max, max), reverse: cmd.reverse === true, ...(cmd.since ? { since: cmd.since } : {}) };
  const page = await session.services.streams.history(target.channel, query);
  const publications = await foldedPage(session.services.streams, target.channel, target.ns, page);
  session.reply(cmd.id, { epoch: page.position.epoch, offset: page.position.offset, publications });
};

const rpc: Handler<RpcCommand> = async (session, cmd) => {
  const handlers = session.services.hooks.rpc;
  const handler = handlers.get(cmd.method) ?? handlers.get('');
  if (!handler) throw new TidingsError(ErrorCode.NotAvailable, `no RPC handler for method "${cmd.method}"`);
  const data = await handler({ ...session.context, method: cmd.method, data: cmd.data });
  session.reply(cmd.id, data === undefined ? {} : { data });
};

export const COMMAND_HANDLERS: CommandTable = {
  connect,
  refresh,
  subscribe,
  unsubscribe,
  publish,
  history,
  rpc,
  ...PRESENCE_COMMAND_HANDLERS,
  ...DURABLE_COMMAND_HANDLERS,
  ...MESSAGE_COMMAND_HANDLERS,
  ...RECEIPT_COMMAND_HANDLERS,
};
