/**
 * The `connect` command, built in one place for the normal open and the upgrade probe.
 */
import type { StreamPosition } from '@tidings/protocol';
import type { CommandBody } from '../outbox.js';
import { CLIENT_NAME, CLIENT_VERSION } from '../version.js';

/**
 * @internal `connect` with the token, the client's name and version, and the positions of
 * the server-side subscriptions to recover (`subs`, left out when empty).
 */
export function connectCommand(token: string | undefined, options: { name?: string; version?: string }, subs: Record<string, StreamPosition>): CommandBody {
  return {
    type: 'connect',
    ...(token ? { token } : {}),
    name: options.name ?? CLIENT_NAME,
    version: options.version ?? CLIENT_VERSION,
    ...(Object.keys(subs).length > 0 ? { subs } : {}),
  };
}
