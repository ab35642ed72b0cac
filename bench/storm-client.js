/**
 * The reconnect storm (bench/storm.js): a process that, cycle after cycle, opens
 * N WebSocket connections to one server (each sends `connect` with its own JWT and
 * `subscribe`, pipelined, and counts as connected on the `subscribe` reply), then
 * closes all of them at once (`ws.close(1000)`, waiting for the close handshake)
 * and starts the next cycle: at once (`periodMs` 0, the default of bench/storm.js),
 * or `periodMs` after the previous one started if that is later.
 *
 * Connections come from `localAddresses` in turn (127.0.0.x: all of 127/8 is
 * loopback on Linux), i.e. from many client addresses as a real storm would, so a
 * server's per-IP connection rate limit sees each address's share.
 *
 * Every loop is bounded: at most `maxCycles` cycles; after `maxSeconds` no new
 * connection is opened (the cycle in progress closes what it has open and the run
 * ends); at most `concurrency` handshakes in flight, a 15 s timeout per connection
 * and a 5 s timeout per close (then the socket is terminated).
 *
 * IPC (orchestrator -> storm):
 *   {type:'init', id, tokens:[...], channel, concurrency, localAddresses:[...]} -> {type:'ready', id}
 *   {type:'start', id, url, periodMs, maxCycles, maxSeconds}                   -> {type:'started', id}
 *   {type:'wait', id}   -> {type:'done', id, now, cpu, ...counters} once the run has ended by itself
 *                          (maxCycles cycles, or maxSeconds)
 *   {type:'mark', id}   -> {type:'mark', id, now, cpu, ...counters}  (the numeric counters since start)
 *   {type:'stop', id}   -> ends the cycle in progress (no new connections, closes the open ones)
 *                          -> {type:'stopped', id, ...counters}
 *   {type:'close'}      terminates every socket and exits
 * counters: cycles (completed), connects, closes, failures, rateLimited, closeTimeouts,
 *           errors (up to 5 distinct messages), cycleMs [{connectMs, closeMs}] per completed cycle,
 *           openMs / readyMs: per connection, ms until the WebSocket opened / until `subscribe` was answered
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const send = (msg) => process.send(msg);
const fail = (err) => {
  send({ type: 'error', message: `storm ${process.pid}: ${err && err.stack ? err.stack : err}` });
  setTimeout(() => process.exit(1), 100);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
process.on('disconnect', () => process.exit(0));

if (!process.send) {
  console.error('storm-client.js: must be started by bench/storm.js (child_process.fork)');
  process.exit(2);
}

/** Connection timings kept per run (ms from `new WebSocket` to 'open', and to the subscribe reply). */
const MAX_SAMPLES = 100_000;
let setup;
let run = null;
const live = new Set();

function newCounters() {
  return { cycles: 0, connects: 0, closes: 0, failures: 0, rateLimited: 0, closeTimeouts: 0, errors: [], cycleMs: [], openMs: [], readyMs: [] };
}

function noteError(c, message) {
  if (c.errors.length < 5 && !c.errors.includes(message)) c.errors.push(message);
}

/** Opens connection k; resolves the socket once `subscribe` is answered, rejects on any failure. */
function openOne(url, k, c) {
  const t0 = performance.now();
  let tOpen = 0;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: 10_000,
      localAddress: setup.localAddresses[k % setup.localAddresses.length],
    });
    live.add(ws);
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        ws.terminate();
        live.delete(ws);
        reject(err);
      } else {
        ws.off('message', onMessage);
        if (c.readyMs.length < MAX_SAMPLES) {
          c.openMs.push(tOpen - t0);
          c.readyMs.push(performance.now() - t0);
        }
        resolve(ws);
      }
    };
    const timer = setTimeout(() => finish(new Error('subscribe timed out (15 s)')), 15_000);
    const onMessage = (buf) => {
      for (const line of buf.toString().split('\n')) {
        if (line.length === 0) continue;
        const frame = JSON.parse(line);
        if (frame.error) return finish(new Error(`command ${frame.id}: ${frame.error.code}`));
        if (frame.type === 'ping') ws.send('{"type":"pong"}');
        if (frame.id === 2) return finish();
      }
    };
    ws.on('open', () => {
      tOpen = performance.now();
      ws.send(JSON.stringify({ id: 1, type: 'connect', token: setup.tokens[k] }) + '\n' + JSON.stringify({ id: 2, type: 'subscribe', channel: setup.channel }));
    });
    ws.on('message', onMessage);
    ws.on('error', (err) => finish(err));
    ws.on('close', (code) => {
      live.delete(ws);
      finish(new Error(`closed before subscribed (code ${code})`));
    });
  });
}

/** Closes one socket with the close handshake; terminates it after 5 s. Resolves true if it closed in time. */
function closeOne(ws) {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) {
      live.delete(ws);
      resolve(true);
      return;
    }
    const timer = setTimeout(() => {
      ws.terminate();
      live.delete(ws);
      resolve(false);
    }, 5_000);
    ws.once('close', () => {
      clearTimeout(timer);
      live.delete(ws);
      resolve(true);
    });
    ws.close(1000, 'storm');
  });
}

/** One cycle: connect every client (at most `concurrency` at once), then close them all. */
async function cycle(r) {
  const c = r.counters;
  const n = setup.tokens.length;
  const t0 = performance.now();
  const open = [];
  let next = 0;
  const worker = async () => {
    while (next < n && !r.stopping && performance.now() < r.deadline) {
      const k = next++;
      try {
        open.push(await openOne(r.url, k, c));
        c.connects++;
      } catch (err) {
        c.failures++;
        if (/\b429\b/.test(err.message)) c.rateLimited++;
        noteError(c, err.message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(setup.concurrency, n) }, worker));
  const attemptedAll = next >= n;
  const t1 = performance.now();
  const closed = await Promise.all(open.map(closeOne));
  for (const ok of closed) {
    c.closes++;
    if (!ok) c.closeTimeouts++;
  }
  if (!r.stopping && attemptedAll) {
    c.cycles++;
    c.cycleMs.push({ connectMs: Math.round(t1 - t0), closeMs: Math.round(performance.now() - t1) });
  }
}

async function loop(r) {
  while (!r.stopping && r.counters.cycles < r.maxCycles && performance.now() < r.deadline) {
    const t = performance.now();
    await cycle(r);
    const wait = r.periodMs - (performance.now() - t);
    if (wait > 0 && !r.stopping) {
      await new Promise((resolve) => {
        r.wake = resolve;
        r.sleep = setTimeout(resolve, wait);
      });
      r.wake = null;
    }
  }
}

process.on('message', async (msg) => {
  try {
    switch (msg.type) {
      case 'init':
        setup = { tokens: msg.tokens, channel: msg.channel, concurrency: msg.concurrency, localAddresses: msg.localAddresses };
        send({ type: 'ready', id: msg.id });
        break;
      case 'start': {
        if (run) throw new Error('storm already running');
        const r = {
          url: msg.url,
          periodMs: msg.periodMs,
          maxCycles: msg.maxCycles,
          deadline: performance.now() + msg.maxSeconds * 1000,
          stopping: false,
          wake: null,
          sleep: null,
          counters: newCounters(),
        };
        r.done = loop(r);
        run = r;
        send({ type: 'started', id: msg.id });
        break;
      }
      case 'mark': {
        // Counters only (the per-connection timings come with 'stopped').
        const { errors, cycleMs, openMs, readyMs, ...counters } = run ? run.counters : newCounters();
        send({ type: 'mark', id: msg.id, now: performance.now(), cpu: process.cpuUsage(), ...counters });
        break;
      }
      case 'wait': {
        const r = run;
        if (!r) throw new Error('no storm running');
        await r.done;
        run = null;
        send({ type: 'done', id: msg.id, now: performance.now(), cpu: process.cpuUsage(), ...r.counters });
        break;
      }
      case 'stop': {
        const r = run;
        if (!r) {
          send({ type: 'stopped', id: msg.id, ...newCounters() });
          break;
        }
        r.stopping = true;
        clearTimeout(r.sleep);
        r.wake?.();
        await r.done;
        run = null;
        send({ type: 'stopped', id: msg.id, ...r.counters });
        break;
      }
      case 'close':
        if (run) run.stopping = true;
        for (const ws of live) ws.terminate();
        setTimeout(() => process.exit(0), 50);
        break;
      default:
        throw new Error(`unknown message ${JSON.stringify(msg.type)}`);
    }
  } catch (err) {
    fail(err);
  }
});
