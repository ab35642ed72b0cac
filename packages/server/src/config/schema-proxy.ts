/**
 * Proxy hooks (`proxy.<hook>` and `namespaces.<name>.proxy.<hook>`): HTTP endpoints of the
 * application's backend that decide connects, refreshes, subscribes, publishes, subscription
 * refreshes and RPC calls. docs/proxy.md describes the requests and answers.
 */
import { z } from 'zod';
import { duration } from './schema-values.js';

/** An http(s) URL; anything else (a typo, `ftp:`, a bare host) is refused at load time. */
const endpointUrl = z.string().refine(
  (v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  },
  { message: 'expected an http:// or https:// URL' },
);

/** An HTTP header name (RFC 9110 token), lower-cased. */
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected an HTTP header name')
  .transform((h) => h.toLowerCase());

const endpointFields = {
  url: endpointUrl,
  /** Longest wait for the backend's answer, per attempt (connecting, sending, reading). */
  timeout: duration('1s'),
  /** Headers of the client's HTTP request forwarded to the backend, besides `cookie` and `authorization`. */
  forwardHeaders: z.array(headerName).default([]),
  /** Headers sent with every request (an API key of the backend, say). */
  staticHeaders: z.record(headerName, z.string()).default({}),
};

/** Hooks whose request may safely be sent again (they change nothing): retried on connection errors. */
const retried = z.strictObject({
  ...endpointFields,
  /** Further attempts after a connection error (refused, reset), 50 ms then 100 ms... apart; never after a timeout or an answer. */
  retries: z.number().int().min(0).max(5).default(2),
});

/** publish and rpc: never retried (the backend may have acted already). */
const once = z.strictObject(endpointFields);

export const proxySchema = z
  .strictObject({
    connect: retried
      .extend({
        /** Also call the connect proxy for connections that bring a valid token (with the token's user); false: only for connections without one. */
        withToken: z.boolean().default(true),
      })
      .optional(),
    refresh: retried.optional(),
    subscribe: retried.optional(),
    publish: once.optional(),
    subRefresh: retried.optional(),
    rpc: once.optional(),
    /** After a connection's or subscription's expiry, how long a refresh that fails (backend down) is retried before the connection is closed or the subscription ended. */
    refreshGrace: duration('10s'),
    /** Pause between refresh attempts within `proxy.refreshGrace`. */
    refreshRetryInterval: duration('1s'),
  })
  .prefault({});

/** `namespaces.<name>.proxy`: the channel hooks and RPC of one namespace, instead of the top-level ones. */
export const namespaceProxySchema = z
  .strictObject({
    subscribe: retried.optional(),
    publish: once.optional(),
    subRefresh: retried.optional(),
    rpc: once.optional(),
  })
  .optional();

export type ProxyConfig = z.output<typeof proxySchema>;
export type ProxyEndpointConfig = z.output<typeof once> & { retries?: number; withToken?: boolean };
/** The proxy hooks, as they are named in metrics, logs and docs. */
export type ProxyHookName = 'connect' | 'refresh' | 'subscribe' | 'publish' | 'sub_refresh' | 'rpc';
