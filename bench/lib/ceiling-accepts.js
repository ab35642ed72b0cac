/**
 * bench/ceiling.js, accepts: connections accepted per second with `concurrency` (100)
 * connects in flight, each with its own freshly minted token (so no server can answer
 * from a cache of verified tokens), and the server's CPU per accepted connection
 * (`process.cpuUsage()` delta of the server over the burst ÷ accepts). Every server
 * of the list runs at once (pinned to core 0, idle but one); one generator process
 * (accept-client.js, on the other cores) opens `--accepts` connections to one server,
 * the servers taking turns, the first rotating each round; between bursts the
 * connections are closed and the server is waited on until it holds none. Each server
 * first gets one unmeasured burst of 1,000 (JIT warm-up).
 */
import { cpuMs, log, median, sleep } from './orchestrate.js';
import { SERVERS, startClient, startServer, waitConnections } from './ceiling-servers.js';

/** 127.0.0.2 … : the generator's source addresses (all of 127/8 is loopback on Linux). */
const LOCAL_ADDRESSES = Array.from({ length: 50 }, (_, i) => `127.0.0.${i + 2}`);

export async function runAccepts(opts, secret, mintToken) {
  const keys = opts.acceptServers;
  const out = Object.fromEntries(keys.map((k) => [k, { server: k, label: SERVERS[k].label, rounds: [] }]));
  const servers = [];
  let gen;
  try {
    for (const key of keys) servers.push(await startServer(key, { secret, channels: ['bench:c0'], pinned: opts.pin }));
    gen = startClient('accept-client.js', 'accept client', opts.pin);
    // One unmeasured burst per server first, so that no round measures a cold JIT.
    for (const server of servers) {
      const tokens = [];
      for (let i = 0; i < Math.min(1000, opts.accepts); i++) tokens.push(await mintToken(secret, { sub: `w-${i}`, ttlSeconds: 3600 }));
      const kind = server.transport === 'socketio' ? 'socketio' : 'ws';
      await gen.request({ type: 'run', url: server.url, kind, tokens, concurrency: opts.acceptConcurrency, localAddresses: LOCAL_ADDRESSES }, 120_000, 'warm-up burst');
      await gen.request({ type: 'close-all' }, 120_000, 'close all');
      await waitConnections(server, 0);
    }
    for (let round = 1; round <= opts.acceptRounds; round++) {
      for (let j = 0; j < servers.length; j++) {
        const server = servers[(j + round - 1) % servers.length];
        const tokens = [];
        for (let i = 0; i < opts.accepts; i++) tokens.push(await mintToken(secret, { sub: `a${round}-${i}`, ttlSeconds: 3600 }));
        await sleep(300);
        const m0 = await server.request({ type: 'mark' }, 10_000);
        const ran = await gen.request(
          { type: 'run', url: server.url, kind: server.transport === 'socketio' ? 'socketio' : 'ws', tokens, concurrency: opts.acceptConcurrency, localAddresses: LOCAL_ADDRESSES },
          120_000,
          'accept burst',
        );
        const m1 = await server.request({ type: 'mark' }, 10_000);
        const cpu = cpuMs(m1.cpu) - cpuMs(m0.cpu);
        const r = {
          round,
          accepted: ran.accepted,
          failures: ran.failures,
          errors: ran.errors,
          acceptsPerSec: ran.accepted / (ran.ms / 1000),
          cpuUsPerAccept: ran.accepted ? (cpu * 1000) / ran.accepted : null,
          serverCpuPct: (cpu / (m1.now - m0.now)) * 100,
        };
        out[server.key].rounds.push(r);
        log(
          `    ${SERVERS[server.key].label.padEnd(40)} round ${round}: ${Math.round(r.acceptsPerSec)} accepts/s, ${r.cpuUsPerAccept?.toFixed(0)} µs CPU/accept, server CPU ${r.serverCpuPct.toFixed(0)}%` +
            (r.failures ? `  [${r.failures} failed: ${r.errors.join('; ')}]` : ''),
        );
        await gen.request({ type: 'close-all' }, 120_000, 'close all');
        const left = await waitConnections(server, 0);
        if (left > 0) log(`    (${server.key} still reports ${left} connections)`);
      }
    }
  } finally {
    await gen?.close(5000);
    await Promise.all(servers.map((s) => s.close(5000)));
  }
  for (const r of Object.values(out)) {
    r.acceptsPerSec = median(r.rounds.map((x) => x.acceptsPerSec));
    r.cpuUsPerAccept = median(r.rounds.map((x) => x.cpuUsPerAccept).filter(Number.isFinite));
    r.failures = r.rounds.reduce((n, x) => n + x.failures, 0);
  }
  return out;
}
