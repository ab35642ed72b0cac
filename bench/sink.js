/**
 * A sink process: holds its share of the subscriber connections and counts what
 * they receive. Identical for every server under test.
 *
 * Counting connections never parse JSON or decode text: a message's frame count
 * is the number of "\n" bytes in the raw Buffer + 1, minus any `{"type":"ping"}`
 * frame (found with one `indexOf`, answered with one pong per message).
 * Probe connections (a few per run) parse every frame and record, for each
 * publication, `now - data.t` (ms, both clocks are `performance.timeOrigin + performance.now()`).
 *
 * IPC (orchestrator -> sink):
 *   {type:'init', id, urls:[...], conns:[{srv, channel, probe, token}], concurrency}
 *       -> {type:'subscribed', id, perServer:[count...], rateLimited, ms} | {type:'error', message}
 *       (`srv` indexes `urls`: a sink holds connections to every server of a workload;
 *       only one of them publishes at a time, and every counter is kept per server)
 *   {type:'mark', id, srv, latency:'reset'|'collect'|undefined}
 *       -> {type:'mark', id, now, cpu, frames, probeFrames, lost, lat?}   (counters of server `srv`)
 *   {type:'close'}      terminates every socket and exits
 * Unsolicited: {type:'lost', srv, count, code} when a connection closes while not asked to.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const NEWLINE = 0x0a;
const PING = Buffer.from('{"type":"ping"}');
const PONG = '{"type":"pong"}';
const TIME_ORIGIN = performance.timeOrigin;
const MAX_SAMPLES = 400_000;

/** Per server index (a sink holds connections to every server of the workload; one publishes at a time). */
const frames = [];
const probeFrames = [];
const lost = [];
const samples = [];
let recording = -1;
let closing = false;
const sockets = [];

const send = (msg) => process.send(msg);
const fail = (err) => {
  send({ type: 'error', message: `sink ${process.pid}: ${err && err.stack ? err.stack : err}` });
  setTimeout(() => process.exit(1), 100);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
process.on('disconnect', () => process.exit(0));

/** Frames in one raw message, without decoding it. */
function onCountingMessage(srv, ws, buf) {
  let n = 1;
  let i = buf.indexOf(NEWLINE);
  while (i !== -1) {
    n++;
    i = buf.indexOf(NEWLINE, i + 1);
  }
  if (buf.indexOf(PING) !== -1) {
    n--;
    ws.send(PONG);
  }
  frames[srv] += n;
}

function onProbeMessage(srv, ws, buf) {
  const now = TIME_ORIGIN + performance.now();
  const lines = buf.toString().split('\n');
  for (let i = 0; i < lines.length; i++) {
    const frame = JSON.parse(lines[i]);
    if (frame.type === 'publication') {
      frames[srv]++;
      probeFrames[srv]++;
      if (recording === srv && samples.length < MAX_SAMPLES) samples.push(now - frame.data.t);
    } else if (frame.type === 'ping') {
      ws.send(PONG);
    } else {
      frames[srv]++;
    }
  }
}

/** Opens one connection, sends connect + subscribe (pipelined), resolves once subscribed. */
function open(urls, conn) {
  const srv = conn.srv;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(urls[srv], { perMessageDeflate: false, skipUTF8Validation: true, maxPayload: 256 * 1024 * 1024, handshakeTimeout: 20_000 });
    let subscribed = false;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`subscribe to ${conn.channel} timed out`));
    }, 30_000);
    ws.on('open', () => {
      ws.send(JSON.stringify({ id: 1, type: 'connect', token: conn.token }) + '\n' + JSON.stringify({ id: 2, type: 'subscribe', channel: conn.channel }));
    });
    const onSetup = (buf) => {
      for (const line of buf.toString().split('\n')) {
        if (line.length === 0) continue;
        const frame = JSON.parse(line);
        if (frame.error) {
          clearTimeout(timer);
          ws.terminate();
          reject(new Error(`command ${frame.id} failed: ${JSON.stringify(frame.error)}`));
          return;
        }
        if (frame.type === 'ping') ws.send(PONG);
        if (frame.id === 2) {
          subscribed = true;
          clearTimeout(timer);
          ws.off('message', onSetup);
          if (conn.probe) ws.on('message', (b) => onProbeMessage(srv, ws, b));
          else ws.on('message', (b) => onCountingMessage(srv, ws, b));
          sockets.push(ws);
          resolve();
        }
      }
    };
    ws.on('message', onSetup);
    ws.on('error', (err) => {
      if (!subscribed) {
        clearTimeout(timer);
        reject(err);
      }
    });
    ws.on('close', (code) => {
      if (!subscribed) {
        clearTimeout(timer);
        reject(new Error(`closed before subscribed (code ${code})`));
      } else if (!closing) {
        lost[srv]++;
        send({ type: 'lost', srv, count: 1, code });
      }
    });
  });
}

async function openAll(id, urls, conns, concurrency) {
  const started = performance.now();
  for (let i = 0; i < urls.length; i++) {
    frames[i] = 0;
    probeFrames[i] = 0;
    lost[i] = 0;
  }
  const perServer = urls.map(() => 0);
  let rateLimited = 0;
  let next = 0;
  const worker = async () => {
    while (next < conns.length) {
      const conn = conns[next++];
      let attempt = 0;
      for (;;) {
        try {
          await open(urls, conn);
          perServer[conn.srv]++;
          break;
        } catch (err) {
          // A server may rate-limit new connections per IP (HTTP 429; every sink
          // connects from 127.0.0.1): wait and retry, without counting it as a failure.
          if (/Unexpected server response: 429/.test(err.message)) {
            rateLimited++;
            await new Promise((r) => setTimeout(r, 250 + Math.random() * 750));
            continue;
          }
          if (++attempt >= 3) throw err;
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, conns.length) }, worker));
  send({ type: 'subscribed', id, perServer, rateLimited, ms: Math.round(performance.now() - started) });
}

process.on('message', (msg) => {
  switch (msg.type) {
    case 'init':
      openAll(msg.id, msg.urls, msg.conns, msg.concurrency).catch(fail);
      break;
    case 'mark': {
      const srv = msg.srv;
      const reply = { type: 'mark', id: msg.id, now: performance.now(), cpu: process.cpuUsage(), frames: frames[srv], probeFrames: probeFrames[srv], lost: lost[srv] };
      if (msg.latency === 'collect') {
        reply.lat = Float64Array.from(samples);
        recording = -1;
        samples.length = 0;
      } else if (msg.latency === 'reset') {
        samples.length = 0;
        recording = srv;
      }
      send(reply);
      break;
    }
    case 'close':
      closing = true;
      for (const ws of sockets) ws.terminate();
      setTimeout(() => process.exit(0), 50);
      break;
    default:
      fail(new Error(`unknown message ${JSON.stringify(msg.type)}`));
  }
});
