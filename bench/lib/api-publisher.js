/**
 * The publisher process of bench/workers.js: publications reach the server from outside, as
 * a backend's would, through the server API's `POST /broadcast` (one request carries up to
 * `batch` publications: one per entry of `channels`, the same channel repeated for a
 * one-channel workload). Requests go round-robin over `connections` keep-alive TCP
 * connections (one http.Agent with one socket each), so with `--workers` the primary's
 * round-robin spreads them over the workers.
 *
 * Each request's data is `{"t":<send time, ms>,"n":<request seq>,"p":"xxx…"}` (~100 bytes,
 * as in servers/common.js): the probes' latency runs from the request leaving this process
 * to the frame being parsed in a sink, through the server's HTTP API, engine (IPC with
 * workers) and fan-out.
 *
 * IPC (orchestrator -> publisher):
 *   {type:'init', id, apiUrl, apiKey, channels:[...], connections}  -> {type:'ready', id}
 *   {type:'run', mode:'max', inflight, batch}     closed loop: `inflight` requests of `batch`
 *                                                 publications always outstanding
 *   {type:'run', mode:'rate', rate, batch}        `rate` publications/s, paced by a 5 ms timer, each
 *                                                 tick's due publications in requests of ≤ `batch`;
 *                                                 more than 100 ms behind (or 256 requests in flight),
 *                                                 the excess is skipped and counted
 *   {type:'mark', id}   -> {type:'mark', id, now, published, requests, skipped, errors, inflight}
 *   {type:'stop', id}   -> {type:'stopped', id, published, skipped, errors, firstError} once every
 *                          request in flight has been answered
 *   {type:'close'}
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const PAD = 'x'.repeat(58);
const TIME_ORIGIN = performance.timeOrigin;
const MAX_INFLIGHT_RATE = 256;

let cfg;
let agents = [];
let nextAgent = 0;
let channelIdx = 0;
let seq = 0;
let published = 0;
let requests = 0;
let skipped = 0;
let errors = 0;
let firstError = null;
let inflight = 0;
let running = false;
let timer;
let onIdle = null;

const send = (msg) => process.send(msg);
const fail = (err) => {
  send({ type: 'error', message: `publisher ${process.pid}: ${err && err.stack ? err.stack : err}` });
  setTimeout(() => process.exit(1), 100);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
process.on('disconnect', () => process.exit(0));

function nextChannels(n) {
  const list = new Array(n);
  const chans = cfg.channels;
  for (let i = 0; i < n; i++) {
    list[i] = chans[channelIdx];
    channelIdx = channelIdx + 1 === chans.length ? 0 : channelIdx + 1;
  }
  return list;
}

function noteError(message) {
  errors++;
  firstError ??= message;
}

/** One POST /broadcast of `n` publications; `done()` when answered. */
function request(n, done) {
  const body = JSON.stringify({ channels: nextChannels(n), data: { t: TIME_ORIGIN + performance.now(), n: seq++, p: PAD } });
  const agent = agents[nextAgent];
  nextAgent = nextAgent + 1 === agents.length ? 0 : nextAgent + 1;
  inflight++;
  requests++;
  published += n;
  const finish = () => {
    inflight--;
    done?.();
    if (inflight === 0 && onIdle) onIdle();
  };
  const req = http.request(
    `${cfg.apiUrl}/broadcast`,
    { method: 'POST', agent, headers: { authorization: `Bearer ${cfg.apiKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
    (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) noteError(`HTTP ${res.statusCode} ${text.slice(0, 200)}`);
        else if (text.includes('"error"')) noteError(`a channel failed: ${text.slice(0, 300)}`);
        finish();
      });
      res.on('error', (err) => {
        noteError(err.message);
        finish();
      });
    },
  );
  req.setTimeout(60_000, () => req.destroy(new Error('request timed out (60 s)')));
  req.on('error', (err) => {
    noteError(err.message);
    finish();
  });
  req.end(body);
}

function startMax(maxInflight, batch) {
  const again = () => {
    if (running) request(batch, again);
  };
  for (let i = 0; i < maxInflight; i++) request(batch, again);
}

function startRate(rate, batch) {
  const start = performance.now();
  const maxBehind = Math.max(1, Math.ceil(rate * 0.1));
  let sent = 0;
  const tick = () => {
    if (!running) return;
    const due = Math.floor(((performance.now() - start) * rate) / 1000);
    let n = due - sent;
    if (n > maxBehind) {
      skipped += n - maxBehind;
      sent += n - maxBehind;
      n = maxBehind;
    }
    while (n > 0) {
      const k = Math.min(n, batch);
      if (inflight >= MAX_INFLIGHT_RATE) {
        skipped += n;
        sent += n;
        break;
      }
      request(k);
      sent += k;
      n -= k;
    }
    timer = setTimeout(tick, 5);
  };
  tick();
}

process.on('message', (msg) => {
  switch (msg.type) {
    case 'init':
      cfg = msg;
      agents = Array.from({ length: msg.connections }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
      send({ type: 'ready', id: msg.id, pid: process.pid });
      break;
    case 'run':
      if (running) return fail(new Error('publisher already running'));
      running = true;
      published = 0;
      requests = 0;
      skipped = 0;
      if (msg.mode === 'max') startMax(msg.inflight, msg.batch);
      else if (msg.mode === 'rate') startRate(msg.rate, msg.batch);
      else fail(new Error(`unknown mode ${msg.mode}`));
      break;
    case 'mark':
      send({ type: 'mark', id: msg.id, now: performance.now(), published, requests, skipped, errors, inflight });
      break;
    case 'stop': {
      running = false;
      clearTimeout(timer);
      const answer = () => {
        onIdle = null;
        send({ type: 'stopped', id: msg.id, published, skipped, errors, firstError });
      };
      if (inflight === 0) answer();
      else onIdle = answer;
      break;
    }
    case 'close':
      for (const a of agents) a.destroy();
      setTimeout(() => process.exit(0), 20);
      break;
    default:
      fail(new Error(`unknown message ${JSON.stringify(msg.type)}`));
  }
});
