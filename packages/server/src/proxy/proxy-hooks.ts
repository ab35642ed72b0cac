/**
 * Hooks built from the configuration's `proxy` and `namespaces.<name>.proxy`: each asks the
 * backend over HTTP (proxy-client.ts) and answers as an in-process hook would, so sessions
 * run one path for both. Channel hooks and RPC look up their endpoint at call time (a
 * namespace's own, else the top-level one), so a reload of the namespaces applies at once.
 */
import { isValidChannel, isValidUserId, parseChannel } from '@tidings/protocol';
import { z } from 'zod';
import type { ProxyEndpointConfig } from '../config/schema-proxy.js';
import type { TidingsConfig } from '../config/schema.js';
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import type { ConnectionContext, HookRegistry, RefreshOverride } from '../hooks.js';
import { ProxyClient, type ProxyClientDeps } from './proxy-client.js';

const info = z.record(z.string(), z.unknown());
/** Unix time in seconds, as in a JWT's `exp`. */
const expireAt = z.number().positive().finite();

const connectResult = z.object({
  user: z.string().refine((u) => u === '' || isValidUserId(u), 'user: not a valid user id').optional(),
  info: info.optional(),
  channels: z.array(z.string().refine(isValidChannel, 'channels: not a valid channel name')).max(1000).optional(),
  expireAt: expireAt.optional(),
  data: z.unknown().optional(),
});
const refreshResult = z.object({ expired: z.boolean().optional(), expireAt: expireAt.optional(), info: info.optional() });
const subscribeResult = z.object({ info: info.optional(), expireAt: expireAt.optional() });
const dataResult = z.object({ data: z.unknown().optional() });

type ChannelHook = 'subscribe' | 'publish' | 'subRefresh' | 'rpc';

/** The envelope every request carries: who is asking, over what. */
function envelope(ctx: ConnectionContext, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const body: Record<string, unknown> = { client: ctx.client, transport: ctx.transport, user: ctx.user, remoteAddress: ctx.remoteAddress };
  if (ctx.name !== undefined) body.name = ctx.name;
  if (ctx.version !== undefined) body.version = ctx.version;
  if (ctx.info !== undefined) body.info = ctx.info;
  return { ...body, ...extra };
}

const toRefresh = (r: z.output<typeof refreshResult>): RefreshOverride => {
  const out: RefreshOverride = {};
  if (r.expired) out.expired = true;
  if (r.expireAt !== undefined) out.expiresAt = r.expireAt * 1000;
  if (r.info !== undefined) out.info = r.info;
  return out;
};

/** Registers the configured proxy hooks; first, so they run before the application's own. */
export function registerProxyHooks(registry: HookRegistry, deps: ProxyClientDeps & { config: TidingsConfig }): void {
  const { config } = deps;
  const top = config.proxy;
  const client = new ProxyClient(deps);
  const inAnyNamespace = (hook: ChannelHook) => Object.values(config.namespaces).some((ns) => ns.proxy?.[hook] !== undefined);
  /** The namespace's endpoint for `hook`, else the top-level one. */
  const endpointFor = (hook: ChannelHook, namespace: string | undefined): ProxyEndpointConfig | undefined =>
    (namespace !== undefined && Object.prototype.hasOwnProperty.call(config.namespaces, namespace) ? config.namespaces[namespace]!.proxy?.[hook] : undefined) ?? top[hook];
  const forChannel = (hook: ChannelHook, channel: string) => endpointFor(hook, parseChannel(channel).namespace);

  if (top.connect) {
    const endpoint = top.connect;
    registry.onConnect(
      async (ctx) => {
        const r = await client.call('connect', endpoint, envelope(ctx), ctx.headers, connectResult);
        return {
          ...(r.user !== undefined ? { user: r.user } : {}),
          ...(r.info !== undefined ? { info: r.info } : {}),
          ...(r.channels !== undefined ? { channels: r.channels } : {}),
          ...(r.expireAt !== undefined ? { expiresAt: r.expireAt * 1000 } : {}),
          ...(r.data !== undefined ? { data: r.data } : {}),
        };
      },
      { authenticates: true, withToken: endpoint.withToken },
    );
  }
  if (top.refresh) {
    const endpoint = top.refresh;
    registry.onRefresh(async (ctx) => toRefresh(await client.call('refresh', endpoint, envelope(ctx), ctx.headers, refreshResult)));
  }
  if (top.subscribe || inAnyNamespace('subscribe')) {
    registry.onSubscribe(async (ctx) => {
      const endpoint = forChannel('subscribe', ctx.channel);
      if (!endpoint) return undefined;
      const r = await client.call('subscribe', endpoint, envelope(ctx, { channel: ctx.channel }), ctx.headers, subscribeResult);
      return { ...(r.info !== undefined ? { info: r.info } : {}), ...(r.expireAt !== undefined ? { expiresAt: r.expireAt * 1000 } : {}) };
    });
  }
  if (top.subRefresh || inAnyNamespace('subRefresh')) {
    registry.onSubRefresh(async (ctx) => {
      const endpoint = forChannel('subRefresh', ctx.channel);
      // No endpoint (a reload removed it): the subscription keeps going until it expires.
      if (!endpoint) return undefined;
      return toRefresh(await client.call('sub_refresh', endpoint, envelope(ctx, { channel: ctx.channel }), ctx.headers, refreshResult));
    });
  }
  if (top.publish || inAnyNamespace('publish')) {
    registry.onPublish(async (ctx) => {
      const endpoint = forChannel('publish', ctx.channel);
      if (!endpoint) return undefined;
      const r = await client.call('publish', endpoint, envelope(ctx, { channel: ctx.channel, data: ctx.data }), ctx.headers, dataResult);
      return 'data' in r && r.data !== undefined ? { data: r.data } : undefined;
    });
  }
  if (top.rpc || inAnyNamespace('rpc')) {
    // Every method without an in-process handler of its own: `ns:name` uses namespace ns's endpoint, else the top-level one.
    registry.onRpc('', async (ctx) => {
      const colon = ctx.method.indexOf(':');
      const endpoint = endpointFor('rpc', colon > 0 ? ctx.method.slice(0, colon) : undefined);
      if (!endpoint) throw new TidingsError(ErrorCode.NotAvailable, `no RPC handler for method "${ctx.method}"`);
      const r = await client.call('rpc', endpoint, envelope(ctx, { method: ctx.method, data: ctx.data }), ctx.headers, dataResult);
      return r.data;
    });
  }
}
