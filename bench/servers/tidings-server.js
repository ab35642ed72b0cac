/**
 * Tidings through its library API: `createTidings` + `listen`, publications via
 * `tidings.publish(channel, data)` (one call per publication, not awaited in a
 * way that would serialize turns). The same process serves WebSocket and the HTTP
 * transports (SSE, polling) with their default settings; `options.httpReplayBytes`
 * (`run.js --http-replay-bytes`) overrides `http.replayBytes` for experiments.
 *
 * `options.config` (bench/storm.js) adds top-level sections to the configuration
 * as given: `store` (the SQLite file), `audit`, `limits`. `info()` also reports the
 * durable store's counters from the node's metrics (audit events written/dropped,
 * group commits, their total time and the bucket bound of the slowest).
 */
import { createTidings } from '../../packages/server/dist/index.js';
import { runServerProcess } from './common.js';

/** `name value` samples of a Prometheus text exposition whose name starts with `prefix`. */
function samples(text, prefix) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const sp = line.lastIndexOf(' ');
    out[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return out;
}

runServerProcess('tidings', async ({ secret, options }) => {
  const tidings = createTidings({
    logLevel: 'silent',
    auth: { secret },
    namespaces: { bench: {} },
    client: { pingInterval: '60s', pongTimeout: '20s', maxQueueBytes: '64MiB' },
    websocket: { maxPayload: '1MiB' },
    ...(options.httpReplayBytes !== undefined ? { http: { replayBytes: options.httpReplayBytes } } : {}),
    ...(options.config ?? {}),
    // Every bench client connects from 127.0.0.1: the per-address and per-node connection caps stay out of the way.
    limits: { connectionsPerIp: 0, connectionsPerNode: 0, ...(options.config?.limits ?? {}) },
  });
  const address = await tidings.listen(0, '127.0.0.1');
  const onError = (err) => {
    throw err;
  };
  const storeInfo = async () => {
    const m = samples(await tidings.metrics.render(), 'tidings_');
    const buckets = Object.entries(m)
      .filter(([k]) => k.startsWith('tidings_store_commit_seconds_bucket'))
      .map(([k, v]) => {
        const le = /le="([^"]+)"/.exec(k)?.[1];
        return { le: le === '+Inf' ? Infinity : Number(le), count: v };
      })
      .sort((a, b) => a.le - b.le);
    const commits = m.tidings_store_commit_seconds_count ?? 0;
    const slowest = buckets.find((b) => b.count >= commits);
    return {
      auditWritten: m.tidings_audit_events_written_total ?? 0,
      auditDropped: m.tidings_audit_events_dropped_total ?? 0,
      commits,
      commitSeconds: m.tidings_store_commit_seconds_sum ?? 0,
      storeWrites: m.tidings_store_writes_total ?? 0,
      /** Upper bound (s) of the histogram bucket holding the slowest commit so far (Infinity: > 1 s). */
      slowestCommitLe: commits > 0 && slowest ? slowest.le : null,
      buckets,
    };
  };
  return {
    port: address.port,
    path: tidings.config.websocket.path,
    httpPath: tidings.config.http.path,
    meta: { httpReplayBytes: tidings.config.http.replayBytes, auditStore: tidings.config.audit.store, storePath: tidings.config.store.path },
    deliver(channel, data) {
      tidings.publish(channel, data).catch(onError);
    },
    info: async () => ({ ...(await tidings.stats()), store: await storeInfo() }),
    close: () => tidings.close(),
  };
});
