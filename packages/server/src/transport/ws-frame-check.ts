/**
 * The start-up self-test of the pre-built frame path (`writeFrame` in ws-frames.ts,
 * which writes whole frames to the connection's raw socket between the frames `ws` writes).
 * Once per process, before the first WebSocket transport may use the path, a real `ws`
 * socket pair on 127.0.0.1 (port 0) carries messages written alternately with `writeFrame`
 * and `ws.send`, across every frame header length, text and binary frames (JSON and
 * MessagePack connections), with pings between them and a close at the end (after which
 * `writeFrame` must refuse); the path is used only if every message and ping arrives
 * intact, of its kind, and in order, followed by the close.
 * Otherwise (a `ws` whose sender queues or behaves differently, no loopback, a timeout) a
 * warning is logged once and every message goes through `ws.send` for good.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { OutFrame } from '../wire/out-frame.js';
import type { Logger } from '../log.js';
import { binaryFrame, sharedTextFrame, writeFrame, type FramePathSwitch } from './ws-frames.js';

export interface FramePathCheckOptions {
  /** Called with the server side of the pair and its raw socket before anything is written (tests make ws behave differently). */
  prepare?: (ws: WebSocket, socket: Duplex) => void;
  /** Gives up (false) after this long; default 5000 ms. */
  timeoutMs?: number;
}

/**
 * Payload sizes crossing the 7-, 16- and 64-bit length boundaries; the binary ones written by
 * `writeFrame` (2, 8, 14) are 7-, 16- and 64-bit too.
 */
const SIZES = [0, 1, 125, 126, 1000, 65_535, 65_536, 70_000, 126, 3, 5, 7, 0, 9, 70_000];

/** Every third message of the check goes as a binary frame (built by `binaryFrame`, or by ws.send with binary: true). */
const isBinary = (i: number): boolean => i % 3 === 2;
/** A ping (ws.ping) follows every fifth message. */
const pingAfter = (i: number): boolean => i % 5 === 4;
const CLOSE_CODE = 1000;
const CLOSE_REASON = 'frame path check done';

/** The messages of the check: distinct, so a lost, repeated or reordered one shows. */
function checkMessages(): string[] {
  return SIZES.map((size, i) => {
    const head = `${i}:`;
    return head + String.fromCharCode(97 + i).repeat(Math.max(0, size - head.length));
  });
}

/**
 * Runs the check once: resolves true when `writeFrame` frames interleaved with `ws.send`
 * and `ws.ping` arrived intact and in order, then the close (and `writeFrame` took the ones
 * written while the connection was open, and refused the one written after `ws.close`);
 * false otherwise. Never rejects.
 */
export async function checkFramePath(options: FramePathCheckOptions = {}): Promise<boolean> {
  const server = createServer();
  const wss = new WebSocketServer({ noServer: true, clientTracking: false });
  let client: WebSocket | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    // The raw socket is ours from the upgrade on (public: handleUpgrade takes it from us).
    const serverSide = new Promise<{ ws: WebSocket; socket: Duplex }>((resolve) => {
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => wss.handleUpgrade(req, socket, head, (ws) => resolve({ ws, socket })));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    server.unref();
    const { port } = server.address() as AddressInfo;
    const messages = checkMessages();
    const expected = messages.flatMap((m, i) => [(isBinary(i) ? 'binary ' : '') + m, ...(pingAfter(i) ? [`ping p${i}`] : [])]);
    const received: string[] = [];
    client = new WebSocket(`ws://127.0.0.1:${port}`, { maxPayload: 1 << 20 });
    const socket = client;
    const outcome = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), options.timeoutMs ?? 5000);
      socket.on('message', (data, isBinary) => received.push((isBinary ? 'binary ' : '') + data.toString()));
      socket.on('ping', (data) => received.push(`ping ${data.toString()}`));
      socket.on('error', () => resolve(false));
      socket.on('close', (code, reason) =>
        resolve(
          code === CLOSE_CODE &&
            reason.toString() === CLOSE_REASON &&
            received.length === expected.length &&
            received.every((m, i) => m === expected[i]),
        ),
      );
    });
    const pair = await Promise.race([serverSide, outcome.then(() => undefined)]);
    if (!pair) return false;
    const { ws, socket: raw } = pair;
    options.prepare?.(ws, raw);
    let framed = 0;
    let wanted = 0;
    messages.forEach((text, i) => {
      const binary = isBinary(i);
      if (i % 2 === 0) wanted++;
      if (i % 2 === 0 && writeFrame(ws, raw, binary ? binaryFrame(Buffer.from(text)) : sharedTextFrame(OutFrame.fromText(text)))) framed++;
      else ws.send(binary ? Buffer.from(text) : text, { binary });
      if (pingAfter(i)) ws.ping(Buffer.from(`p${i}`));
    });
    ws.close(CLOSE_CODE, CLOSE_REASON);
    // Nothing may follow the close frame: once ws has started closing, the path refuses.
    const refusedAfterClose = !writeFrame(ws, raw, sharedTextFrame(OutFrame.fromText('after close')));
    const ok = await outcome;
    // Every frame was written while the connection was open: if one was refused, the path is not there.
    return ok && framed === wanted && refusedAfterClose;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    client?.terminate();
    wss.close();
    server.close();
  }
}

/** The process-wide decision: false until the self-test passed, false for good if it failed. */
class FramePath implements FramePathSwitch {
  usable = false;
  /** Frames written through the path so far (a transport adds to it; tests read it). */
  written = 0;
  private started: Promise<boolean> | undefined;

  /** Starts the self-test (once per process); resolves with its outcome. */
  check(log: Logger): Promise<boolean> {
    this.started ??= checkFramePath().then((ok) => {
      this.usable = ok;
      if (!ok) log.warn('pre-built WebSocket frames disabled: the ws sender self-test failed; every message goes through ws.send');
      return ok;
    });
    return this.started;
  }
}

/** The switch every WebSocket transport of this process reads. */
export const framePath = new FramePath();
