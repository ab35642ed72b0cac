/**
 * What dashboard sign-in keeps between requests, kept in the engine's SharedLimits so that it
 * holds across every node of a deployment (the workers of `tidings serve --workers` share one
 * port, and any of them may get the next request):
 *
 * - **The throttle.** Sign-in attempts per client IP and clock minute are slots of one shared
 *   key (`maxFailures` at most, across all nodes). An attempt takes its slot before its key or
 *   code is read, so concurrent attempts cannot slip past the count; a sign-in gives the slot
 *   back, a failure holds it until the minute ends (then its node releases it).
 * - **One-time codes.** A code is `<body>.<mac>`: the body names a random nonce, the issue time
 *   and the expiry, the MAC (HMAC-SHA256 under a key derived from the root secret, under a label
 *   of its own) makes it good on every node of the same configuration. Single use is two token
 *   buckets of the nonce, each of one token that takes longer than the code's life to come back
 *   (buckets belong to no node, so a node that dies does not make a used code good again):
 *   `issued`, emptied when the code is minted, and `used`, emptied by the first redemption.
 *   A redemption empties `used` first (only one redemption can), then must find `issued` empty:
 *   a full one means the code was not minted in this engine's lifetime (the deployment restarted
 *   and forgot its codes), so the code is refused, and stays refused (`used` is empty now).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { derivedKey, type RootSecret } from './dashboard-sessions.js';

/**
 * The part of the engine's SharedLimits sign-in needs (node.ts hands over the engine's, through
 * NodeLimits): slots that count across nodes and token buckets shared by all nodes.
 */
export interface SignInLimits {
  acquire(key: string, holder: string, max: number): Promise<boolean>;
  release(key: string, holder: string): Promise<void>;
  take(key: string, ratePerSecond: number, burst: number): Promise<boolean>;
}

/**
 * One sign-in attempt's place in its IP's budget: `granted` (call `succeeded` when it
 * signed in, which gives the place back), or refused for `retryAfterSeconds`.
 */
export type SignInAttempt = { granted: true; succeeded(): void } | { granted: false; retryAfterSeconds: number };

export interface DashboardSignInOptions {
  /** Attempts per client IP per minute (in flight or failed) before sign-in is refused. */
  maxFailures: number;
  /** The root secret, asked at each use: a reload that changes it ends every code. */
  rootSecret: RootSecret;
  limits: SignInLimits;
  now?: () => number;
}

const WINDOW_MS = 60_000;
const CODE_LABEL = 'tidings dashboard sign-in code v1';
/** Default life of a one-time code. */
export const CODE_TTL_MS = 15 * 60_000;
/** Clock difference between processes (or machines) tolerated on a code's issue time, and added to a bucket's refill. */
const SKEW_MS = 60_000;
/** nonce (16) | issued at (8) | expires (8). */
const BODY_BYTES = 32;
const MAC_BYTES = 16;
/** A code longer than this is not ours: refused before any work. */
const MAX_CODE_LENGTH = 128;

export class DashboardSignIn {
  /** Names this node's throttle slots apart from other nodes' (holders are unique across the deployment). */
  private readonly holderPrefix = randomBytes(9).toString('base64url');
  private seq = 0;
  private readonly now: () => number;
  private readonly key: () => Buffer | undefined;

  constructor(private readonly options: DashboardSignInOptions) {
    this.now = options.now ?? Date.now;
    this.key = derivedKey(options.rootSecret, CODE_LABEL);
  }

  /**
   * Reserves a sign-in attempt for `ip` before its key or code is read: at most `maxFailures`
   * attempts, in flight or failed, per clock minute, on all nodes together. A refused one tells
   * the seconds left in the minute. Throws `unavailable` (temporary) when the shared limits
   * cannot answer.
   */
  async attempt(ip: string): Promise<SignInAttempt> {
    const now = this.now();
    const window = Math.floor(now / WINDOW_MS);
    const left = (window + 1) * WINDOW_MS - now;
    const key = `dashboard-sign-in\u0000${window}\u0000${ip}`;
    const holder = `${this.holderPrefix}.${++this.seq}`;
    let granted: boolean;
    try {
      granted = await this.options.limits.acquire(key, holder, this.options.maxFailures);
    } catch {
      throw new TidingsError(ErrorCode.Unavailable, 'sign-in limits are not answering; try again', { temporary: true });
    }
    if (!granted) return { granted: false, retryAfterSeconds: Math.max(1, Math.ceil(left / 1000)) };
    // A failure holds the slot to the end of its minute; the key is never used again after that.
    const release = () => void this.options.limits.release(key, holder).catch(() => {});
    const timer = setTimeout(release, left);
    timer.unref();
    return {
      granted: true,
      succeeded: () => {
        clearTimeout(timer);
        release();
      },
    };
  }

  /** A one-time sign-in code, good on every node with the same root secret for `ttlMs`, once. */
  async issueCode(ttlMs = CODE_TTL_MS): Promise<string> {
    const key = this.key();
    if (!key) throw new TidingsError(ErrorCode.Internal, 'no secret to sign dashboard sign-in codes with');
    const issuedAt = this.now();
    const body = Buffer.alloc(BODY_BYTES);
    randomBytes(16).copy(body, 0);
    body.writeBigUInt64BE(BigInt(issuedAt), 16);
    body.writeBigUInt64BE(BigInt(issuedAt + ttlMs), 24);
    const code = `${body.toString('base64url')}.${mac(key, body).toString('base64url')}`;
    const { nonce, rate } = parts(body);
    try {
      await this.options.limits.take(`dashboard-code-issued\u0000${nonce}`, rate, 1);
    } catch {
      throw new TidingsError(ErrorCode.Unavailable, 'sign-in limits are not answering; try again', { temporary: true });
    }
    return code;
  }

  /**
   * True once per code issued by any node of this deployment (since its engine started), while
   * unexpired; false for anything else, a used code included. A shared limits that cannot answer
   * counts as false.
   */
  async redeemCode(code: string): Promise<boolean> {
    const key = this.key();
    if (!key || code.length > MAX_CODE_LENGTH) return false;
    const [bodyText, macText, extra] = code.split('.');
    if (bodyText === undefined || macText === undefined || extra !== undefined) return false;
    const body = Buffer.from(bodyText, 'base64url');
    const got = Buffer.from(macText, 'base64url');
    if (body.length !== BODY_BYTES || got.length !== MAC_BYTES || !timingSafeEqual(got, mac(key, body))) return false;
    const now = this.now();
    const { nonce, rate, issuedAt, expiresAt } = parts(body);
    if (expiresAt <= now || issuedAt > now + SKEW_MS) return false;
    try {
      if (!(await this.options.limits.take(`dashboard-code-used\u0000${nonce}`, rate, 1))) return false;
      // A full `issued` bucket: not minted since this engine started. Taking its token changes nothing that matters: `used` is empty.
      return !(await this.options.limits.take(`dashboard-code-issued\u0000${nonce}`, rate, 1));
    } catch {
      return false;
    }
  }
}

const mac = (key: Buffer, body: Buffer) => createHmac('sha256', key).update(body).digest().subarray(0, MAC_BYTES);

/** The fields of a code's body, and the refill rate of its buckets: one token per (life + skew), slower than the code lives. */
function parts(body: Buffer): { nonce: string; issuedAt: number; expiresAt: number; rate: number } {
  const issuedAt = Number(body.readBigUInt64BE(16));
  const expiresAt = Number(body.readBigUInt64BE(24));
  const lifeSeconds = (Math.max(0, expiresAt - issuedAt) + SKEW_MS) / 1000;
  return { nonce: body.subarray(0, 16).toString('base64url'), issuedAt, expiresAt, rate: 1 / lifeSeconds };
}
