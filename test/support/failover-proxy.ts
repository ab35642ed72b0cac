/**
 * A TCP load balancer on 127.0.0.1 for multi-node tests: each accepted connection goes to the
 * first of `targets` (ports) that accepts it, in order, and its bytes are piped both ways, so
 * WebSocket, SSE streams and long polls all pass. While its preferred node is up, everything
 * through one proxy lands on that node; once the node is gone (a connection refused), new
 * connections go to the next one, as a balancer's health check would send them. A connection
 * whose node dies is cut at once (the client sees its socket close).
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface FailoverProxy {
  port: number;
  /** The port each accepted connection was sent to, in order (undefined: no target accepted it). */
  readonly routed: Array<number | undefined>;
  /** Replaces the targets (e.g. a node restarted on another port). */
  setTargets(targets: number[]): void;
  close(): Promise<void>;
}

export async function startFailoverProxy(targets: number[]): Promise<FailoverProxy> {
  let order = [...targets];
  const routed: Array<number | undefined> = [];
  const open = new Set<Socket>();
  const track = (s: Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  };
  const server = createServer((client) => {
    track(client);
    client.pause();
    client.on('error', () => {});
    const entry = routed.push(undefined) - 1;
    const attempt = (i: number) => {
      if (i >= order.length || client.destroyed) {
        client.destroy();
        return;
      }
      const port = order[i]!;
      const upstream = connect(port, '127.0.0.1');
      track(upstream);
      let connected = false;
      upstream.on('error', () => (connected ? client.destroy() : attempt(i + 1)));
      upstream.once('connect', () => {
        connected = true;
        routed[entry] = port;
        upstream.once('close', () => client.destroy());
        client.once('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    routed,
    setTargets(next) {
      order = [...next];
    },
    close() {
      for (const s of open) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
