/**
 * `tidings token <user>`: mints an HS256 connection or subscription token with the
 * secret from --secret, the config, or the dev secrets of `tidings dev`.
 */
import { mintToken } from './auth/token-mint.js';
import { CliError } from './cli-error.js';
import { loadConfigInput } from './config/load.js';
import { parseDuration } from './config/units.js';
import { readDevSecrets, DEV_SECRETS_FILE } from './dev-defaults.js';

export interface TokenFlags {
  role: string[];
  ttl: string;
  info?: string;
  channel?: string;
  channels: string[];
  secret?: string;
  audience?: string;
  issuer?: string;
  config?: string;
  dataDir?: string;
}

export async function token(user: string, opts: TokenFlags): Promise<void> {
  const ttlMs = parseDuration(opts.ttl);
  if (ttlMs === null) throw new CliError(`--ttl: expected a duration like 10m, 1h or 7d (0 for no expiry), got ${JSON.stringify(opts.ttl)}`);
  let info: Record<string, unknown> | undefined;
  if (opts.info !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(opts.info);
    } catch (err) {
      throw new CliError(`--info: not valid JSON (${(err as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CliError('--info: expected a JSON object, e.g. \'{"name":"Alice"}\'');
    info = parsed as Record<string, unknown>;
  }

  const secret = await findSecret(opts);
  const { audience, issuer } = audienceAndIssuer(opts);
  try {
    const jwt = await mintToken(secret, {
      sub: user,
      ...(audience ? { audience } : {}),
      ...(issuer ? { issuer } : {}),
      ...(info ? { info } : {}),
      ...(opts.role.length > 0 ? { roles: opts.role } : {}),
      ...(opts.channels.length > 0 ? { channels: opts.channels } : {}),
      ...(opts.channel !== undefined ? { channel: opts.channel } : {}),
      ...(ttlMs > 0 ? { ttlSeconds: ttlMs / 1000 } : {}),
    });
    process.stdout.write(`${jwt}\n`);
  } catch (err) {
    // mintToken refuses claims the server would reject (bad user id, bad channel name).
    if (err instanceof TypeError || err instanceof RangeError) throw new CliError(err.message.replace(/^mintToken: /, ''));
    throw err;
  }
}

/** --audience/--issuer, else the first configured auth.audience/auth.issuer, so the token passes the node's checks. */
function audienceAndIssuer(opts: TokenFlags): { audience?: string; issuer?: string } {
  const auth = (loadConfigInput({ file: opts.config, env: process.env }).auth ?? {}) as { audience?: unknown; issuer?: unknown };
  const first = (v: unknown): string | undefined => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined);
  const audience = opts.audience ?? first(auth.audience);
  const issuer = opts.issuer ?? first(auth.issuer);
  return { ...(audience ? { audience } : {}), ...(issuer ? { issuer } : {}) };
}

/** --secret, else auth.secret from the config file/env, else the dev secrets `tidings dev` created. */
async function findSecret(opts: TokenFlags): Promise<string> {
  if (opts.secret) return opts.secret;
  // Only auth.secret and dataDir matter here, so the rest of the config is not validated.
  const input = loadConfigInput({ file: opts.config, env: process.env });
  const configured = input.auth?.secret as unknown;
  if (typeof configured === 'string' && configured.length > 0) return configured;
  if (typeof configured === 'number') return String(configured);
  const dataDir = opts.dataDir ?? (typeof input.dataDir === 'string' ? input.dataDir : './data');
  const dev = await readDevSecrets(dataDir);
  if (dev) return dev.secret;
  throw new CliError(
    `no secret to sign with: pass --secret, set auth.secret in the config file or env TIDINGS_AUTH__SECRET, ` +
      `or run \`tidings dev\` once to create ${dataDir}/${DEV_SECRETS_FILE} (use --data-dir if it lives elsewhere).`,
  );
}
