/**
 * A sink process: holds its share of the subscriber connections and counts what
 * they receive. Identical for every server under test.
 *
 * Two kinds of connection, chosen per server (`transports[srv]`):
 *
 * - **WebSocket** (`ws`). Counting connections never parse JSON or decode text: a
 *   message's frame count is the number of "\n" bytes in the raw Buffer + 1, minus
 *   any `{"type":"ping"}` frame (found with one `indexOf`, answered with one pong per message).
 * - **Server-Sent Events** (`sse`, Tidings' HTTP transport). `POST <base>/open`
 *   `{"transport":"sse"}` with `Authorization: Bearer <token>` gives `{session, ticket}`;
 *   a `node:http` GET of `<base>/sse?ticket=…` (its own socket) is read as raw Buffers;
 *   `connect` + `subscribe` go as one `POST <base>/sse/<session>` (text/plain, NDJSON)
 *   and their replies arrive on the stream. Counting streams never parse JSON either:
 *   they count `\nevent: publication\n` lines with a `Buffer#indexOf` loop over whole
 *   events (a chunk that ends inside an event keeps that partial event, at most one,
 *   for the next chunk), and answer an `event: ping` with a `{"type":"pong"}` POST.
 *
 * - **Socket.IO** (`socketio`, bench/ceiling.js's baseline): socket.io-client, see
 *   lib/sink-socketio.js (loaded only when a server asks for it).
 *
 * Probe connections (a few per run) parse every frame and record, for each
 * publication, `now - data.t` (ms, both clocks are `performance.timeOrigin + performance.now()`).
 *
 * IPC (orchestrator -> sink):
 *   {type:'init', id, urls:[...], transports:['ws'|'sse',...], conns:[{srv, channel, probe, token}], concurrency}
 *       -> {type:'subscribed', id, perServer:[count...], rateLimited, ms} | {type:'error', message}
 *       (`srv` indexes `urls`: a sink holds connections to every server of a workload;
 *       only one of them publishes at a time, and every counter is kept per server.
 *       A `ws` url is the WebSocket endpoint, an `sse` url the HTTP transports' base,
 *       e.g. http://127.0.0.1:1234/connection)
 *   {type:'mark', id, srv, latency:'reset'|'collect'|undefined}
 *       -> {type:'mark', id, now, cpu, frames, probeFrames, lost, lat?}   (counters of server `srv`)
 *   {type:'pause', id, srv, every} -> {type:'paused', id, paused}   (every `every`-th counting WebSocket stops reading)
 *   {type:'close'}      terminates every socket and exits
 * Unsolicited: {type:'lost', srv, count, code} when a connection closes while not asked to.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
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
/** Counting WebSocket connections, for `pause` (bench/ceiling.js's backpressure part). */
const readers = [];

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

/** Opens one WebSocket connection, sends connect + subscribe (pipelined), resolves once subscribed. */
function openWs(urls, conn) {
  const srv = conn.srv;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(urls[srv], { perMessageDeflate: false, skipUTF8Validation: true, maxPayload: 256 * 1024 * 1024, handshakeTimeout: 20_000 });
    let subscribed = false;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`subscribe to ${conn.channel} timed out`));
    }, 30_000);
    ws.on('open', () => {
      // `conn.channels` (bench/ceiling.js's personal + groups workload): one subscribe each, ids 2, 3, ...
      const subs = (conn.channels ?? [conn.channel]).map((channel, i) => JSON.stringify({ id: 2 + i, type: 'subscribe', channel }));
      ws.send([JSON.stringify({ id: 1, type: 'connect', token: conn.token }), ...subs].join('\n'));
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
        if (frame.id === 1 + (conn.channels?.length ?? 1)) {
          subscribed = true;
          clearTimeout(timer);
          ws.off('message', onSetup);
          if (conn.probe) ws.on('message', (b) => onProbeMessage(srv, ws, b));
          else ws.on('message', (b) => onCountingMessage(srv, ws, b));
          sockets.push(ws);
          if (!conn.probe) readers.push({ srv, ws });
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

// ---------------------------------------------------------------- Server-Sent Events

const SSE_PUBLICATION = Buffer.from('\nevent: publication\n');
const SSE_PING = Buffer.from('\nevent: ping\n');
const EVENT_END = Buffer.from('\n\n');
/** Keep-alive sockets for the POSTs (open, commands, pongs); each stream has its own socket. */
const postAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });

/** A POST through `postAgent`; resolves {status, body} (the body as text). */
function post(url, token, contentType, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: postAgent,
        headers: { authorization: `Bearer ${token}`, 'content-type': contentType, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error(`POST ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends one client frame to an SSE session (a pong); a keep-alive socket the server just closed is retried. */
function ssePost(c, text, attempt = 0) {
  post(c.postUrl, c.token, 'text/plain', text).then(
    (r) => {
      if (r.status !== 204 && !closing) fail(new Error(`POST ${c.postUrl}: HTTP ${r.status} ${r.body}`));
    },
    (err) => {
      if (closing) return;
      if (attempt < 3) setTimeout(() => ssePost(c, text, attempt + 1), 100);
      else fail(err);
    },
  );
}

/** Splits a stream into events (text), for the setup phase and probes. */
function sseEvents(c, chunk) {
  c.text += c.decoder.write(chunk);
  const parts = c.text.split('\n\n');
  c.text = parts.pop();
  const events = [];
  for (const part of parts) {
    let event = 'message';
    let data = '';
    for (const line of part.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (data !== '' || event !== 'message') events.push({ event, data });
  }
  return events;
}

/** Counting stream: counts `event: publication` lines over whole events, never decoding. */
function onSseCounting(c, chunk) {
  let buf = c.rest === null ? chunk : Buffer.concat([c.rest, chunk]);
  c.rest = null;
  const len = buf.length;
  // Events end with "\n\n" (data is one line of JSON, so "\n\n" is never inside one).
  if (len < 2 || buf[len - 1] !== NEWLINE || buf[len - 2] !== NEWLINE) {
    const end = buf.lastIndexOf(EVENT_END);
    if (end === -1) {
      c.rest = buf;
      return;
    }
    c.rest = buf.subarray(end + 2);
    buf = buf.subarray(0, end + 2);
  }
  let n = 0;
  let i = buf.indexOf(SSE_PUBLICATION);
  while (i !== -1) {
    n++;
    i = buf.indexOf(SSE_PUBLICATION, i + SSE_PUBLICATION.length);
  }
  frames[c.srv] += n;
  if (buf.indexOf(SSE_PING) !== -1) ssePost(c, PONG);
}

function onSseProbe(c, chunk) {
  const now = TIME_ORIGIN + performance.now();
  for (const { event, data } of sseEvents(c, chunk)) {
    if (event === 'publication') {
      const frame = JSON.parse(data);
      frames[c.srv]++;
      probeFrames[c.srv]++;
      if (recording === c.srv && samples.length < MAX_SAMPLES) samples.push(now - frame.data.t);
    } else if (event === 'ping') {
      ssePost(c, PONG);
    }
  }
}

/**
 * Opens one SSE session: POST /open, GET the stream, then POST connect + subscribe
 * (one body, two lines); resolves once the subscribe reply arrived on the stream.
 */
async function openSse(base, conn) {
  const srv = conn.srv;
  const opened = await post(`${base}/open`, conn.token, 'application/json', '{"transport":"sse"}');
  if (opened.status !== 200) throw new Error(`POST ${base}/open: HTTP ${opened.status} ${opened.body}`);
  const { session, ticket } = JSON.parse(opened.body);
  const c = { srv, token: conn.token, postUrl: `${base}/sse/${session}`, rest: null, text: '', decoder: new StringDecoder('utf8') };
  return new Promise((resolve, reject) => {
    let subscribed = false;
    let settled = false;
    const abort = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    const timer = setTimeout(() => abort(new Error(`subscribe to ${conn.channel} over SSE timed out`)), 30_000);
    const req = http.get(`${base}/sse?ticket=${encodeURIComponent(ticket)}`, { agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => abort(new Error(`GET ${base}/sse: HTTP ${res.statusCode} ${body}`)));
        return;
      }
      const onSetup = (chunk) => {
        for (const { event, data } of sseEvents(c, chunk)) {
          if (event === 'ping') ssePost(c, PONG);
          if (event === 'close') return abort(new Error(`stream closed during setup: ${data}`));
          if (event !== 'reply') continue;
          const frame = JSON.parse(data);
          if (frame.error) return abort(new Error(`command ${frame.id} failed: ${JSON.stringify(frame.error)}`));
          if (frame.id === 2) {
            subscribed = true;
            settled = true;
            clearTimeout(timer);
            res.off('data', onSetup);
            if (conn.probe) res.on('data', (b) => onSseProbe(c, b));
            else res.on('data', (b) => onSseCounting(c, b));
            sockets.push({ terminate: () => req.destroy() });
            resolve();
            return;
          }
        }
      };
      res.on('data', onSetup);
      res.on('close', () => {
        if (!subscribed) abort(new Error('stream closed before subscribed'));
        else if (!closing) {
          lost[srv]++;
          send({ type: 'lost', srv, count: 1, code: 'sse stream closed' });
        }
      });
      // The stream is open: send the commands; their replies come on it.
      const commands = '{"id":1,"type":"connect"}\n' + JSON.stringify({ id: 2, type: 'subscribe', channel: conn.channel });
      post(c.postUrl, conn.token, 'text/plain', commands).then(
        (r) => r.status !== 204 && abort(new Error(`POST ${c.postUrl}: HTTP ${r.status} ${r.body}`)),
        abort,
      );
    });
    req.on('error', (err) => {
      if (!subscribed) abort(err);
    });
  });
}

// ---------------------------------------------------------------- Socket.IO

const socketIoHooks = {
  count: (srv) => frames[srv]++,
  probe(srv, data) {
    const now = TIME_ORIGIN + performance.now();
    frames[srv]++;
    probeFrames[srv]++;
    if (recording === srv && samples.length < MAX_SAMPLES) samples.push(now - data.t);
  },
  lost(srv, reason) {
    if (closing) return;
    lost[srv]++;
    send({ type: 'lost', srv, count: 1, code: reason });
  },
  keep: (s) => sockets.push(s),
};

/** Opens connection `conn` over its server's transport. */
async function open(urls, transports, conn) {
  const transport = transports[conn.srv];
  if (transport === 'socketio') {
    const { openSocketIo } = await import('./lib/sink-socketio.js');
    return openSocketIo(urls[conn.srv], conn, socketIoHooks);
  }
  return transport === 'sse' ? openSse(urls[conn.srv], conn) : openWs(urls, conn);
}

async function openAll(id, urls, transports, conns, concurrency) {
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
          await open(urls, transports, conn);
          perServer[conn.srv]++;
          break;
        } catch (err) {
          // A server may rate-limit new connections per IP (HTTP 429; every sink
          // connects from 127.0.0.1): wait and retry, without counting it as a failure.
          if (/(Unexpected server response: |: HTTP )429\b/.test(err.message)) {
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
      openAll(msg.id, msg.urls, msg.transports ?? msg.urls.map(() => 'ws'), msg.conns, msg.concurrency).catch(fail);
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
    case 'pause': {
      // Every `every`-th counting connection of server `srv` stops reading (ws's public pause()).
      const mine = readers.filter((r) => r.srv === msg.srv && r.ws.readyState === WebSocket.OPEN);
      let paused = 0;
      for (let i = 0; i < mine.length; i += msg.every) mine[i].ws.pause(), paused++;
      send({ type: 'paused', id: msg.id, paused });
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
