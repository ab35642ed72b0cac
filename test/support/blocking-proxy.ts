/**
 * An HTTP reverse proxy on 127.0.0.1 that passes plain requests (streamed both ways, so
 * SSE and long polls work) and refuses WebSocket upgrades, as some corporate proxies do.
 * It can also cut the event streams passing through it at the TCP level, as a broken
 * network would, without the server ending their sessions.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export interface BlockingProxy {
  port: number;
  /** Rewrites a URL of the target to go through the proxy. */
  url(targetUrl: string): string;
  /** Upgrade requests refused so far. */
  refusedUpgrades(): number;
  /** Lets upgrades through from now on (false) or refuses them again (true). */
  setBlocking(blocking: boolean): void;
  /**
   * Destroys both sockets (to the client and to the server) of every event stream
   * (`GET /connection/sse?…`) open through the proxy now; returns how many it cut.
   */
  cutStreams(): number;
  /** Every event-stream request seen, with its `Last-Event-ID` header (a resume has one). */
  streamRequests(): Array<{ url: string; lastEventId: string | undefined }>;
  close(): Promise<void>;
}

export async function startBlockingProxy(targetPort: number): Promise<BlockingProxy> {
  let refused = 0;
  let blocking = true;
  const streams = new Set<{ client: Duplex; upstream: ReturnType<typeof request> }>();
  const streamLog: Array<{ url: string; lastEventId: string | undefined }> = [];
  const server: Server = createServer((req, res) => {
    const upstream = request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (up: IncomingMessage) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    if (req.method === 'GET' && /^\/connection\/sse(\?|$)/.test(req.url ?? '')) {
      const header = req.headers['last-event-id'];
      streamLog.push({ url: req.url ?? '', lastEventId: Array.isArray(header) ? header[0] : header });
      const entry = { client: req.socket, upstream };
      streams.add(entry);
      res.on('close', () => streams.delete(entry));
    }
    req.pipe(upstream);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (blocking) {
      refused++;
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream = request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers });
    upstream.on('upgrade', (res, upSocket, upHead) => {
      let status = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`;
      for (let i = 0; i < res.rawHeaders.length; i += 2) status += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
      socket.write(status + '\r\n');
      if (upHead.length) socket.write(upHead);
      upSocket.pipe(socket).pipe(upSocket);
      upSocket.on('error', () => socket.destroy());
      socket.on('error', () => upSocket.destroy());
    });
    upstream.on('error', () => socket.destroy());
    if (head.length) upstream.write(head);
    upstream.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (targetUrl) => targetUrl.replace(/:\d+(\/|$)/, `:${port}$1`),
    refusedUpgrades: () => refused,
    setBlocking: (b) => void (blocking = b),
    cutStreams: () => {
      const cut = [...streams];
      streams.clear();
      for (const { client, upstream } of cut) {
        client.destroy();
        upstream.destroy();
      }
      return cut.length;
    },
    streamRequests: () => streamLog.map((r) => ({ ...r })),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
