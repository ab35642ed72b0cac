/**
 * createGuardedServer's answer to a client error ('clientError'): 400 (or 408) on a socket with
 * no response in progress; on one whose response is still being written, the socket just
 * closes, so no status line lands in the middle of that response.
 */
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import { closeHttpServer, createGuardedServer } from './http-server.js';

let server: Server | undefined;
afterEach(async () => {
  if (server) await closeHttpServer(server, 200);
  server = undefined;
});

/** A guarded server whose '/hold' answers headers and part of a body, then holds the rest; other paths answer whole. */
async function start(): Promise<number> {
  server = createGuardedServer(5000, () => {});
  server.on('request', (req, res) => {
    if (req.url === '/hold') {
      res.writeHead(200, { 'content-length': 100 });
      res.write('partial');
      return;
    }
    res.end('whole');
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** Writes `first`, waits for `waitFor` in the reply, writes `second`, and resolves with everything read until the socket closes. */
function exchange(port: number, first: string, waitFor: string, second: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let text = '';
    let sent = false;
    const timer = setTimeout(() => reject(new Error(`socket not closed; read: ${text}`)), 3000);
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if (!sent && text.includes(waitFor)) {
        sent = true;
        socket.write(second);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.write(first);
  });
}

const BAD = 'NOT A REQUEST\r\n\r\n';

describe('a client error on the guarded server', () => {
  it('gets 400 on a socket whose last response is finished', async () => {
    const port = await start();
    const text = await exchange(port, 'GET /whole HTTP/1.1\r\nHost: x\r\n\r\n', 'whole', BAD);
    expect(text).toContain('HTTP/1.1 200 OK');
    expect(text).toMatch(/whole\s*HTTP\/1\.1 400 Bad Request\r\n/);
  });

  it('closes, without a 400 inside it, a socket whose response is still in progress', async () => {
    const port = await start();
    const text = await exchange(port, 'GET /hold HTTP/1.1\r\nHost: x\r\n\r\n', 'partial', BAD);
    expect(text).toContain('HTTP/1.1 200 OK');
    expect(text.endsWith('partial')).toBe(true);
    expect(text).not.toContain('400 Bad Request');
  });
});
