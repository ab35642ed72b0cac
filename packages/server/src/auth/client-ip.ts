/**
 * The client IP of a request: the socket's peer address, unless that peer is a
 * configured trusted proxy, in which case `X-Forwarded-For` is read from the
 * right, skipping trusted proxies, and the first untrusted address is the client.
 * Reading from the right matters: a client can put anything at the left end.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

export type ClientIpResolver = (req: IncomingMessage) => string;

function family(ip: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(ip);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

/** `::ffff:1.2.3.4` (IPv4 on a dual-stack socket) is treated as `1.2.3.4`. */
function normalize(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** Builds a resolver; throws a TypeError naming a bad `trustedProxies` entry. */
export function createClientIpResolver(trustedProxies: readonly string[]): ClientIpResolver {
  const trusted = new BlockList();
  for (const entry of trustedProxies) {
    const [addr, bits] = entry.split('/');
    const type = family(addr ?? '');
    if (!type || (bits !== undefined && !/^\d+$/.test(bits))) throw new TypeError(`trustedProxies: "${entry}" is not an IP address or CIDR range`);
    if (bits === undefined) trusted.addAddress(addr!, type);
    else trusted.addSubnet(addr!, Number(bits), type);
  }
  const isTrusted = (ip: string) => {
    const type = family(ip);
    return type !== undefined && trusted.check(ip, type);
  };
  return (req) => {
    const peer = normalize(req.socket.remoteAddress ?? '');
    if (trustedProxies.length === 0 || !isTrusted(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((h) => normalize(h.trim())).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (family(hop) === undefined) return peer; // garbage in the chain: do not trust any of it
      if (!isTrusted(hop)) return hop;
    }
    return hops[0] ?? peer;
  };
}
