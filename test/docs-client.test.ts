/**
 * Acceptance test written only from docs/protocol.md (plus README, docs/server-api.md and
 * docs/configuration.md for how to run `tidings dev`, mint tokens and publish).
 *
 * It starts the real `tidings dev` CLI as a child process, mints a token with the real
 * `tidings token` CLI, publishes with the real `curl` binary, and talks to the server with a
 * small protocol client implemented below from the document alone. No server source is used.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const CLI = join(REPO, 'packages/server/bin/tidings.js');

// The dev server pings every 25 s by default. configuration.md documents
// `TIDINGS_CLIENT__PING_INTERVAL` / `TIDINGS_CLIENT__PONG_TIMEOUT`, so the child gets short values
// to make pings observable within a test (pongTimeout must be shorter than pingInterval).
const PING_S = 2;
const PONG_S = 1;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The child's environment without any inherited TIDINGS_* variable (configuration.md: every
 *  TIDINGS_* variable is read as a setting), plus the given ones. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('TIDINGS_') && k !== 'PORT') env[k] = v;
  }
  return { ...env, ...extra };
}

function run(file: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { cwd: REPO, env: childEnv(), timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolvePromise({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

interface HttpResult {
  status: number;
  body: any;
}

/** One HTTP call with the real curl binary. Only 127.0.0.1, never through a proxy. */
async function curl(method: 'GET' | 'POST', url: string, opts: { key?: string; json?: unknown } = {}): Promise<HttpResult> {
  expect(new URL(url).hostname).toBe('127.0.0.1');
  const args = ['-sS', '--noproxy', '*', '--max-time', '5', '-X', method, url, '-w', '\n%{http_code}'];
  if (opts.key) args.push('-H', `Authorization: Bearer ${opts.key}`);
  if (opts.json !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(opts.json));
  const { stdout } = await run('curl', args, 10_000);
  const cut = stdout.lastIndexOf('\n');
  const status = Number(stdout.slice(cut + 1));
  const text = stdout.slice(0, cut);
  return { status, body: text ? JSON.parse(text) : undefined };
}

// ---------------------------------------------------------------------------------------------
// The protocol client, from docs/protocol.md
// ---------------------------------------------------------------------------------------------

interface Position {
  epoch: string;
  offset: number;
}

interface Publication {
  channel: string;
  offset?: number;
  data: unknown;
  info?: unknown;
  recovered: boolean; // came from a recovery reply rather than live
}

class CommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly temporary: boolean,
  ) {
    super(`${code}: ${message}`);
  }
}

class HandshakeRejected extends Error {
  constructor(
    readonly status: number,
    readonly errorHeader: string | undefined,
    readonly body: any,
  ) {
    super(`handshake rejected with HTTP ${status} (${errorHeader ?? 'no X-Tidings-Error'})`);
  }
}

interface Pending {
  resolve: (r: any) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const SUBPROTOCOL = 'tidings.v1';

class DocClient {
  /** Set to false to simulate a client that ignores pings (§6). */
  autoPong = true;
  /** Every push received, in order (§5). */
  readonly pushes: any[] = [];
  /** Publications handed to the "application", live and recovered, in order. */
  readonly delivered: Publication[] = [];
  /** Last known (epoch, offset) per channel (§9 "What a client should do", step 1). */
  readonly positions = new Map<string, Position>();
  /** Continuity violations seen on live publications (§9 step 2). */
  readonly gaps: { channel: string; expected: number; got: number | undefined }[] = [];
  pingsAnswered = 0;
  messages = 0;
  frames = 0;
  maxFramesPerMessage = 0;
  disconnectPush: any;
  closeEvent?: { code: number; reason: string };
  readonly closed: Promise<{ code: number; reason: string }>;

  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private waiters: { pred: (p: any) => boolean; resolve: (p: any) => void }[] = [];

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolveClosed) => {
      ws.on('close', (code, reason) => {
        this.closeEvent = { code, reason: reason.toString('utf8') };
        // Checklist: "Fail pending commands when the connection closes."
        for (const [id, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`connection closed (${code}) before the reply to command ${id}`));
        }
        this.pending.clear();
        resolveClosed(this.closeEvent);
      });
    });
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
  }

  /**
   * §2: open a WebSocket to /connection/websocket offering `tidings.v1`, optionally with the
   * token as a second subprotocol entry `tidings.bearer.<jwt>`. Resolves when the upgrade is
   * accepted; rejects with HandshakeRejected when the server answers with plain HTTP.
   */
  static open(url: string, opts: { bearer?: string; timeoutMs?: number } = {}): Promise<DocClient> {
    const protocols = [SUBPROTOCOL];
    if (opts.bearer) protocols.push(`tidings.bearer.${opts.bearer}`);
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, handshakeTimeout: opts.timeoutMs ?? 5000 });
    return new Promise((resolveOpen, reject) => {
      ws.once('unexpected-response', (req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: any = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* keep text */
          }
          const header = res.headers['x-tidings-error'];
          reject(new HandshakeRejected(res.statusCode ?? 0, Array.isArray(header) ? header[0] : header, body));
          req.destroy();
        });
      });
      ws.once('error', reject);
      ws.once('open', () => {
        ws.off('error', reject);
        ws.on('error', () => {
          /* the close event follows; nothing else to do */
        });
        resolveOpen(new DocClient(ws));
      });
    });
  }

  /** §1: one WebSocket text message holding one or more frames separated by "\n". */
  sendFrames(frames: object[]): void {
    if (frames.length === 0) throw new Error('never send an empty message');
    if (this.ws.readyState !== WebSocket.OPEN) throw new Error('the connection is not open');
    this.ws.send(frames.map((f) => JSON.stringify(f)).join('\n'));
  }

  /** Sends several commands in one message (pipelining, §3 "Execution order"). */
  pipeline(cmds: { type: string; [k: string]: unknown }[], timeoutMs = 5000): Promise<any>[] {
    if (this.ws.readyState !== WebSocket.OPEN) {
      return cmds.map(() => Promise.reject(new Error('the connection is not open')));
    }
    const frames: object[] = [];
    const replies = cmds.map((cmd) => {
      const id = this.allocId();
      frames.push({ id, ...cmd });
      return new Promise<any>((resolveReply, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new Error(`no reply to command ${id} (${cmd.type}) within ${timeoutMs} ms`));
        }, timeoutMs);
        this.pending.set(id, { resolve: resolveReply, reject, timer });
      });
    });
    // Avoid unhandled-rejection noise for replies the caller awaits later.
    for (const r of replies) r.catch(() => undefined);
    this.sendFrames(frames);
    return replies;
  }

  command(type: string, fields: Record<string, unknown> = {}, timeoutMs = 5000): Promise<any> {
    return this.pipeline([{ type, ...fields }], timeoutMs)[0]!;
  }

  /** §4 connect; records the positions of server-side subscriptions (§9 step 1). */
  async connect(fields: { token?: string; subs?: Record<string, Position> } = {}): Promise<any> {
    const result = await this.command('connect', { name: 'docs-client', version: '0.0.1', ...fields });
    this.applyConnectResult(result, fields.subs);
    return result;
  }

  applyConnectResult(result: any, sentSubs?: Record<string, Position>): void {
    for (const [channel, sub] of Object.entries<any>(result.subs ?? {})) {
      this.applySubscribeResult(channel, sub, sentSubs?.[channel]);
    }
  }

  /** §4 subscribe, with optional recovery; applies recovered publications in order (§9 step 4). */
  async subscribe(channel: string, recover?: Position): Promise<any> {
    const result = await this.command('subscribe', recover ? { channel, recover } : { channel });
    this.applySubscribeResult(channel, result, recover);
    return result;
  }

  applySubscribeResult(channel: string, result: any, recover?: Position): void {
    if (recover && result.recovered === true) {
      let expected = recover.offset + 1;
      for (const pub of result.publications as any[]) {
        if (pub.offset !== expected) this.gaps.push({ channel, expected, got: pub.offset });
        expected = pub.offset + 1;
        this.delivered.push({ channel, offset: pub.offset, data: pub.data, info: pub.info, recovered: true });
      }
    }
    if (typeof result.epoch === 'string' && typeof result.offset === 'number') {
      this.positions.set(channel, { epoch: result.epoch, offset: result.offset });
    }
  }

  /** Resolves with the first push (already received or future) matching pred. */
  waitForPush(pred: (p: any) => boolean, timeoutMs = 5000, what = 'push'): Promise<any> {
    const found = this.pushes.find(pred);
    if (found) return Promise.resolve(found);
    const p = new Promise<any>((resolveWait) => this.waiters.push({ pred, resolve: resolveWait }));
    return withTimeout(p, timeoutMs, what);
  }

  close(code = 1000): Promise<{ code: number; reason: string }> {
    this.ws.close(code, 'normal');
    return withTimeout(this.closed, 5000, 'close handshake');
  }

  /** Drops the socket abruptly, without a close frame. */
  terminate(): Promise<{ code: number; reason: string }> {
    this.ws.terminate();
    return withTimeout(this.closed, 5000, 'terminate');
  }

  private allocId(): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1; // §3: 1..2^32-1
    return id;
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) throw new Error('binary messages are not part of v1');
    this.messages++;
    // §1: split every message at "\n" and decode each non-empty line as one frame.
    const lines = data.toString('utf8').split('\n').filter((l) => l.length > 0);
    this.frames += lines.length;
    this.maxFramesPerMessage = Math.max(this.maxFramesPerMessage, lines.length);
    for (const line of lines) this.onFrame(JSON.parse(line));
  }

  private onFrame(frame: any): void {
    // §3: tell replies (numeric id) from pushes (type, no id).
    if (typeof frame.id === 'number') {
      const p = this.pending.get(frame.id);
      if (!p) return; // a reply for a command that already timed out
      this.pending.delete(frame.id);
      clearTimeout(p.timer);
      if (frame.error) p.reject(new CommandError(frame.error.code, frame.error.message, frame.error.temporary === true));
      else p.resolve(frame.result);
      return;
    }
    this.pushes.push(frame);
    switch (frame.type) {
      case 'ping':
        // §6: answer every ping with {"type":"pong"} at once.
        if (this.autoPong) {
          this.sendFrames([{ type: 'pong' }]);
          this.pingsAnswered++;
        }
        break;
      case 'publication':
        this.onPublication(frame);
        break;
      case 'disconnect':
        this.disconnectPush = frame;
        break;
      default:
        // join, leave, subscribe, unsubscribe and unknown push types: nothing to do here.
        break;
    }
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(frame)) return true;
      w.resolve(frame);
      return false;
    });
  }

  private onPublication(frame: any): void {
    const pos = this.positions.get(frame.channel);
    if (pos && typeof frame.offset === 'number') {
      // §9 step 2: anything but last + 1 means "resubscribe with recover". This test client only
      // records it; the assertions require that it never happens.
      if (frame.offset !== pos.offset + 1) this.gaps.push({ channel: frame.channel, expected: pos.offset + 1, got: frame.offset });
      pos.offset = frame.offset;
    }
    this.delivered.push({ channel: frame.channel, offset: frame.offset, data: frame.data, info: frame.info, recovered: false });
  }
}

// ---------------------------------------------------------------------------------------------
// The dev server child process
// ---------------------------------------------------------------------------------------------

let dataDir = '';
let server: ChildProcess | undefined;
let serverExited: Promise<void> = Promise.resolve();
let serverStderr = '';
let wsUrl = '';
let httpBase = '';
let apiKey = '';

async function startDevServer(): Promise<void> {
  dataDir = await mkdtemp(join(tmpdir(), 'tidings-docs-client-'));
  const child = spawn(process.execPath, [CLI, 'dev', '--port', '0', '--data-dir', dataDir], {
    cwd: REPO,
    env: childEnv({ TIDINGS_CLIENT__PING_INTERVAL: `${PING_S}s`, TIDINGS_CLIENT__PONG_TIMEOUT: `${PONG_S}s` }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = child;
  serverExited = new Promise((r) => child.once('exit', () => r()));
  // Keep draining stderr (the logs) so the child never blocks on a full pipe; keep the tail.
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    serverStderr = (serverStderr + s).slice(-20_000);
  });
  let stdout = '';
  child.stdout!.setEncoding('utf8');
  const banner = new Promise<void>((resolveBanner, reject) => {
    child.stdout!.on('data', (s: string) => {
      stdout += s;
      const ws = /^WS_URL=(\S+)$/m.exec(stdout);
      const key = /^API_KEY=(\S+)$/m.exec(stdout);
      if (ws && key) {
        wsUrl = ws[1]!;
        apiKey = key[1]!;
        resolveBanner();
      }
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`tidings dev exited early (${code ?? signal})\nstdout:\n${stdout}\nstderr:\n${serverStderr}`)),
    );
    child.once('error', reject);
  });
  await withTimeout(banner, 20_000, `tidings dev banner (stdout so far: ${JSON.stringify(stdout)})`);
  const u = new URL(wsUrl);
  expect(u.protocol).toBe('ws:');
  expect(u.hostname).toBe('127.0.0.1');
  expect(u.pathname).toBe('/connection/websocket');
  expect(Number(u.port)).toBeGreaterThan(0);
  httpBase = `http://${u.host}`; // server-api.md: the API lives on the same port
}

async function stopDevServer(): Promise<void> {
  const child = server;
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    process.kill(child.pid, 'SIGTERM');
    const exited = await Promise.race([serverExited.then(() => true), sleep(5000).then(() => false)]);
    if (!exited) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await Promise.race([serverExited, sleep(2000)]);
    }
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}

async function mintToken(user: string): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, 'token', user, '--data-dir', dataDir], 10_000);
  const token = stdout.trim();
  expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  return token;
}

async function publish(channel: string, data: unknown): Promise<Position> {
  const res = await curl('POST', `${httpBase}/api/v1/publish`, { key: apiKey, json: { channel, data } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(typeof res.body.data.epoch).toBe('string');
  expect(typeof res.body.data.offset).toBe('number');
  return res.body.data as Position;
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

describe('a client written from docs/protocol.md against `tidings dev`', () => {
  let token = '';

  beforeAll(async () => {
    await startDevServer();
    token = await mintToken('reader');
  }, 40_000);

  afterAll(async () => {
    await stopDevServer();
  }, 15_000);

  it('splits batched messages the way §1 describes', () => {
    // The §1 example: two frames in one message, a trailing newline is harmless.
    const msg =
      '{"id":1,"result":{"epoch":"q57KYOAx","offset":0,"recoverable":true}}\n' +
      '{"type":"join","channel":"chat:lobby","info":{"user":"alice","client":"b7ae"}}\n';
    const frames = msg.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
    expect(frames).toHaveLength(2);
    expect(frames[0].id).toBe(1);
    expect(frames[1].type).toBe('join');
  });

  it('rejects a bad handshake token with HTTP 401 and X-Tidings-Error (§2)', async () => {
    const err = await DocClient.open(wsUrl, { bearer: 'not.a.jwt' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HandshakeRejected);
    const rej = err as HandshakeRejected;
    expect(rej.status).toBe(401);
    expect(rej.errorHeader).toBe('unauthorized');
    expect(rej.body.error.code).toBe('unauthorized');
  });

  it('delivers live publications, then recovers 50 missed ones after an abrupt drop', async () => {
    const channel = `feed:docs-${Date.now().toString(36)}`;
    const personal = 'user:#reader';

    // --- First connection: token in the handshake (§2 way A), connect without token.
    const c1 = await DocClient.open(wsUrl, { bearer: token });
    expect(c1.ws.protocol).toBe(SUBPROTOCOL); // the server selects tidings.v1, never the bearer entry
    const hello = await c1.connect();
    expect(hello.protocol).toBe(1);
    expect(hello.user).toBe('reader');
    expect(typeof hello.client).toBe('string');
    expect(typeof hello.version).toBe('string');
    expect(hello.ping).toBe(PING_S);
    expect(hello.pong).toBe(PONG_S);
    expect(hello.ttl).toBeGreaterThan(0);
    expect(hello.ttl).toBeLessThanOrEqual(3600); // `tidings token` default --ttl 1h
    expect(hello.expires).toBeGreaterThan(Date.now() / 1000);
    // The personal channel is subscribed server-side (§8), with history and recovery in dev.
    expect(hello.subs[personal]).toMatchObject({ offset: 0, recoverable: true });
    expect(typeof hello.subs[personal].epoch).toBe('string');

    const sub = await c1.subscribe(channel);
    expect(sub).toMatchObject({ offset: 0, recoverable: true });
    expect(typeof sub.epoch).toBe('string');
    expect(sub.recovered).toBeUndefined(); // only present when `recover` was sent
    const epoch: string = sub.epoch;

    // --- A live publication from the backend with curl.
    const first = await publish(channel, { text: 'hello', n: 0 });
    expect(first).toEqual({ epoch, offset: 1 });
    const live = await c1.waitForPush((p) => p.type === 'publication' && p.channel === channel, 5000, 'first publication');
    expect(live.offset).toBe(1);
    expect(live.data).toEqual({ text: 'hello', n: 0 });
    expect(live.info).toBeUndefined(); // a backend published
    expect(live.epoch).toBeUndefined(); // publications do not carry the epoch
    expect(c1.positions.get(channel)).toEqual({ epoch, offset: 1 });
    const last = c1.positions.get(channel)!;
    const lastPersonal = { ...c1.positions.get(personal)! };

    // --- Drop the socket abruptly; no close frame.
    await c1.terminate();

    // --- Publish 50 more while the client is away (sequentially, so data n has offset 1 + n),
    // and two notifications to the personal channel.
    const sent: unknown[] = [];
    for (let n = 1; n <= 50; n++) {
      const data = { text: `missed ${n}`, n, nested: { list: [n, 'x\ny'] } };
      const pos = await publish(channel, data);
      expect(pos).toEqual({ epoch, offset: 1 + n });
      sent.push(data);
    }
    const note1 = await publish(personal, { kind: 'mention', by: 'bob' });
    const note2 = await publish(personal, { kind: 'mention', by: 'carol' });
    expect(note1).toEqual({ epoch: lastPersonal.epoch, offset: lastPersonal.offset + 1 });
    expect(note2.offset).toBe(lastPersonal.offset + 2);

    // --- Reconnect on a new socket with a fresh token, this time in connect.token (§2 way B),
    // pipelining connect (with the personal channel's position in subs) and the recovering
    // subscribe in one message (§9 step 3, §13).
    const token2 = await mintToken('reader');
    const c2 = await DocClient.open(wsUrl);
    expect(c2.ws.protocol).toBe(SUBPROTOCOL);
    const subs = { [personal]: lastPersonal };
    const [connectReply, subscribeReply] = c2.pipeline([
      { type: 'connect', token: token2, subs },
      { type: 'subscribe', channel, recover: last },
    ]);
    const hello2 = await connectReply;
    c2.applyConnectResult(hello2, subs);
    const rec = await subscribeReply;
    c2.applySubscribeResult(channel, rec, last);

    expect(hello2.user).toBe('reader');
    expect(hello2.client).not.toBe(hello.client);
    expect(hello2.subs[personal]).toMatchObject({
      epoch: lastPersonal.epoch,
      offset: lastPersonal.offset + 2,
      recoverable: true,
      recovered: true,
    });
    expect(hello2.subs[personal].publications.map((p: any) => p.data)).toEqual([
      { kind: 'mention', by: 'bob' },
      { kind: 'mention', by: 'carol' },
    ]);

    expect(rec.recovered).toBe(true);
    expect(rec.recoverable).toBe(true);
    expect(rec.epoch).toBe(epoch);
    expect(rec.offset).toBe(51);
    expect(rec.publications).toHaveLength(50);
    expect(rec.publications.map((p: any) => p.offset)).toEqual(Array.from({ length: 50 }, (_, i) => 2 + i));
    expect(rec.publications.map((p: any) => p.data)).toEqual(sent);
    for (const p of rec.publications) expect(p.info).toBeUndefined();

    // The client's own bookkeeping agrees: in order, no gap, position at the top.
    const recoveredHere = c2.delivered.filter((d) => d.channel === channel && d.recovered);
    expect(recoveredHere.map((d) => d.offset)).toEqual(Array.from({ length: 50 }, (_, i) => 2 + i));
    expect(c2.positions.get(channel)).toEqual({ epoch, offset: 51 });

    // --- One more live publication continues right after the reply's offset.
    const next = await publish(channel, { text: 'after recovery' });
    expect(next).toEqual({ epoch, offset: 52 });
    const live2 = await c2.waitForPush((p) => p.type === 'publication' && p.channel === channel, 5000, 'live after recovery');
    expect(live2.offset).toBe(52);
    expect(live2.data).toEqual({ text: 'after recovery' });
    expect(c2.positions.get(channel)).toEqual({ epoch, offset: 52 });
    expect(c1.gaps).toEqual([]);
    expect(c2.gaps).toEqual([]);
    // No stray duplicates: exactly one live publication on this socket for the channel.
    expect(c2.delivered.filter((d) => d.channel === channel && !d.recovered)).toHaveLength(1);

    // --- Close normally (§13 "Close"): unsubscribe, then close with 1000.
    expect(await c2.command('unsubscribe', { channel })).toEqual({});
    const healthBefore = await curl('GET', `${httpBase}/api/v1/health`);
    expect(healthBefore.status).toBe(200);
    const socketsBefore: number = healthBefore.body.data.stats.connectedSockets;
    expect(socketsBefore).toBeGreaterThanOrEqual(1);
    const closed = await c2.close(1000);
    expect(closed.code).toBe(1000);
    expect(c2.disconnectPush).toBeUndefined(); // the client closed; no disconnect push expected
    // The server forgets the connection.
    let socketsAfter = socketsBefore;
    for (let i = 0; i < 50 && socketsAfter !== socketsBefore - 1; i++) {
      await sleep(100);
      socketsAfter = (await curl('GET', `${httpBase}/api/v1/health`)).body.data.stats.connectedSockets;
    }
    expect(socketsAfter).toBe(socketsBefore - 1);
    // A command after close fails locally instead of hanging.
    await expect(c2.command('history', { channel })).rejects.toThrow(/not open/);
  }, 60_000);

  it('answers pings, and a client that does not is closed with 4001 after a disconnect push (§6)', async () => {
    const answering = await DocClient.open(wsUrl, { bearer: token });
    const silent = await DocClient.open(wsUrl, { bearer: token });
    silent.autoPong = false;
    await Promise.all([answering.connect(), silent.connect()]);
    const t0 = Date.now();

    // The answering client sees pings every `ping` seconds and stays connected well past
    // ping + pong.
    await answering.waitForPush((p) => p.type === 'ping', (PING_S + 3) * 1000, 'first ping');
    expect(answering.pingsAnswered).toBeGreaterThanOrEqual(1);

    // The silent client: disconnect push {code 4001, reason "stale", reconnect true}, then close 4001.
    const closed = await withTimeout(silent.closed, (PING_S + PONG_S + 4) * 1000, 'stale close');
    expect(silent.pushes.some((p) => p.type === 'ping')).toBe(true);
    expect(silent.disconnectPush).toMatchObject({ type: 'disconnect', code: 4001, reason: 'stale', reconnect: true });
    expect(closed.code).toBe(4001);
    expect(closed.reason).toBe('stale');

    // Keep the answering client around for at least two full ping periods plus the pong wait.
    const wait = 2 * PING_S * 1000 + PONG_S * 1000 + 500 - (Date.now() - t0);
    if (wait > 0) await sleep(wait);
    expect(answering.closeEvent).toBeUndefined();
    expect(answering.pingsAnswered).toBeGreaterThanOrEqual(2);
    // The connection still works after answering pings.
    const stats = await answering.command('presence_stats', { channel: 'chat:lobby' }).catch((e: CommandError) => e);
    expect(stats).toBeInstanceOf(CommandError); // not subscribed: permission_denied (§4 presence)
    expect((stats as CommandError).code).toBe('permission_denied');
    expect((await answering.close(1000)).code).toBe(1000);
  }, 30_000);

  it('treats a malformed line as fatal: disconnect push, then close 4501 (§3 Malformed input)', async () => {
    const c = await DocClient.open(wsUrl, { bearer: token });
    await c.connect();
    c.ws.send('this is not json');
    const closed = await withTimeout(c.closed, 5000, 'close after malformed line');
    expect(c.disconnectPush).toMatchObject({ type: 'disconnect', code: 4501, reconnect: false });
    expect(closed.code).toBe(4501);
    expect(closed.reason).toBe('bad request');
  });

  it('answers a command before connect with not_connected, then closes 4501 (§3)', async () => {
    const c = await DocClient.open(wsUrl, { bearer: token });
    const err = await c.command('subscribe', { channel: 'feed:x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).code).toBe('not_connected');
    const closed = await withTimeout(c.closed, 5000, 'close after not_connected');
    expect(c.disconnectPush).toMatchObject({ type: 'disconnect', code: 4501 });
    expect(closed.code).toBe(4501);
  });
});
