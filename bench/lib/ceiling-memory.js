/**
 * bench/ceiling.js, idle memory per connection: one server at a time (pinned), measured
 * after two full GCs (`--expose-gc`, the server's `memory` message) with no connection,
 * then with each count of `--memory-counts` (10,000 and 19,000) idle connections open,
 * each authenticated with its own token and subscribed to one channel (10 connections
 * per channel). Per connection: (RSS − RSS with none) ÷ connections, and the same for
 * the V8 heap (heapUsed) and for external + array buffers (socket buffers held by JS).
 *
 * The sinks (sink.js, at most `--sink-connections` per process, so that each stays well
 * inside the 20,000 open files of `ulimit -n`) open the connections in steps and keep
 * them idle (nothing is published). The server process itself needs one descriptor per
 * connection: 19,000 fits under 20,000.
 */
import { layout, log, sleep } from './orchestrate.js';
import { SERVERS, startClient, startServer } from './ceiling-servers.js';

const SETTLE_MS = 1500;

export async function runMemory(opts, secret, mintToken) {
  const counts = [...opts.memoryCounts].sort((a, b) => a - b);
  const top = counts[counts.length - 1];
  const wl = { channels: Math.ceil(top / 10), subsPerChannel: 10 };
  const { channels } = layout(wl, 1, 0);
  const tokens = [];
  for (let k = 0; k < top; k++) tokens.push(await mintToken(secret, { sub: `m${k}`, ttlSeconds: 24 * 3600 }));
  const out = {};
  for (const key of opts.memoryServers) {
    const r = (out[key] = { server: key, label: SERVERS[key].label, points: [] });
    let server;
    const sinks = [];
    try {
      server = await startServer(key, { secret, channels, pinned: opts.pin });
      await sleep(SETTLE_MS);
      const base = await server.request({ type: 'memory' }, 30_000);
      r.base = { rss: base.rss, heapUsed: base.heapUsed, external: base.external + base.arrayBuffers, gc: base.gc };
      const nSinks = Math.ceil(top / opts.sinkConnections);
      for (let i = 0; i < nSinks; i++) {
        sinks.push(startClient('sink.js', `memory sink ${i}`, opts.pin, (msg) => msg.type === 'lost' && (r.lost = (r.lost ?? 0) + msg.count)));
      }
      let opened = 0;
      for (const n of counts) {
        const t0 = Date.now();
        // Connections opened..n-1, dealt round-robin over the sinks.
        const per = sinks.map(() => []);
        for (let k = opened; k < n; k++) per[k % sinks.length].push({ srv: 0, k, channel: channels[k % channels.length], probe: false, token: tokens[k] });
        const replies = await Promise.all(
          sinks.map((s, i) =>
            per[i].length
              ? s.request({ type: 'init', urls: [server.url], transports: [server.transport], conns: per[i], concurrency: Math.ceil(opts.concurrency / sinks.length) }, 60_000 + 40 * per[i].length, 'connect and subscribe')
              : { perServer: [0] },
          ),
        );
        const got = replies.reduce((s, x) => s + x.perServer[0], 0);
        if (got !== n - opened) throw new Error(`${key}: ${got} of ${n - opened} connections subscribed`);
        opened = n;
        await sleep(SETTLE_MS);
        const m = await server.request({ type: 'memory' }, 60_000);
        const point = {
          connections: n,
          connectSeconds: (Date.now() - t0 - SETTLE_MS) / 1000,
          rss: m.rss,
          heapUsed: m.heapUsed,
          external: m.external + m.arrayBuffers,
          rssPerConn: (m.rss - r.base.rss) / n,
          heapPerConn: (m.heapUsed - r.base.heapUsed) / n,
          externalPerConn: (m.external + m.arrayBuffers - r.base.external) / n,
        };
        r.points.push(point);
        log(
          `    ${SERVERS[key].label.padEnd(40)} ${n} idle: RSS ${(point.rssPerConn / 1024).toFixed(2)} KB/conn, heap ${(point.heapPerConn / 1024).toFixed(2)} KB/conn, external ${(point.externalPerConn / 1024).toFixed(2)} KB/conn (connected in ${point.connectSeconds.toFixed(1)} s)`,
        );
      }
    } catch (err) {
      r.error = err.message;
      log(`  ERROR (${key}, memory): ${err.message}`);
    } finally {
      await Promise.all(sinks.map((s) => s.close(10_000)));
      await server?.close(5000);
    }
  }
  return out;
}
