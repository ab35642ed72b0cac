#!/usr/bin/env node
// A bare protocol-v1 client for the README tour: connects with a token, subscribes
// to one channel and prints every frame it receives. No SDK, just `ws`, so it also
// shows how little a client needs.
//
// Usage: node examples/tour-client.mjs <ws-url> <token> <channel> [--recover <epoch>:<offset>]
//
// With --recover, the subscribe asks for every publication after <offset> in <epoch> (the
// epoch of the subscribe reply, the offset of the last publication seen): the reply carries
// them in order, or "recovered": false when they cannot all be given.
import WebSocket from 'ws';

const USAGE = 'usage: node examples/tour-client.mjs <ws-url> <token> <channel> [--recover <epoch>:<offset>]   (or set TOKEN)';
const args = process.argv.slice(2);
let recover;
const at = args.indexOf('--recover');
if (at !== -1) {
  const m = /^(\S+):(\d+)$/.exec(args[at + 1] ?? '');
  if (!m) {
    console.error(`--recover: expected <epoch>:<offset>, like Vt9NwAg0:1\n${USAGE}`);
    process.exit(2);
  }
  recover = { epoch: m[1], offset: Number(m[2]) };
  args.splice(at, 2);
}
const [url = 'ws://127.0.0.1:8080/connection/websocket', token = process.env.TOKEN, channel = 'chat:lobby'] = args;
if (!token) {
  console.error(USAGE);
  process.exit(2);
}

// The token travels in the handshake as a subprotocol entry, never in the URL.
const ws = new WebSocket(url, ['tidings.v1', `tidings.bearer.${token}`]);
ws.on('open', () => {
  // Commands may share one message, one JSON frame per line.
  const subscribe = { id: 2, type: 'subscribe', channel, ...(recover ? { recover } : {}) };
  ws.send([{ id: 1, type: 'connect' }, subscribe].map((f) => JSON.stringify(f)).join('\n'));
});
ws.on('message', (data) => {
  for (const line of data.toString().split('\n')) {
    const frame = JSON.parse(line);
    if (frame.type === 'ping') {
      ws.send('{"type":"pong"}');
      continue;
    }
    console.log(JSON.stringify(frame));
  }
});
ws.on('unexpected-response', (_req, res) => {
  console.error(`handshake refused: HTTP ${res.statusCode} ${res.headers['x-tidings-error'] ?? ''}`);
  process.exit(1);
});
ws.on('close', (code, reason) => {
  console.error(`closed: ${code} ${reason}`);
  process.exit(code === 1000 ? 0 : 1);
});
ws.on('error', (err) => console.error(`error: ${err.message}`));
process.on('SIGINT', () => ws.close(1000));
