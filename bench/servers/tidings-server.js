/**
 * Tidings through its library API: `createTidings` + `listen`, publications via
 * `tidings.publish(channel, data)` (one call per publication, not awaited in a
 * way that would serialize turns).
 */
import { createTidings } from '../../packages/server/dist/index.js';
import { runServerProcess } from './common.js';

runServerProcess('tidings', async ({ secret }) => {
  const tidings = createTidings({
    logLevel: 'silent',
    auth: { secret },
    namespaces: { bench: {} },
    client: { pingInterval: '60s', pongTimeout: '20s', maxQueueBytes: '64MiB' },
    websocket: { maxPayload: '1MiB' },
  });
  const address = await tidings.listen(0, '127.0.0.1');
  const onError = (err) => {
    throw err;
  };
  return {
    port: address.port,
    path: tidings.config.websocket.path,
    deliver(channel, data) {
      tidings.publish(channel, data).catch(onError);
    },
    info: () => tidings.stats(),
    close: () => tidings.close(),
  };
});
