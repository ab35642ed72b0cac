/**
 * What every bench server process shares: the IPC protocol with the
 * orchestrator (bench/run.js), CPU accounting, optional in-process CPU
 * profiling, and the publisher loops. Only `deliver(channel, data)` differs
 * between servers, so the publishing side is identical by construction.
 *
 * IPC (orchestrator -> server):
 *   {type:'init', id, channels:[...], secret, options?}  -> {type:'ready', id, port, path, httpPath?, meta?, frameBytes}
 *                                                 (`httpPath`: base of Tidings' HTTP transports, SSE and polling;
 *                                                 `meta`: settings worth reporting; `frameBytes`: size of a publication frame)
 *   {type:'run', mode:'turn'}                     one publication per event-loop turn (setImmediate loop)
 *   {type:'run', mode:'rate', rate}               `rate` publications/s, paced by a 1 ms timer
 *   {type:'mark', id, loopDelay?}                 -> {type:'mark', id, now, cpu, published, dropped, loopDelay?}
 *                                                 (`loopDelay: 'reset'|'collect'`, when init had `options.loopDelay`:
 *                                                 event-loop lag since the last reset, {p50, p99, max, mean} in ms:
 *                                                 how late a 10 ms timer fired)
 *   {type:'stop', id}                             -> {type:'stopped', id, published, dropped}
 *   {type:'profile-start', id} / {type:'profile-stop', id, file}
 *   {type:'info', id}                             -> {type:'info', id, info}   (`info()` may return a promise)
 *   {type:'memory', id}                           -> {type:'memory', id, rss, heapUsed, heapTotal, external, arrayBuffers, gc}
 *                                                 (after two full GCs when the process runs with --expose-gc: `gc: true`)
 *   {type:'close'}                                closes and exits
 */
import { writeFileSync } from 'node:fs';
import { Session as InspectorSession } from 'node:inspector';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

/** Pads the payload so `JSON.stringify(data)` is ~100 bytes: {"t":<ms with fraction>,"n":<seq>,"p":"xxx..."} */
const PAD = 'x'.repeat(58);
/** What `{"t":…,"n":…,"p":""}` takes besides the padding (init's `options.payloadBytes` sets the total). */
const PAYLOAD_OVERHEAD = 42;
const LOOP_DELAY_RESOLUTION_MS = 10;
const TIME_ORIGIN = performance.timeOrigin;

/** Milliseconds since the epoch with sub-millisecond precision (comparable across processes). */
export function nowMs() {
  return TIME_ORIGIN + performance.now();
}

/**
 * The publisher: round-robin over `channels`, one `deliver` call per publication.
 * Both loops count what they published; the rate loop also counts what it had to
 * skip because the process could not keep up (more than 100 ms behind schedule).
 */
export function createPublisher(channels, deliver, pad = PAD) {
  let idx = 0;
  let seq = 0;
  let published = 0;
  let dropped = 0;
  let running = false;
  let timer;

  function publishOne() {
    const channel = channels[idx];
    idx = idx + 1 === channels.length ? 0 : idx + 1;
    deliver(channel, { t: nowMs(), n: seq++, p: pad });
    published++;
  }

  function turn() {
    if (!running) return;
    publishOne();
    setImmediate(turn);
  }

  function startRate(rate) {
    const start = performance.now();
    const maxBurst = Math.max(1, Math.ceil(rate * 0.1));
    let sent = 0;
    const tick = () => {
      if (!running) return;
      const due = Math.floor(((performance.now() - start) * rate) / 1000);
      let n = due - sent;
      if (n > maxBurst) {
        dropped += n - maxBurst;
        sent += n - maxBurst;
        n = maxBurst;
      }
      for (let i = 0; i < n; i++) publishOne();
      sent += n;
      timer = setTimeout(tick, 1);
    };
    tick();
  }

  return {
    get published() {
      return published;
    },
    get dropped() {
      return dropped;
    },
    start(mode, rate) {
      if (running) throw new Error('publisher already running');
      running = true;
      published = 0;
      dropped = 0;
      if (mode === 'turn') setImmediate(turn);
      else if (mode === 'rate') startRate(rate);
      else throw new Error(`unknown mode ${mode}`);
    },
    stop() {
      running = false;
      clearTimeout(timer);
    },
  };
}

/** Encodes a publication push exactly like Tidings' `encodePublication` (no offset, no info). */
export function encodePublicationFrame(channel, data) {
  return '{"type":"publication","channel":' + JSON.stringify(channel) + ',"data":' + JSON.stringify(data) + '}';
}

/**
 * Runs a bench server process. `start({channels, secret, options})` starts the server and
 * resolves `{port, path, httpPath?, meta?, deliver(channel, data), info?(), close?()}`.
 */
export function runServerProcess(name, start) {
  if (!process.send) {
    console.error(`${name}: must be started by bench/run.js (child_process.fork)`);
    process.exit(2);
  }
  let server;
  let publisher;
  let inspector;
  /** Event-loop delay histogram (a 10 ms timer), when `init` asked for it (`options.loopDelay`). */
  let loopDelay;

  const send = (msg) => process.send(msg);
  const fail = (err) => {
    send({ type: 'error', message: `${name}: ${err && err.stack ? err.stack : err}` });
    setTimeout(() => process.exit(1), 100);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  // The orchestrator is gone: do not linger.
  process.on('disconnect', () => process.exit(0));

  const post = (method, params) =>
    new Promise((resolve, reject) => inspector.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));

  process.on('message', async (msg) => {
    try {
      switch (msg.type) {
        case 'init': {
          server = await start({ channels: msg.channels, secret: msg.secret, options: msg.options ?? {} });
          const pad = msg.options?.payloadBytes ? 'x'.repeat(Math.max(1, msg.options.payloadBytes - PAYLOAD_OVERHEAD)) : PAD;
          publisher = createPublisher(msg.channels, server.deliver, pad);
          if (msg.options?.loopDelay) {
            loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
            loopDelay.enable();
          }
          const frameBytes = Buffer.byteLength(encodePublicationFrame(msg.channels[0], { t: nowMs(), n: 100_000, p: pad }));
          send({ type: 'ready', id: msg.id, port: server.port, path: server.path, httpPath: server.httpPath, meta: server.meta, frameBytes, pid: process.pid });
          break;
        }
        case 'run':
          publisher.start(msg.mode, msg.rate);
          break;
        case 'mark': {
          const reply = { type: 'mark', id: msg.id, now: performance.now(), cpu: process.cpuUsage(), published: publisher.published, dropped: publisher.dropped };
          if (loopDelay && msg.loopDelay === 'collect') {
            // The histogram holds the intervals of a 10 ms timer: the lag is what exceeds 10 ms.
            const ms = (ns) => Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS);
            reply.loopDelay = { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max), mean: ms(loopDelay.mean) };
          }
          if (loopDelay && msg.loopDelay) loopDelay.reset();
          send(reply);
          break;
        }
        case 'stop':
          publisher.stop();
          send({ type: 'stopped', id: msg.id, published: publisher.published, dropped: publisher.dropped });
          break;
        case 'info':
          send({ type: 'info', id: msg.id, info: server.info ? await server.info() : {} });
          break;
        case 'memory': {
          const gc = typeof globalThis.gc === 'function';
          if (gc) {
            globalThis.gc();
            await new Promise((r) => setImmediate(r));
            globalThis.gc();
          }
          send({ type: 'memory', id: msg.id, ...process.memoryUsage(), gc });
          break;
        }
        case 'profile-start':
          if (!inspector) {
            inspector = new InspectorSession();
            inspector.connect();
            await post('Profiler.enable');
            await post('Profiler.setSamplingInterval', { interval: 200 });
          }
          await post('Profiler.start');
          send({ type: 'profile-started', id: msg.id });
          break;
        case 'profile-stop': {
          const { profile } = await post('Profiler.stop');
          writeFileSync(msg.file, JSON.stringify(profile));
          send({ type: 'profile-stopped', id: msg.id, file: msg.file });
          break;
        }
        case 'close':
          publisher?.stop();
          try {
            await Promise.race([server?.close?.(), new Promise((r) => setTimeout(r, 3000))]);
          } finally {
            process.exit(0);
          }
          break;
        default:
          throw new Error(`unknown message ${JSON.stringify(msg.type)}`);
      }
    } catch (err) {
      fail(err);
    }
  });
}
