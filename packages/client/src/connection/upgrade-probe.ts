/**
 * The background upgrade: connected over a fallback because a preferred transport
 * (WebSocket) was blocked, the client tries that transport again beside the current one
 * after `upgradeProbeDelay` (doubling after each failed probe, up to 16×), sends `connect` on
 * it, and switches over once it is accepted, without leaving `connected`.
 */
import { CloseCode, type ConnectResult, type ServerFrame, type StreamPosition } from '@tidings/protocol';
import type { CommandBody, Outbox } from '../outbox.js';
import { startTimer } from '../timers.js';
import type { ClientTransport, TransportFactory, TransportHandlers } from '../transports/types.js';
import { decodeFrames } from '../wire.js';
import type { TransportRounds } from './transport-rounds.js';

/** @internal What the probe needs from the connection. */
export interface ProbeHost {
  /** Bumped for every transport: a probe begun for an older one is given up. */
  readonly _generation: number;
  readonly _connected: boolean;
  /** `connect` as the next connection sends it, and the subscription positions in it. */
  _connectCommand(): [CommandBody, Record<string, StreamPosition>];
  open(factory: TransportFactory, handlers: TransportHandlers): ClientTransport;
  /** Switches to the accepted probe; returns the generation of the new connection. */
  _adopt(transport: ClientTransport, name: string, result: ConnectResult, sent: Record<string, StreamPosition>): number;
  /** Frames, a close and a refused message of the adopted transport, while it is the connection. */
  _receive(frames: Array<ServerFrame | string>): void;
  _closed(code: number, reason: string): void;
  debug(message: string): void;
}

/** @internal The connection's upgrade probe. */
export class UpgradeProbe {
  readonly #host: ProbeHost;
  readonly #rounds: TransportRounds;
  readonly #config: { upgradeProbeDelay: number | false; timeout: number };
  readonly #outbox: Pick<Outbox, 'refuse'>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #probe: ClientTransport | null = null;
  #fails = 0;

  constructor(host: ProbeHost, rounds: TransportRounds, config: { upgradeProbeDelay: number | false; timeout: number }, outbox: Pick<Outbox, 'refuse'>) {
    this.#host = host;
    this.#rounds = rounds;
    this.#config = config;
    this.#outbox = outbox;
  }

  /** Connected over `current`: probes a blocked preferred transport later, if there is one. */
  schedule(current: string): void {
    const host = this.#host;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const delay = this.#config.upgradeProbeDelay;
    if (delay === false) return;
    const preferred = this.#rounds.blockedBefore(current);
    if (!preferred) return;
    const generation = host._generation;
    const wait = delay * 2 ** Math.min(this.#fails, 4);
    host.debug(`probing ${preferred.name} in ${wait} ms`);
    this.#timer = startTimer(() => {
      this.#timer = undefined;
      if (generation === host._generation && host._connected) this.#run(preferred, current);
    }, wait);
  }

  /** The connection is gone: no probe for it. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const probe = this.#probe;
    this.#probe = null;
    probe?.close(CloseCode.Normal, '');
  }

  /** Opens `factory` beside the current transport, sends `connect` on it, and switches over once it is accepted. */
  #run(factory: TransportFactory, current: string): void {
    const host = this.#host;
    const generation = host._generation;
    let settled = false;
    let adopted = false;
    const [connect, subs] = host._connectCommand();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let probe: ClientTransport | null = null;
    let openedEarly = false;
    const sendConnect = (): void => probe!.send(JSON.stringify({ id: 1, ...connect }));
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      probe?.close(CloseCode.Normal, '');
      if (this.#probe === probe) this.#probe = null;
      host.debug(`${factory.name} probe failed: ${why}`);
      if (generation !== host._generation) return;
      this.#fails++;
      this.#rounds.block(factory.name);
      this.schedule(current);
    };
    let probeGeneration = -1;
    host.debug(`probing ${factory.name}`);
    const opened = host.open(factory, {
      onOpen: () => {
        if (settled) return;
        if (probe) sendConnect();
        else openedEarly = true;
      },
      onMessage: (text) => {
        if (adopted) {
          if (probeGeneration === host._generation) host._receive(decodeFrames(text));
          return;
        }
        if (settled) return;
        const frames = decodeFrames(text);
        for (let i = 0; i < frames.length; i++) {
          const frame = frames[i]! as { id?: unknown; type?: unknown; result?: unknown; error?: { message?: string } } | string;
          if (typeof frame === 'string') continue;
          if (frame.type === 'ping') probe?.send('{"type":"pong"}');
          if (frame.id !== 1) continue;
          if (frame.error || !frame.result) {
            fail(`connect refused: ${frame.error?.message ?? 'no result'}`);
            return;
          }
          if (generation !== host._generation || !host._connected) {
            fail('the connection changed meanwhile');
            return;
          }
          settled = adopted = true;
          clearTimeout(timer);
          this.#probe = null;
          this.#fails = 0;
          probeGeneration = host._adopt(probe!, factory.name, frame.result as ConnectResult, subs);
          // Frames after the reply in the same message belong to the new connection.
          const rest = frames.slice(i + 1);
          if (rest.length > 0 && probeGeneration === host._generation) host._receive(rest);
          return;
        }
      },
      onClose: (code, reason) => {
        if (adopted) {
          if (probeGeneration === host._generation) host._closed(code, reason);
          return;
        }
        fail(`closed ${code} ${reason}`);
      },
      onRefused: (text) => {
        if (adopted && probeGeneration === host._generation) this.#outbox.refuse(text);
      },
    });
    probe = opened;
    if (settled) {
      opened.close(CloseCode.Normal, '');
      return;
    }
    this.#probe = opened;
    timer = startTimer(() => fail('no connect reply in time'), this.#config.timeout);
    if (openedEarly) sendConnect();
  }
}
