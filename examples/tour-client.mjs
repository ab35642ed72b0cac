#!/usr/bin/env node
// A bare protocol-v1 client for the README tour: connects with a token, subscribes
// to one channel and prints every frame it receives. No SDK, just `ws`, so it also
// shows how little a client needs.
//
// Usage: node examples/tour-client.mjs <ws-url> <token> <channel>
import WebSocket from 'ws';

const [url = 'ws://127.0.0.1:8080/connection/websocket', token = process.env.TOKEN, channel = 'chat:lobby'] = process.argv.slice(2);
if (!token) {
  console.error('usage: node examples/tour-client.mjs <ws-url> <token> <channel>   (or set TOKEN)');
  process.exit(2);
}

// The token travels in the handshake as a subprotocol entry, never in the URL.
const ws = new WebSocket(url, ['tidings.v1', `tidings.bearer.${token}`]);
ws.on('open', () => {
  // Commands may share one message, one JSON frame per line.
  ws.send([{ id: 1, type: 'connect' }, { id: 2, type: 'subscribe', channel }].map((f) => JSON.stringify(f)).join('\n'));
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
