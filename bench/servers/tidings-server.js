/**
 * Tidings through its library API: `createTidings` + `listen`, publications via
 * `tidings.publish(channel, data)` (one call per publication, not awaited in a
 * way that would serialize turns). The same process serves WebSocket and the HTTP
 * transports (SSE, polling) with their default settings; `options.httpReplayBytes`
 * (`run.js --http-replay-bytes`) overrides `http.replayBytes` for experiments.
 */
import { createTidings } from '../../packages/server/dist/index.js';
import { runServerProcess } from './common.js';

runServerProcess('tidings', async ({ secret, options }) => {
  const tidings = createTidings({
    logLevel: 'silent',
    auth: { secret },
    namespaces: { bench: {} },
    client: { pingInterval: '60s', pongTimeout: '20s', maxQueueBytes: '64MiB' },
    websocket: { maxPayload: '1MiB' },
    ...(options.httpReplayBytes !== undefined ? { http: { replayBytes: options.httpReplayBytes } } : {}),
  });
  const address = await tidings.listen(0, '127.0.0.1');
  const onError = (err) => {
    throw err;
  };
  return {
    port: address.port,
    path: tidings.config.websocket.path,
    httpPath: tidings.config.http.path,
    meta: { httpReplayBytes: tidings.config.http.replayBytes },
    deliver(channel, data) {
      tidings.publish(channel, data).catch(onError);
    },
    info: () => tidings.stats(),
    close: () => tidings.close(),
  };
});
