/**
 * A client process of bench/encoding.js: WebSocket connections in JSON (`tidings.v1`) or
 * MessagePack (`tidings.v1.msgpack`). Probe connections (`probe: true`, a few per group) decode
 * every message in full, as a client application would (JSON.parse per line, or msgpackr's
 * unpackMultiple), and keep up to SAMPLE of the messages they got. The others only count, so
 * that this process does not become the bottleneck: publications by the bytes that start one
 * (`"type":"publication"` in JSON, its MessagePack key and value in MessagePack) with a
 * Buffer#indexOf loop, as bench/sink.js counts lines.
 *
 * Client decode CPU is measured on that sample once the load has stopped (`decode`): the same
 * decoding of the same messages, timed in a loop while the machine is otherwise idle, since a
 * timer around each decode during the load mostly measures the time this process waits for a core.
 *
 * Connections come in groups (`group`: a name the orchestrator chooses, e.g. "fan-json"); a group's
 * connections are subscribers (`pub: false`) or publishers (`pub: true`: subscribed too, as the
 * namespace's clientPublish asks, and publishing with `window` commands in flight each).
 *
 * IPC (orchestrator -> sink), each answered with the same `id`:
 *   {type:'init', id, url, conns:[{group, encoding:'json'|'msgpack', channel, token, pub, url?}], concurrency}
 *   {type:'publish', id, group, size, window}   its publishers start publishing (`size`: bench/lib/encoding-payload.js)
 *   {type:'halt', id, group}                    they stop (replies still counted)
 *   {type:'mark', id}    -> {now, cpu, groups: {name: {frames, messages, wire, acks}}}
 *   {type:'decode', id, group} -> {usPerFrame, frames}   decodes the group's sample (best of 5 passes), then drops it
 *   {type:'close'}       terminates every socket and exits
 * `wire`: bytes of the WebSocket messages received, payload plus the server's frame header
 * (2, 4 or 10 bytes, unmasked); `frames`: publications received.
 */
import { performance } from 'node:perf_hooks';
import { Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { payloadOf } from './lib/encoding-payload.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const SAMPLE = 4000;
const PROTOCOLS = { json: ['tidings.v1'], msgpack: ['tidings.v1.msgpack', 'tidings.v1'] };
/** What starts a publication frame, and a ping, in each encoding (the server writes `type` first). */
const MARKS = {
  json: { publication: Buffer.from('{"type":"publication"'), ping: Buffer.from('{"type":"ping"}') },
  msgpack: { publication: Buffer.concat([packr.pack('type'), packr.pack('publication')]), ping: Buffer.concat([packr.pack('type'), packr.pack('ping')]) },
};

function count(data, mark) {
  let n = 0;
  for (let at = data.indexOf(mark); at !== -1; at = data.indexOf(mark, at + mark.length)) n++;
  return n;
}

const groups = new Map();
const sockets = [];

const fail = (err) => {
  process.send({ type: 'error', message: `encoding sink ${process.pid}: ${err && err.stack ? err.stack : err}` });
  setTimeout(() => process.exit(1), 100);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

function group(name) {
  let g = groups.get(name);
  if (!g) groups.set(name, (g = { frames: 0, messages: 0, wire: 0, acks: 0, sample: [], publishers: [], publishing: false }));
  return g;
}

function decode(data, isBinary) {
  if (isBinary) return unpackr.unpackMultiple(data);
  const frames = [];
  for (const line of data.toString().split('\n')) frames.push(JSON.parse(line));
  return frames;
}

/** Decodes `sample` 5 times; the fastest pass, in µs per publication. */
function timeDecode(sample) {
  let frames = 0;
  for (const [data, isBinary] of sample) for (const f of decode(data, isBinary)) if (f.type === 'publication') frames++;
  let best = Infinity;
  for (let pass = 0; pass < 5; pass++) {
    const t0 = process.hrtime.bigint();
    for (const [data, isBinary] of sample) decode(data, isBinary);
    best = Math.min(best, Number(process.hrtime.bigint() - t0));
  }
  return { usPerFrame: frames > 0 ? best / frames / 1000 : null, frames };
}

const header = (n) => (n < 126 ? 2 : n < 65536 ? 4 : 10);

/** One connection: connect + subscribe, then count and decode everything; publishers keep `window` publishes in flight. */
function open(url, conn) {
  const g = group(conn.group);
  const encode = conn.encoding === 'msgpack' ? (f) => packr.pack(f) : (f) => JSON.stringify(f);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, PROTOCOLS[conn.encoding], { perMessageDeflate: false });
    sockets.push(ws);
    let nextId = 3;
    let inFlight = 0;
    let base;
    let seq = 0;
    const publisher = {
      go(size, window) {
        base = payloadOf(size);
        for (let i = inFlight; i < window; i++) publisher.one();
      },
      one() {
        if (!g.publishing) return;
        inFlight++;
        ws.send(encode({ id: nextId++, type: 'publish', channel: conn.channel, data: { ...base, n: seq++, t: Date.now() } }));
      },
    };
    if (conn.pub) g.publishers.push(publisher);
    ws.on('error', reject);
    ws.on('open', () => {
      ws.send(encode({ id: 1, type: 'connect', token: conn.token }));
      ws.send(encode({ id: 2, type: 'subscribe', channel: conn.channel }));
    });
    const marks = MARKS[conn.encoding];
    let ready = false;
    ws.on('message', (data, isBinary) => {
      if (ready && !conn.probe && !conn.pub) {
        g.messages++;
        g.wire += data.length + header(data.length);
        g.frames += count(data, marks.publication);
        if (count(data, marks.ping) > 0) ws.send(encode({ type: 'pong' }));
        return;
      }
      const frames = decode(data, isBinary);
      g.messages++;
      g.wire += data.length + header(data.length);
      if (ready && conn.probe && g.sample.length < SAMPLE) g.sample.push([data, isBinary]);
      for (const f of frames) {
        if (f.type === 'publication') g.frames++;
        else if (f.type === 'ping') ws.send(encode({ type: 'pong' }));
        else if (f.id === 2) {
          if (f.error) reject(new Error(`subscribe: ${f.error.code}: ${f.error.message}`));
          else {
            ready = true;
            resolve();
          }
        } else if (f.id === 1 && f.error) reject(new Error(`connect: ${f.error.code}: ${f.error.message}`));
        else if (typeof f.id === 'number' && f.id > 2) {
          if (f.error) fail(new Error(`publish: ${f.error.code}: ${f.error.message}`));
          g.acks++;
          inFlight--;
          if (g.publishing) publisher.one();
        }
      }
    });
    ws.on('close', (code) => {
      if (!closing) fail(new Error(`a ${conn.group} connection closed with ${code}`));
    });
  });
}

let closing = false;

process.on('message', async (msg) => {
  const reply = (body) => process.send({ ...body, id: msg.id });
  switch (msg.type) {
    case 'init': {
      const queue = [...msg.conns];
      const worker = async () => {
        while (queue.length > 0) {
          const conn = queue.shift();
          await open(conn.url ?? msg.url, conn);
        }
      };
      await Promise.all(Array.from({ length: msg.concurrency }, worker));
      reply({});
      break;
    }
    case 'publish': {
      const g = group(msg.group);
      g.publishing = true;
      for (const p of g.publishers) p.go(msg.size, msg.window);
      reply({});
      break;
    }
    case 'halt':
      group(msg.group).publishing = false;
      reply({});
      break;
    case 'mark': {
      const out = {};
      for (const [name, g] of groups) out[name] = { frames: g.frames, messages: g.messages, wire: g.wire, acks: g.acks };
      reply({ now: performance.now(), cpu: process.cpuUsage(), groups: out });
      break;
    }
    case 'decode': {
      const g = group(msg.group);
      reply(timeDecode(g.sample));
      g.sample = [];
      break;
    }
    case 'close':
      closing = true;
      for (const ws of sockets) ws.terminate();
      process.exit(0);
  }
});
