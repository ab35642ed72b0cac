/**
 * bench/ceiling.js, backpressure: does memory stay bounded at saturation while a third of
 * the subscribers stop reading? One server at a time (pinned), 1 channel × `--bp-subscribers`
 * (150); once all are subscribed, every third counting connection stops reading (ws's
 * public `pause()`: the TCP window closes and the server's writes pile up). The server
 * then publishes `--bp-rate` (1,000: more than it can, so it runs saturated) publications/s
 * of `--bp-payload-bytes` (8,192) for `--bp-seconds` (12); its memory is read after full GCs
 * every second. Few subscribers and big payloads, so that a stalled connection is owed
 * megabytes within seconds (past the kernel's socket buffers and a 4 MiB queue). Tidings runs with its
 * default `client.maxQueueBytes` (4 MiB; the fan-out parts raise it to 64 MiB), so it should
 * cut the stalled connections (the sinks report their close codes); bare ws batched has no
 * limit: the reference for what unbounded looks like. A paused client reads nothing, so it
 * does not see its connection cut; the server's own count says how many it kept (Tidings
 * also reports its slow-consumer disconnects).
 */
import { cpuMs, layout, log, sleep } from './orchestrate.js';
import { SERVERS, startClient, startServer } from './ceiling-servers.js';

export async function runBackpressure(opts, secret, mintToken) {
  const wl = { channels: 1, subsPerChannel: opts.bpSubscribers };
  const { channels, perSink } = layout(wl, opts.sinks, 0);
  for (const conns of perSink) for (const c of conns) c.token = await mintToken(secret, { sub: `p${c.k}`, ttlSeconds: 3600 });
  const out = {};
  for (const key of opts.bpServers) {
    const r = (out[key] = { server: key, label: SERVERS[key].label, lost: 0, codes: {}, samples: [] });
    let server;
    const sinks = [];
    try {
      server = await startServer(key, { secret, channels, pinned: opts.pin, payloadBytes: opts.bpPayloadBytes, tidingsConfig: { client: { pingInterval: '60s', pongTimeout: '20s' } } });
      for (let i = 0; i < opts.sinks; i++) {
        sinks.push(
          startClient('sink.js', `bp sink ${i}`, opts.pin, (msg) => {
            if (msg.type !== 'lost') return;
            r.lost += msg.count;
            r.codes[msg.code] = (r.codes[msg.code] ?? 0) + msg.count;
          }),
        );
      }
      await Promise.all(
        sinks.map((s, i) =>
          s.request({ type: 'init', urls: [server.url], transports: [server.transport], conns: perSink[i].map((c) => ({ srv: 0, ...c })), concurrency: Math.ceil(opts.concurrency / sinks.length) }, 120_000, 'connect and subscribe'),
        ),
      );
      await sleep(500);
      const before = await server.request({ type: 'memory' }, 30_000);
      r.before = { rss: before.rss, heapUsed: before.heapUsed, external: before.external + before.arrayBuffers };
      r.paused = (await Promise.all(sinks.map((s) => s.request({ type: 'pause', srv: 0, every: 3 }, 10_000)))).reduce((n, x) => n + x.paused, 0);
      const k0 = await Promise.all(sinks.map((s) => s.request({ type: 'mark', srv: 0 }, 10_000)));
      const s0 = await server.request({ type: 'mark' }, 10_000);
      server.send({ type: 'run', mode: 'rate', rate: opts.bpRate });
      for (let t = 1; t <= opts.bpSeconds; t++) {
        await sleep(1000);
        const m = await server.request({ type: 'memory' }, 60_000);
        r.samples.push({ t, rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers, lost: r.lost });
      }
      const s1 = await server.request({ type: 'mark' }, 10_000);
      const k1 = await Promise.all(sinks.map((s) => s.request({ type: 'mark', srv: 0 }, 10_000)));
      await server.request({ type: 'stop' }, 10_000);
      // A paused client reads nothing, so it never sees its connection cut: ask the server.
      const { info } = await server.request({ type: 'info' }, 10_000);
      r.connectionsAfter = info.connections ?? info.connectedSockets;
      r.slowDisconnects = info.slowDisconnectsTotal;
      const seconds = (s1.now - s0.now) / 1000;
      r.publishedPerSec = (s1.published - s0.published) / seconds;
      r.deliveredPerSec = k1.reduce((n, m, i) => n + m.frames - k0[i].frames, 0) / seconds;
      r.serverCpuPct = ((cpuMs(s1.cpu) - cpuMs(s0.cpu)) / (s1.now - s0.now)) * 100;
      const max = (f) => Math.max(...r.samples.map((x) => x[f]));
      r.max = { rss: max('rss'), heapUsed: max('heapUsed'), external: max('external') };
      r.last = r.samples[r.samples.length - 1];
      log(
        `    ${SERVERS[key].label.padEnd(34)} ${r.paused} paused: RSS ${(r.before.rss / 2 ** 20).toFixed(0)} → max ${(r.max.rss / 2 ** 20).toFixed(0)} MiB (last ${(r.last.rss / 2 ** 20).toFixed(0)}), ` +
          `${r.connectionsAfter} of ${opts.bpSubscribers} connections left${r.slowDisconnects !== undefined ? ` (${r.slowDisconnects} slow-consumer disconnects)` : ''}, ${Math.round(r.deliveredPerSec)} frames/s delivered, ${Math.round(r.publishedPerSec)} pub/s`,
      );
    } catch (err) {
      r.error = err.message;
      log(`  ERROR (${key}, backpressure): ${err.message}`);
    } finally {
      await Promise.all(sinks.map((s) => s.close(10_000)));
      await server?.close(5000);
    }
  }
  return out;
}
