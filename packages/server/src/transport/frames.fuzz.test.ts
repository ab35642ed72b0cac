/**
 * Fuzzing a live server with generated frame sequences (fast-check, fixed seed;
 * test-support/fuzz.ts scales and counts the runs for `npm run soak:fuzz`). A real
 * `tidings serve` child process on 127.0.0.1 gets, per run, a new raw connection
 * (test-support/raw-ws.ts) and a random sequence of valid and broken commands, random
 * frames (any opcode, reserved bits, fragments, lengths), pings, pongs, invalid UTF-8,
 * binary data and close frames. After each run the connection either still answers a ping
 * with its exact payload or was closed with a documented code; after all runs the process is
 * alive, serves a fresh client, and its memory is bounded.
 *
 * Runs the built CLI (packages/server/dist/cli.js): `npm test` builds first (root `pretest`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mintToken } from '../auth/token-mint.js';
import { OP, RawWs, closePayload, type FrameSpec } from '../test-support/raw-ws.js';
import { fuzzAsync } from '../test-support/fuzz.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const SECRET = 'frames-fuzz-secret-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'tidings-frames-fuzz-'));
let child: ChildProcess;
let wsUrl: string;
let token: string;
let stderr = '';

/** Resident memory of the server process, in MiB (Linux /proc). */
function rssMiB(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

beforeAll(async () => {
  const file = join(dir, 'tidings.yaml');
  writeFileSync(
    file,
    [
      'host: 127.0.0.1',
      'logLevel: info',
      `auth: { secret: ${SECRET} }`,
      'limits: { connectionRatePerIp: 0, connectionsPerIp: 0 }',
      'store: { path: ":memory:" }',
      'namespaces:',
      '  chat: { history: { size: 50, ttl: 1m }, recover: true, clientPublish: subscribers, presence: true }',
      '  news: {}',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TIDINGS_') && k !== 'PORT') env[k] = v;
  child = spawn(process.execPath, [CLI, 'serve', '--config', file, '--port', '0'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${out} ${stderr}`)), 15_000);
    child.stdout!.on('data', (c: Buffer) => {
      // Keep only what the port search needs; the rest of the log is read and dropped.
      if (out.length < 100_000) out += c.toString();
      const m = /"port":(\d+).*"msg":"tidings listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`tidings serve exited ${code}: ${stderr}`)));
  });
  wsUrl = `ws://127.0.0.1:${port}/connection/websocket`;
  token = await mintToken(SECRET, { sub: 'fuzzer', ttlSeconds: 3600 });
}, 30_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ generators

const channel = fc.oneof(fc.constantFrom('chat:a', 'chat:b', 'news:x', 'user:#fuzzer', 'nope:x', 'chat:', ':x', 'chat:a#fuzzer,bob'), fc.string({ maxLength: 12 }));
const json = fc.jsonValue({ maxDepth: 3 });
const command = fc.oneof(
  fc.record({ type: fc.constant('subscribe'), channel }),
  fc.record({ type: fc.constant('unsubscribe'), channel }),
  fc.record({ type: fc.constant('publish'), channel, data: json }),
  fc.record({ type: fc.constant('history'), channel, limit: fc.oneof(fc.integer({ min: -1, max: 200 }), json) }),
  fc.record({ type: fc.constant('presence'), channel }),
  fc.record({ type: fc.constant('typing'), channel, typing: fc.oneof(fc.boolean(), json) }),
  fc.record({ type: fc.constantFrom('connect', 'refresh', 'status', 'rpc', 'follow', 'notifications', 'nop', 'ping'), x: json }),
);

type Step =
  | { k: 'command'; cmd: Record<string, unknown>; cuts: number[]; pingInside: boolean }
  | { k: 'text'; text: string }
  | { k: 'bytes'; opcode: number; payload: Uint8Array; fin: boolean; rsv: number }
  | { k: 'ping'; payload: Uint8Array }
  | { k: 'pong'; payload: Uint8Array }
  | { k: 'close'; code: number; reason: string }
  | { k: 'badUtf8'; bytes: Uint8Array };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('command' as const), cmd: command, cuts: fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 4 }), pingInside: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('text' as const), text: fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), json.map((v) => JSON.stringify(v))) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('bytes' as const), opcode: fc.integer({ min: 0, max: 15 }), payload: fc.uint8Array({ maxLength: 200 }), fin: fc.boolean(), rsv: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('ping' as const), payload: fc.uint8Array({ maxLength: 130 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pong' as const), payload: fc.uint8Array({ maxLength: 130 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('close' as const), code: fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constantFrom(1000, 1001, 3000, 4999)), reason: fc.string({ maxLength: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('badUtf8' as const), bytes: fc.constantFrom(Uint8Array.of(0xc0, 0xaf), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xff), Uint8Array.of(0xf4, 0x90, 0x80, 0x80)) }) },
);

/** Valid close codes (RFC 6455 §7.4, as `ws` checks them): the server echoes them. */
function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/**
 * Codes a server may close with after bad input (docs/errors.md): protocol error, bad data,
 * policy, too big, bad request, rate limit, and a refused `connect` (invalid token, forbidden).
 * Not 1011 or 4006 (internal errors), nor 1006 (no close frame).
 */
const BAD_INPUT_CLOSES = new Set([1002, 1007, 1008, 1009, 4501, 4008, 4500, 4502]);

function frames(s: Step, nextId: () => number): { specs: FrameSpec[]; sentClose?: number } {
  switch (s.k) {
    case 'command': {
      const bytes = Buffer.from(JSON.stringify({ id: nextId(), ...s.cmd }));
      const cuts = [...new Set(s.cuts.filter((c) => c < bytes.length))].sort((a, b) => a - b);
      const points = [0, ...cuts, bytes.length];
      const specs: FrameSpec[] = points.slice(1).map((end, i) => ({ opcode: i === 0 ? OP.text : OP.cont, fin: i === points.length - 2, payload: bytes.subarray(points[i]!, end) }));
      if (s.pingInside && specs.length > 1) specs.splice(1, 0, { opcode: OP.ping, payload: 'inside' });
      return { specs };
    }
    case 'text':
      return { specs: [{ opcode: OP.text, payload: s.text }] };
    case 'bytes': {
      // A well-formed close among the random frames is a close like any other: its code may be echoed.
      const isClose = s.opcode === OP.close && s.fin && s.rsv === 0;
      const sentClose = isClose ? (s.payload.length >= 2 ? Buffer.from(s.payload).readUInt16BE(0) : 1005) : undefined;
      return { specs: [{ opcode: s.opcode, payload: Buffer.from(s.payload), fin: s.fin, rsv: s.rsv }], ...(sentClose !== undefined ? { sentClose } : {}) };
    }
    case 'ping':
      return { specs: [{ opcode: OP.ping, payload: Buffer.from(s.payload) }] };
    case 'pong':
      return { specs: [{ opcode: OP.pong, payload: Buffer.from(s.payload) }] };
    case 'close':
      return { specs: [{ opcode: OP.close, payload: closePayload(s.code, s.reason) }], sentClose: s.code };
    default:
      return { specs: [{ opcode: OP.text, payload: Buffer.concat([Buffer.from('{"id":1,"x":"'), Buffer.from(s.bytes), Buffer.from('"}')]) }] };
  }
}

/** After the sequence: alive (a probe ping comes back exactly) or closed with a documented code. */
async function settle(c: RawWs, sentCloses: number[], probe: string): Promise<void> {
  c.send({ opcode: OP.ping, payload: probe });
  const closed = c.closed.then((info) => ({ closed: info }));
  const ponged = (async () => {
    for (;;) {
      const f = await c.nextControl(5000);
      if (f.opcode === OP.pong && f.payload.toString() === probe) return { ponged: true };
    }
  })().catch(() => ({ ponged: false }));
  const outcome = await Promise.race([closed, ponged]);
  if ('ponged' in outcome && outcome.ponged) return;
  const info = await c.closedWithin(5000);
  // A close we sent is echoed: its code when valid, none (1005 here) when it had none.
  const allowed = BAD_INPUT_CLOSES.has(info.code) || sentCloses.some((code) => (validCloseCode(code) || code === 1005) && code === info.code);
  expect(allowed, `closed with ${info.code} "${info.reason}" (sent closes: ${sentCloses.join(', ') || 'none'})`).toBe(true);
}

describe('generated frame sequences against a live tidings serve', () => {
  it('every run ends alive or with a documented close; the process survives, serves a fresh client, and its memory stays bounded', async () => {
    const baseline = rssMiB();
    let runNo = 0;
    await fuzzAsync(
      'live: frame sequences',
      fc.asyncProperty(fc.boolean(), fc.array(step, { minLength: 1, maxLength: 8 }), async (connectFirst, steps) => {
        const c = await RawWs.open(wsUrl);
        try {
          if (connectFirst) await c.connect(token);
          let id = 1000;
          const sentCloses: number[] = [];
          for (const s of steps) {
            const { specs, sentClose } = frames(s, () => id++);
            if (sentClose !== undefined) sentCloses.push(sentClose);
            c.send(...specs);
          }
          await settle(c, sentCloses, `probe-${++runNo}`);
          return true;
        } finally {
          c.destroy();
        }
      }),
      0xf4a3e5,
      400,
      0.1,
    );
    expect(child.exitCode, stderr).toBeNull();
    // A fresh client is served as if nothing happened.
    const fresh = await RawWs.open(wsUrl);
    const reply = await fresh.connect(token);
    expect(reply.result.user).toBe('fuzzer');
    const sub = fresh.command({ type: 'subscribe', channel: 'chat:after' });
    expect((await fresh.reply(sub)).result).toBeDefined();
    fresh.destroy();
    // Bounded memory: what the runs left behind is far below what a leak per run would add up to.
    const after = rssMiB();
    expect(after, `RSS ${baseline.toFixed(0)} -> ${after.toFixed(0)} MiB`).toBeLessThan(Math.max(baseline, 100) + 150);
    expect(stderr).not.toMatch(/uncaught|unhandled|FATAL/i);
  }, 120_000);
});
