#!/usr/bin/env node
/**
 * JSON vs MessagePack in one run (issue 17), and history in memory vs `history.store: sqlite`.
 *
 *   npm run bench:encoding             # builds server and protocol, then the run (~3 min)
 *   node bench/encoding.js --help
 *
 * Processes: one Tidings server (bench/servers/encoding-server.js, library API, one publication
 * per event-loop turn when it publishes), one process of subscribers and one of publishers
 * (bench/encoding-sink.js: real WebSocket clients; --probes of each group decode every message,
 * JSON.parse or msgpackr, timing just that, the others count publications by their bytes). Scenarios, each measured per encoding in interleaved rounds (the
 * median is reported):
 *   - fan-out: 1 channel x --subs subscribers, the server publishing;
 *   - client publish: --cp-pubs clients publish (--window commands in flight each) to a channel with
 *     --cp-subs more subscribers; the publishers are subscribed too (clientPublish: subscribers);
 *   - history: two servers, the bench namespace with history (size 100) in memory or in SQLite,
 *     JSON fan-out to 1 channel x --subs and to 50 channels x 10.
 * Payloads: bench/lib/encoding-payload.js (an object of ~100 B and one of ~2 KB of JSON).
 * Figures per delivered publication: delivered/s, bytes on the wire (WebSocket payload + frame
 * header), client decode CPU (µs per frame), server CPU (µs). See bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { flags, positiveNumber } from './lib/args.js';
import { HERE, fmtInt, fmtRatio, fmtUs, killAll, loadBuiltServer, log, median, parseOrExit, runMeta, sleep, spawnChild } from './lib/orchestrate.js';

const HELP = `usage: node bench/encoding.js [flags]

  --subs N        fan-out subscribers per encoding (default 500)
  --cp-subs N     client publish: subscribers per encoding (default 100)
  --cp-pubs N     client publish: publishing clients per encoding (default 10)
  --window N      client publish: publish commands in flight per publisher (default 20)
  --probes N      connections per group that decode every message (default 20)
  --rounds N      measurements per scenario and encoding, interleaved (default 3)
  --seconds S     measurement window (default 2)
  --warmup S      load before each window (default 0.5)
  --no-history    skip the history part
  --no-encoding   skip the JSON vs MessagePack part
  --sizes LIST    JSON vs MessagePack payloads, of 100 and 2048 (default 100,2048)
  --baseline DIR  a server on the build in DIR too (a packages/server/dist of an earlier commit,
                  inside a tree with its node_modules), measured in the same rounds: fan-out in both
                  encodings (encoding part), history in SQLite (history part); before / after
  --out DIR       where the JSON results go (default bench/out)
  --help
`;

function parseArgs(argv) {
  const o = { baseline: undefined, sizes: [100, 2048], subs: 500, cpSubs: 100, cpPubs: 10, window: 20, probes: 20, rounds: 3, seconds: 2, warmup: 0.5, history: true, encoding: true, out: path.join(HERE, 'out') };
  for (const [name, value] of flags(argv, ['help', 'no-history', 'no-encoding'])) {
    if (name === 'help') {
      process.stdout.write(HELP);
      process.exit(0);
    } else if (name === 'no-history') o.history = false;
    else if (name === 'no-encoding') o.encoding = false;
    else if (name === 'out') o.out = path.resolve(value);
    else if (name === 'baseline') o.baseline = path.resolve(value);
    else if (name === 'sizes') {
      o.sizes = value.split(',').map(Number);
      if (o.sizes.length === 0 || o.sizes.some((n) => n !== 100 && n !== 2048)) throw new Error(`--sizes takes 100 and/or 2048, not ${value}`);
    }
    else {
      const key = { subs: 'subs', 'cp-subs': 'cpSubs', 'cp-pubs': 'cpPubs', window: 'window', probes: 'probes', rounds: 'rounds', seconds: 'seconds', warmup: 'warmup' }[name];
      if (!key) throw new Error(`unknown flag --${name}\n${HELP}`);
      o[key] = positiveNumber(name, value);
    }
  }
  return o;
}

const opts = parseOrExit(parseArgs);
const ENCODINGS = ['json', 'msgpack'];
const SIZES = opts.sizes;
const cpuUs = (c) => c.user + c.system;

const { mintToken } = await loadBuiltServer();
const secret = randomBytes(24).toString('hex');
let users = 0;
const token = () => mintToken(secret, { sub: `e${users++}`, ttlSeconds: 24 * 3600 });

async function startServer(name, history, dist) {
  const server = spawnChild('servers/encoding-server.js', name);
  const { port } = await server.request({ type: 'init', secret, ...(history ? { history } : {}), ...(dist ? { dist } : {}) }, 30_000);
  return { child: server, url: `ws://127.0.0.1:${port}/connection/websocket` };
}

async function conns(n, fields) {
  const out = [];
  // The first --probes of a group decode every message (client decode CPU); the others count.
  for (let i = 0; i < n; i++) out.push({ ...(typeof fields === 'function' ? fields(i) : fields), probe: i < opts.probes, token: await token() });
  return out;
}

/** Waits (at most 15 s) until `group` of `sink` has received nothing new for 300 ms. */
async function drain(sink, group) {
  let last = -1;
  for (let i = 0; i < 150; i++) {
    const m = await sink.request({ type: 'mark' }, 10_000);
    const frames = m.groups[group]?.frames ?? 0;
    if (frames === last) return;
    last = frames;
    await sleep(i === 0 ? 100 : 300);
  }
  log(`warning: ${group} still receiving after 15 s`);
}

/**
 * One measurement: `start()` the load, wait --warmup, then a window of --seconds in which the
 * `group` of `sink` counts, `stop()`, and drain. `ackGroup`: publishers in `pubs` whose acks count.
 */
async function measure({ server, sink, group, start, stop, pubs, ackGroup }) {
  await sink.request({ type: 'decode', group }, 60_000); // drops the sample of an earlier measurement
  await start();
  await sleep(opts.warmup * 1000);
  const mark = () => Promise.all([sink.request({ type: 'mark' }, 10_000), server.request({ type: 'cpu' }, 10_000), pubs ? pubs.request({ type: 'mark' }, 10_000) : null]);
  const [a, ca, pa] = await mark();
  await sleep(opts.seconds * 1000);
  const [b, cb, pb] = await mark();
  await stop();
  await drain(sink, group);
  // Nothing else runs now: the decoding of what the probes received (up to 4,000 messages) is timed on its own.
  const decoded = await sink.request({ type: 'decode', group }, 60_000);
  const d = (k) => b.groups[group][k] - a.groups[group][k];
  const secs = (b.now - a.now) / 1000;
  const frames = d('frames');
  const published = ackGroup ? pb.groups[ackGroup].acks - pa.groups[ackGroup].acks : cb.published - ca.published;
  return {
    deliveredPerSec: frames / secs,
    publishedPerSec: published / secs,
    bytesPerDelivery: d('wire') / frames,
    framesPerMessage: frames / d('messages'),
    decodeUsPerFrame: decoded.usPerFrame,
    serverUsPerDelivery: (cpuUs(cb.cpu) - cpuUs(ca.cpu)) / frames,
    serverUsPerPublication: (cpuUs(cb.cpu) - cpuUs(ca.cpu)) / published,
  };
}

function medians(runs) {
  const out = {};
  for (const k of Object.keys(runs[0])) out[k] = median(runs.map((r) => r[k]).sort((x, y) => x - y));
  return out;
}

const results = { meta: runMeta(opts), encoding: {}, history: {} };

/** JSON vs MessagePack: fan-out and client publish, per payload size, interleaved rounds. */
async function encodingPart() {
  const { child: server, url } = await startServer('encoding server');
  const before = opts.baseline ? await startServer('encoding server, baseline build', undefined, opts.baseline) : undefined;
  const subs = spawnChild('encoding-sink.js', 'subscribers');
  const pubs = spawnChild('encoding-sink.js', 'publishers');
  const subConns = [];
  const pubConns = [];
  for (const encoding of ENCODINGS) {
    subConns.push(...(await conns(opts.subs, { group: `fan-${encoding}`, encoding, channel: `bench:fan-${encoding}` })));
    subConns.push(...(await conns(opts.cpSubs, { group: `cp-${encoding}`, encoding, channel: `bench:cp-${encoding}` })));
    pubConns.push(...(await conns(opts.cpPubs, { group: `pub-${encoding}`, encoding, channel: `bench:cp-${encoding}`, pub: true })));
    if (before) subConns.push(...(await conns(opts.subs, { group: `fan-${encoding}-before`, encoding, channel: `bench:fan-${encoding}`, url: before.url })));
  }
  await subs.request({ type: 'init', url, conns: subConns, concurrency: 50 }, 120_000);
  await pubs.request({ type: 'init', url, conns: pubConns, concurrency: 10 }, 60_000);
  log(`encoding: ${subConns.length + pubConns.length} connections ready`);
  const runs = {};
  const add = (key, r) => (runs[key] ??= []).push(r);
  for (const size of SIZES) {
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 === 0 ? ENCODINGS : [...ENCODINGS].reverse();
      for (const encoding of order) {
        const fan = await measure({
          server,
          sink: subs,
          group: `fan-${encoding}`,
          start: () => server.request({ type: 'start', channels: [`bench:fan-${encoding}`], size }, 10_000),
          stop: () => server.request({ type: 'stop' }, 10_000),
        });
        add(`fanout ${size} ${encoding}`, fan);
        if (before) {
          add(`fanout ${size} ${encoding} before`, await measure({
            server: before.child,
            sink: subs,
            group: `fan-${encoding}-before`,
            start: () => before.child.request({ type: 'start', channels: [`bench:fan-${encoding}`], size }, 10_000),
            stop: () => before.child.request({ type: 'stop' }, 10_000),
          }));
        }
        const cp = await measure({
          server,
          sink: subs,
          group: `cp-${encoding}`,
          pubs,
          ackGroup: `pub-${encoding}`,
          start: () => pubs.request({ type: 'publish', group: `pub-${encoding}`, size, window: opts.window }, 10_000),
          stop: () => pubs.request({ type: 'halt', group: `pub-${encoding}` }, 10_000),
        });
        add(`client-publish ${size} ${encoding}`, cp);
        log(`  ${size} B round ${round + 1} ${encoding}: fan-out ${fmtInt(fan.deliveredPerSec)}/s, client publish ${fmtInt(cp.deliveredPerSec)}/s`);
      }
    }
  }
  for (const [key, list] of Object.entries(runs)) results.encoding[key] = { median: medians(list), runs: list };
  await Promise.all([subs.close(), pubs.close(), server.close(), ...(before ? [before.child.close()] : [])]);
}

/** History in memory vs history.store: sqlite, two servers side by side (three with --baseline), JSON fan-out of ≈100 B. */
async function historyPart() {
  const servers = { memory: await startServer('history in memory', 'memory'), sqlite: await startServer('history in SQLite', 'sqlite') };
  if (opts.baseline) servers['sqlite-before'] = await startServer('history in SQLite, baseline build', 'sqlite', opts.baseline);
  const stores = Object.keys(servers);
  const sink = spawnChild('encoding-sink.js', 'history subscribers');
  const hConns = [];
  for (const [store, s] of Object.entries(servers)) {
    hConns.push(...(await conns(opts.subs, { group: `A-${store}`, encoding: 'json', channel: 'bench:ha', url: s.url })));
    hConns.push(...(await conns(500, (i) => ({ group: `B-${store}`, encoding: 'json', channel: `bench:hb${i % 50}`, url: s.url }))));
  }
  await sink.request({ type: 'init', url: servers.memory.url, conns: hConns, concurrency: 50 }, 120_000);
  log(`history: ${hConns.length} connections ready`);
  const workloads = { A: ['bench:ha'], B: Array.from({ length: 50 }, (_, i) => `bench:hb${i}`) };
  const runs = {};
  for (let round = 0; round < opts.rounds; round++) {
    for (const [w, channels] of Object.entries(workloads)) {
      // Every store in turn, starting one further each round.
      const order = stores.map((_, i) => stores[(i + round) % stores.length]);
      for (const store of order) {
        const server = servers[store].child;
        const r = await measure({
          server,
          sink,
          group: `${w}-${store}`,
          start: () => server.request({ type: 'start', channels, size: 100 }, 10_000),
          stop: () => server.request({ type: 'stop' }, 10_000),
        });
        (runs[`${w} ${store}`] ??= []).push(r);
        log(`  history ${w} round ${round + 1} ${store}: ${fmtInt(r.deliveredPerSec)}/s`);
      }
    }
  }
  for (const [key, list] of Object.entries(runs)) results.history[key] = { median: medians(list), runs: list };
  await Promise.all([sink.close(), ...Object.values(servers).map((s) => s.child.close())]);
}

/** The Markdown tables of the run. */
function report() {
  const lines = [];
  const e = results.encoding;
  if (opts.encoding) {
    lines.push(`JSON vs MessagePack (${opts.rounds} rounds, medians)`, '');
    lines.push('| scenario | payload | encoding | delivered/s | bytes on the wire / delivery | client decode µs / frame | server CPU µs / delivery | server CPU µs / publication |');
    lines.push('|---|---|---|---:|---:|---:|---:|---:|');
    for (const scenario of ['fanout', 'client-publish']) {
      const label = scenario === 'fanout' ? `fan-out 1 ch × ${opts.subs}` : `client publish ${opts.cpPubs} → ${opts.cpSubs}+${opts.cpPubs}`;
      for (const size of SIZES) {
        for (const encoding of ENCODINGS) {
          const m = e[`${scenario} ${size} ${encoding}`].median;
          lines.push(`| ${label} | ${size === 100 ? '≈100 B' : '≈2 KB'} | ${encoding === 'json' ? 'JSON' : 'MessagePack'} | ${fmtInt(m.deliveredPerSec)} | ${fmtInt(m.bytesPerDelivery)} | ${fmtUs(m.decodeUsPerFrame)} | ${fmtUs(m.serverUsPerDelivery)} | ${fmtUs(m.serverUsPerPublication)} |`);
        }
        const j = e[`${scenario} ${size} json`].median;
        const p = e[`${scenario} ${size} msgpack`].median;
        const r = (k) => fmtRatio(p[k] / j[k]);
        lines.push(`| | | *MessagePack / JSON* | *${r('deliveredPerSec')}* | *${r('bytesPerDelivery')}* | *${r('decodeUsPerFrame')}* | *${r('serverUsPerDelivery')}* | *${r('serverUsPerPublication')}* |`);
        if (scenario === 'fanout' && opts.baseline) {
          const jb = e[`fanout ${size} json before`].median;
          const pb = e[`fanout ${size} msgpack before`].median;
          const rb = (k) => fmtRatio(pb[k] / jb[k]);
          lines.push(`| | | JSON, baseline build | ${fmtInt(jb.deliveredPerSec)} | ${fmtInt(jb.bytesPerDelivery)} | ${fmtUs(jb.decodeUsPerFrame)} | ${fmtUs(jb.serverUsPerDelivery)} | ${fmtUs(jb.serverUsPerPublication)} |`);
          lines.push(`| | | MessagePack, baseline build | ${fmtInt(pb.deliveredPerSec)} | ${fmtInt(pb.bytesPerDelivery)} | ${fmtUs(pb.decodeUsPerFrame)} | ${fmtUs(pb.serverUsPerDelivery)} | ${fmtUs(pb.serverUsPerPublication)} |`);
          lines.push(`| | | *MessagePack / JSON, baseline build* | *${rb('deliveredPerSec')}* | *${rb('bytesPerDelivery')}* | *${rb('decodeUsPerFrame')}* | *${rb('serverUsPerDelivery')}* | *${rb('serverUsPerPublication')}* |`);
        }
      }
    }
  }
  if (opts.history) {
    const h = results.history;
    lines.push('', `History in memory vs history.store: sqlite (JSON, ≈100 B, one publication per turn, ${opts.rounds} rounds, medians)`, '');
    lines.push('| workload | memory delivered/s | SQLite delivered/s | SQLite / memory | memory server µs / delivery | SQLite server µs / delivery | SQLite / memory CPU |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const [w, label] of [['A', `1 ch × ${opts.subs}`], ['B', '50 ch × 10']]) {
      const m = h[`${w} memory`].median;
      const s = h[`${w} sqlite`].median;
      lines.push(`| ${label} | ${fmtInt(m.deliveredPerSec)} | ${fmtInt(s.deliveredPerSec)} | **${fmtRatio(s.deliveredPerSec / m.deliveredPerSec)}** | ${fmtUs(m.serverUsPerDelivery)} | ${fmtUs(s.serverUsPerDelivery)} | ${fmtRatio(s.serverUsPerDelivery / m.serverUsPerDelivery)} |`);
    }
    if (opts.baseline) {
      lines.push('', `SQLite on the baseline build (${opts.baseline}) vs this build, same rounds`, '');
      lines.push('| workload | baseline SQLite delivered/s | baseline / memory | baseline server µs / delivery | baseline / memory CPU | this build / memory CPU |');
      lines.push('|---|---:|---:|---:|---:|---:|');
      for (const [w, label] of [['A', `1 ch × ${opts.subs}`], ['B', '50 ch × 10']]) {
        const m = h[`${w} memory`].median;
        const b = h[`${w} sqlite-before`].median;
        const s = h[`${w} sqlite`].median;
        lines.push(`| ${label} | ${fmtInt(b.deliveredPerSec)} | ${fmtRatio(b.deliveredPerSec / m.deliveredPerSec)} | ${fmtUs(b.serverUsPerDelivery)} | **${fmtRatio(b.serverUsPerDelivery / m.serverUsPerDelivery)}** | **${fmtRatio(s.serverUsPerDelivery / m.serverUsPerDelivery)}** |`);
      }
    }
  }
  lines.push('', `(${results.meta.seconds} s in all)`);
  return lines.join('\n');
}

const started = Date.now();
try {
  if (opts.encoding) await encodingPart();
  if (opts.history) await historyPart();
} catch (err) {
  log(err.stack ?? String(err));
  killAll();
  process.exit(1);
}
results.meta.seconds = Math.round((Date.now() - started) / 1000);
console.log(report());
mkdirSync(opts.out, { recursive: true });
const file = path.join(opts.out, `encoding-${results.meta.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(results, null, 2));
log(`results: ${path.relative(process.cwd(), file)}`);
process.exit(0);
