/**
 * Accept cost and idle memory per connection (issue 18, engineer H11's measuring script).
 *
 *   npx tsc -b packages/protocol packages/server
 *   node bench/accept-idle.js [--servers tidings,ws-jwt] [--accepts 5000] [--concurrency 100]
 *                             [--rounds 3] [--idle 10000[,19000]] [--idle-first] [--profile] [--snapshot <dir>]
 *                             [--servers tidings-old,tidings,ws-jwt --old-root <a checkout built before a change>]
 *
 * Servers (one child process each, started with --expose-gc, measured one at a time):
 * - `tidings`: `createTidings` from packages/server/dist as `tidings serve` runs it (memory engine,
 *   SQLite store and audit on in a temp dir, personal channels on), connection caps off;
 * - `ws-jwt`: a bare `ws` server that verifies the same HS256 JWT with jose (key imported once),
 *   answers `connect` and puts the connection in its personal channel's Set.
 *
 * Accepts: a client process opens `--accepts` connections, `--concurrency` at a time; each
 * connection sends `connect` with its own token (minted before the clock starts) and counts
 * once its reply arrives (Tidings subscribes the personal channel `user:#<id>` before it
 * replies). Server CPU per accept = the server process's CPU time (process.cpuUsage: user +
 * system, GC and libuv included) over the accept phase / accepts. The connections are then
 * closed, and the next round starts (median of `--rounds`). `--profile`: a V8 CPU profile of
 * the server over one more accept phase, summarized (bench/lib/profile-summary.js) and kept in
 * bench/out/prof/.
 *
 * Idle memory: `--idle` connections (connected, personal channel subscribed), held by client
 * processes of up to 5,000 each; the server runs gc() twice before each reading; per connection
 * = (reading with the connections - reading before) / connections, for RSS and heap used.
 *
 * Prints one Markdown block. Noise: CPU time per accept moves little with other load on the
 * machine (it is this process's time, not wall-clock), idle memory not at all.
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..');
const SECRET = 'bench-secret-bench-secret-bench-secret';
const WS_PATH = '/connection/websocket';


// ------------------------------------------------------------------ server child

async function serverMain(kind) {
  const server = kind.startsWith('tidings') ? await startTidings(process.argv[4] || ROOT) : await startWsJwt();
  let profiler;
  process.on('message', async (msg) => {
    const reply = (body) => process.send({ rid: msg.rid, ...body });
    if (msg.type === 'cpu') return reply({ cpu: process.cpuUsage() });
    if (msg.type === 'mem') {
      for (let i = 0; i < 3; i++) {
        global.gc();
        await new Promise((r) => setImmediate(r));
      }
      const m = process.memoryUsage();
      return reply({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers });
    }
    if (msg.type === 'snapshot') {
      global.gc();
      const { writeHeapSnapshot } = await import('node:v8');
      return reply({ file: writeHeapSnapshot(msg.file) });
    }
    if (msg.type === 'profile-start') {
      const { Session } = await import('node:inspector/promises');
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
      await profiler.post('Profiler.start');
      return reply({});
    }
    if (msg.type === 'profile-stop') {
      const { profile } = await profiler.post('Profiler.stop');
      profiler.disconnect();
      writeFileSync(msg.file, JSON.stringify(profile));
      return reply({});
    }
    if (msg.type === 'stop') {
      await server.close();
      process.exit(0);
    }
  });
  process.send({ type: 'ready', port: server.port });
}

async function startTidings(root) {
  const { createTidings } = await import(path.join(root, 'packages/server/dist/index.js'));
  const dir = mkdtempSync(path.join(tmpdir(), 'tidings-accept-'));
  const tidings = createTidings({
    logLevel: 'warn',
    dataDir: dir,
    auth: { secret: SECRET },
    namespaces: { bench: {} },
    limits: { connectionsPerIp: 0, connectionsPerNode: 0, connectionRatePerIp: 0 },
  });
  const address = await tidings.listen(0, '127.0.0.1');
  return { port: address.port, close: () => tidings.close() };
}

async function startWsJwt() {
  const { WebSocketServer } = await import('ws');
  const { jwtVerify } = await import('jose');
  const { webcrypto } = await import('node:crypto');
  const key = await webcrypto.subtle.importKey('raw', new TextEncoder().encode(SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const channels = new Map();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: WS_PATH, clientTracking: false, perMessageDeflate: false, maxPayload: 1024 * 1024 });
  await new Promise((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  wss.on('connection', (ws) => {
    let mine;
    ws.on('message', async (data) => {
      let frame;
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return ws.close(3501, 'bad request');
      }
      if (frame.type !== 'connect') return;
      try {
        const { payload } = await jwtVerify(frame.token, key, { algorithms: ['HS256'] });
        const channel = `user:#${payload.sub}`;
        let set = channels.get(channel);
        if (!set) channels.set(channel, (set = new Set()));
        set.add(ws);
        mine = set;
        ws.send(`{"id":${frame.id},"result":{"user":${JSON.stringify(payload.sub)}}}`);
      } catch {
        ws.close(3500, 'invalid token');
      }
    });
    ws.on('close', () => {
      if (!mine) return;
      mine.delete(ws);
      if (mine.size === 0) for (const [ch, set] of channels) if (set === mine) channels.delete(ch);
    });
  });
  return { port: wss.address().port, close: () => new Promise((r) => wss.close(r)) };
}

// ------------------------------------------------------------------ client child

async function clientMain() {
  const { default: WebSocket } = await import('ws');
  const { SignJWT } = await import('jose');
  const secret = new TextEncoder().encode(SECRET);
  let open = [];
  process.on('message', async (msg) => {
    const reply = (body) => process.send({ rid: msg.rid, ...body });
    if (msg.type === 'open') {
      const { url, count, concurrency, prefix } = msg;
      const tokens = [];
      for (let i = 0; i < count; i++) {
        tokens.push(await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(`${prefix}${i}`).setExpirationTime('2h').sign(secret));
      }
      let next = 0;
      let failed = 0;
      const t0 = process.hrtime.bigint();
      const one = (token) =>
        new Promise((resolve) => {
          const ws = new WebSocket(url, { perMessageDeflate: false });
          ws.on('open', () => ws.send(JSON.stringify({ id: 1, type: 'connect', token })));
          ws.on('message', (data) => {
            const text = data.toString();
            if (text.includes('"id":1,')) {
              if (!text.includes('"result"')) failed++;
              resolve();
            }
            // Answer pings like the SDK does.
            if (text.includes('"type":"ping"')) ws.send('{"type":"pong"}');
          });
          ws.on('error', () => {
            failed++;
            resolve();
          });
          open.push(ws);
        });
      const worker = async () => {
        while (next < count) await one(tokens[next++]);
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      return reply({ ms, failed });
    }
    if (msg.type === 'close') {
      const closing = open.map((ws) => new Promise((r) => (ws.readyState >= 2 ? r() : (ws.once('close', r), ws.terminate()))));
      await Promise.all(closing);
      open = [];
      return reply({});
    }
  });
  process.send({ type: 'ready' });
}

// ------------------------------------------------------------------ orchestrator

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith('--') ? true : v;
}

function child(args, execArgv = []) {
  const proc = fork(SELF, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let rid = 0;
  const waiting = new Map();
  let ready;
  const readyP = new Promise((r) => (ready = r));
  proc.on('message', (msg) => {
    if (msg.type === 'ready') return ready(msg);
    waiting.get(msg.rid)?.(msg);
    waiting.delete(msg.rid);
  });
  const ask = (msg) =>
    new Promise((resolve) => {
      const id = ++rid;
      waiting.set(id, resolve);
      proc.send({ ...msg, rid: id });
    });
  return { proc, ready: readyP, ask, kill: () => proc.kill('SIGKILL') };
}

const cpuMs = (a, b) => (b.user - a.user + b.system - a.system) / 1000;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measureAccepts(server, url, accepts, concurrency, rounds, profileFile) {
  const client = child(['client']);
  await client.ready;
  const perAccept = [];
  const rates = [];
  try {
    // Round 0 warms up (JIT, pools) and is not counted; with --profile one more round is profiled.
    for (let r = -1; r < rounds + (profileFile ? 1 : 0); r++) {
      const profiling = profileFile && r === rounds;
      if (profiling) await server.ask({ type: 'profile-start' });
      // Tokens are minted inside 'open' before its clock starts, but after this CPU reading: mint first.
      const before = await server.ask({ type: 'cpu' });
      const res = await client.ask({ type: 'open', url, count: accepts, concurrency, prefix: `r${r}u` });
      const after = await server.ask({ type: 'cpu' });
      if (profiling) await server.ask({ type: 'profile-stop', file: profileFile });
      if (res.failed) console.error(`round ${r}: ${res.failed} connections failed`);
      if (!profiling && r >= 0) {
        perAccept.push((cpuMs(before.cpu, after.cpu) * 1000) / accepts);
        rates.push(accepts / (res.ms / 1000));
      }
      await client.ask({ type: 'close' });
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    client.kill();
  }
  return { cpuUsPerAccept: median(perAccept), rounds: perAccept, acceptsPerSec: median(rates) };
}

async function measureIdle(server, url, totals, snapshotDir) {
  // `totals`: one reading per count, in one run: the connections of a reading stay open for the next (10,000 then 19,000).
  const base = await server.ask({ type: 'mem' });
  if (snapshotDir) mkdirSync(snapshotDir, { recursive: true });
  if (snapshotDir) await server.ask({ type: 'snapshot', file: path.join(snapshotDir, 'idle-0.heapsnapshot') });
  const clients = [];
  const per = 5000;
  const readings = [];
  let opened = 0;
  let room = 0;
  try {
    for (const total of totals) {
      while (opened < total) {
        if (room === 0) {
          const c = child(['client']);
          await c.ready;
          clients.push(c);
          room = per;
        }
        const count = Math.min(room, total - opened);
        const res = await clients[clients.length - 1].ask({ type: 'open', url, count, concurrency: 100, prefix: `idle${opened}u` });
        if (res.failed) console.error(`idle: ${res.failed} connections failed`);
        opened += count;
        room -= count;
      }
      await new Promise((r) => setTimeout(r, 1000));
      const held = await server.ask({ type: 'mem' });
      if (snapshotDir) {
        await server.ask({ type: 'snapshot', file: path.join(snapshotDir, `idle-${total}.heapsnapshot`) });
        console.log(`heap snapshot with ${total} idle connections in ${snapshotDir}`);
      }
      readings.push({
        idle: total,
        rssKB: (held.rss - base.rss) / total / 1024,
        heapKB: (held.heapUsed - base.heapUsed) / total / 1024,
        externalKB: (held.external - base.external) / total / 1024,
      });
    }
    for (const c of clients) await c.ask({ type: 'close' });
    return readings;
  } finally {
    for (const c of clients) c.kill();
  }
}

async function orchestrate() {
  const servers = String(arg('servers', 'tidings,ws-jwt')).split(',');
  const accepts = Number(arg('accepts', 5000));
  const concurrency = Number(arg('concurrency', 100));
  const rounds = Number(arg('rounds', 3));
  // One count or several (--idle 10000,19000): readings of one run, the connections added up.
  const idleTotals = String(arg('idle', 10000)).split(',').map(Number).filter((n) => n > 0);
  const idle = idleTotals.join(', ') || 0;
  // --idle-first: the idle readings on a fresh server, before the accept rounds (whose freed memory a process keeps, which hides RSS).
  const idleFirst = arg('idle-first', false) === true;
  const profile = arg('profile', false) === true;
  const results = {};
  const profDir = path.join(ROOT, 'bench/out/prof');
  if (profile) mkdirSync(profDir, { recursive: true });
  const { summarizeProfile, formatSummary } = await import('./lib/profile-summary.js');
  for (const kind of servers) {
    // `tidings-old`: the same server built from another checkout (--old-root <dir> holding packages/server/dist).
    const server = child(['server', kind, kind === 'tidings-old' ? path.resolve(String(arg('old-root', ROOT))) : ROOT], ['--expose-gc']);
    try {
      const { port } = await server.ready;
      const url = `ws://127.0.0.1:${port}${WS_PATH}`;
      const file = profile ? path.join(profDir, `accept-${kind}-${Date.now()}.cpuprofile`) : undefined;
      const snapshots = arg('snapshot', undefined);
      const idleRun = () => (idleTotals.length > 0 ? measureIdle(server, url, idleTotals, typeof snapshots === 'string' ? path.resolve(snapshots, kind) : undefined) : []);
      const mem = idleFirst ? await idleRun() : undefined;
      const acc = accepts > 0 ? await measureAccepts(server, url, accepts, concurrency, rounds, file) : undefined;
      results[kind] = { ...acc, idle: mem ?? (await idleRun()) };
      if (file) {
        const { readFileSync } = await import('node:fs');
        console.log(formatSummary(summarizeProfile(JSON.parse(readFileSync(file, 'utf8')), 25), `${kind}: ${file}`));
      }
      await Promise.race([new Promise((r) => server.proc.once('exit', r)), (server.proc.send({ type: 'stop' }), new Promise((r) => setTimeout(r, 5000)))]);
    } finally {
      server.kill();
    }
  }
  const f = (v, d = 1) => (v === undefined ? '-' : v.toFixed(d));
  console.log(`\n${accepts} accepts (${concurrency} concurrent, median of ${rounds}), ${idle} idle connections; Node ${process.version}\n`);
  console.log('| server | CPU µs / accept | accepts/s | idle conns | RSS KB / idle conn | heap KB / idle conn | external KB / conn |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [kind, r] of Object.entries(results)) {
    const rows = r.idle.length > 0 ? r.idle : [{}];
    for (const m of rows) {
      console.log(`| ${kind} | ${f(r.cpuUsPerAccept, 0)} (${(r.rounds ?? []).map((x) => x.toFixed(0)).join(', ')}) | ${f(r.acceptsPerSec, 0)} | ${m.idle ?? '-'} | ${f(m.rssKB, 2)} | ${f(m.heapKB, 2)} | ${f(m.externalKB, 2)} |`);
    }
  }
  const w = results['ws-jwt'];
  for (const name of ['tidings-old', 'tidings']) {
    const t = results[name];
    if (!t || !w) continue;
    const mem = t.idle.map((m, i) => `at ${m.idle}: RSS per conn ${f(m.rssKB / w.idle[i]?.rssKB, 2)}, heap per conn ${f(m.heapKB / w.idle[i]?.heapKB, 2)}`).join('; ');
    console.log(`ratios ${name} / ws-jwt: CPU per accept ${f(t.cpuUsPerAccept / w.cpuUsPerAccept, 2)}, accepts/s ${f(t.acceptsPerSec / w.acceptsPerSec, 2)}; ${mem}`);
  }
}

const role = process.argv[2];
if (role === 'server') await serverMain(process.argv[3]);
else if (role === 'client') await clientMain();
else await orchestrate();
