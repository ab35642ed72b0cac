/**
 * What `tidings dev` runs with: demo namespaces that exercise every feature, a
 * permissive origin policy, and a secret and API key kept in the data dir so that
 * tokens minted yesterday (or by `tidings token`) still verify after a restart.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TidingsConfigInput } from './config/schema.js';

export const DEV_SECRETS_FILE = 'dev-secrets.json';

export interface DevSecrets {
  secret: string;
  apiKey: string;
}

export interface DevInput extends DevSecrets {
  input: TidingsConfigInput;
  /** True when this call created the secrets file (first run with this data dir). */
  created: boolean;
}

/** Every chat primitive on (docs/messaging.md); tokens with the role `admin` moderate. */
const MESSAGING = { replies: true, edits: true, moderators: ['admin'], annotations: true, readReceipts: true, seenBy: true };

/** The demo setup; the CLI merges it under the user's file, env and flags. */
export async function prepareDevInput(dataDir: string): Promise<DevInput> {
  await mkdir(dataDir, { recursive: true });
  const { secrets, created } = await readOrCreateSecrets(dataDir);
  const input: TidingsConfigInput = {
    host: '127.0.0.1',
    port: 8080,
    logLevel: 'info',
    allowedOrigins: ['*'],
    dataDir,
    auth: { secret: secrets.secret },
    apiKeys: [{ id: 'dev', key: secrets.apiKey, scopes: ['admin'] }],
    // Channel history survives a restart of the dev server (in <dataDir>/tidings.db).
    history: { store: 'sqlite' },
    personal: { history: { size: 50, ttl: '1h' }, recover: true },
    namespaces: {
      chat: { history: { size: 100, ttl: '1h' }, recover: true, presence: true, joinLeave: true, typing: true, clientPublish: 'subscribers', messaging: MESSAGING },
      task: { history: { size: 50, ttl: '1h' }, recover: true, presence: true, joinLeave: true, typing: true, clientPublish: 'subscribers' },
      // The demo's task comments (comments:<taskId>) are messages kept in the channel's history
      // (docs/messaging.md): room for comments with their edits and reactions, kept for a week (in
      // <dataDir>/tidings.db). No presence, so a board showing unread counts is not "viewing" tasks.
      comments: { history: { size: 1000, ttl: '7d' }, recover: true, clientPublish: 'subscribers', messaging: MESSAGING },
      dm: { history: { size: 100, ttl: '1h' }, recover: true, clientPublish: 'subscribers' },
      // Server publishes only (clientPublish defaults to 'none').
      feed: { history: { size: 100, ttl: '1h' }, recover: true },
      public: { anonymous: true, history: { size: 20, ttl: '10m' }, recover: true },
      admin: { allowedRoles: ['admin'], clientPublish: ['admin'] },
    },
  };
  return { input, secret: secrets.secret, apiKey: secrets.apiKey, created };
}

/** Reads `<dataDir>/dev-secrets.json` for `tidings token`; undefined when it does not exist. */
export async function readDevSecrets(dataDir: string): Promise<DevSecrets | undefined> {
  const file = join(dataDir, DEV_SECRETS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseSecrets(file, text);
}

async function readOrCreateSecrets(dataDir: string): Promise<{ secrets: DevSecrets; created: boolean }> {
  const existing = await readDevSecrets(dataDir);
  if (existing) return { secrets: existing, created: false };
  const file = join(dataDir, DEV_SECRETS_FILE);
  const secrets: DevSecrets = { secret: randomBytes(32).toString('base64url'), apiKey: randomBytes(32).toString('base64url') };
  try {
    // 'wx': if two dev servers start at once, the second reads the first one's file instead of overwriting it.
    await writeFile(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { secrets: parseSecrets(file, await readFile(file, 'utf8')), created: false };
  }
  return { secrets, created: true };
}

/**
 * A damaged file is an error rather than silently replaced: replacing it would
 * invalidate every token minted with the old secret without saying why.
 */
function parseSecrets(file: string, text: string): DevSecrets {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const v = value as Partial<DevSecrets> | undefined;
  if (typeof v?.secret !== 'string' || v.secret.length === 0 || typeof v.apiKey !== 'string' || v.apiKey.length < 16) {
    throw new Error(`${file} is damaged: expected {"secret": "...", "apiKey": "..."} (apiKey of 16+ characters). Delete it to create new dev secrets.`);
  }
  return { secret: v.secret, apiKey: v.apiKey };
}
