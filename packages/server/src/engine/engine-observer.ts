/**
 * What an engine reports about its own work, for metrics: how long its round trips to its
 * server take, what failed, reconnects, the pub/sub channels it holds. The composition root
 * hands an observer in (ops/engine-metrics.ts's EngineMetrics is one); engine/ never imports ops/.
 *
 * `observeEngine(engine, observer, classify)` times every call of an engine's parts that returns
 * a promise (except the NodeBus's requests, which wait for other nodes, not for the server) and
 * counts its failures by kind, so an implementation only classifies its client's errors and
 * reports reconnects. The memory engine has nothing to report and is not observed.
 */
import type { Engine, EngineStatus } from './engine.js';

/** Operations timed, a small fixed set (a metric label). */
export const ENGINE_OPS = ['publish', 'history', 'subscribe', 'presence', 'user_status', 'occupancy', 'typing', 'progress', 'bus', 'limits'] as const;
export type EngineOp = (typeof ENGINE_OPS)[number];

/**
 * Kinds of engine failure (a metric label): the server could not be reached or the connection is
 * down (`connection`), a call outlasted its bound (`timeout`), the server answered with an error
 * (`reply`, a failed command or script), a pub/sub message that could not be decoded (`bad_message`).
 */
export const ENGINE_ERROR_KINDS = ['connection', 'timeout', 'reply', 'bad_message'] as const;
export type EngineErrorKind = (typeof ENGINE_ERROR_KINDS)[number];

/** Every method is optional and must not throw (the engine calls them on its hot paths). */
export interface EngineObserver {
  /** A round trip to the engine's server took `seconds` (from the call to its answer). */
  operation?(op: EngineOp, seconds: number): void;
  /** Something failed, by kind. */
  error?(kind: EngineErrorKind): void;
  /** A connection to the engine's server was lost and is being opened again. */
  reconnect?(): void;
  /** Where to read, when asked, how many pub/sub channels this node holds on the server. */
  pubsubChannels?(read: () => number): void;
}

/** An engine's verdict on an error thrown by one of its calls: a kind, or undefined when it is not the engine's failure (a full budget, a bad argument). */
export type EngineErrorClassifier = (error: unknown) => EngineErrorKind | undefined;

const BROKER_OPS: Readonly<Record<string, EngineOp>> = {
  publish: 'publish',
  publishControl: 'publish',
  history: 'history',
  position: 'history',
  removeHistory: 'history',
  subscribe: 'subscribe',
  unsubscribe: 'subscribe',
};

/** Calls that are not round trips to the server: closing, joining, and bus requests (they wait for other nodes' answers). */
const UNTIMED = new Set<PropertyKey>(['close', 'start', 'request', 'requestAll']);

function report(fn: (() => void) | undefined): void {
  try {
    fn?.();
  } catch {
    // An observer must not break the engine.
  }
}

/**
 * `part` with every promise-returning method timed as `op(method)` (undefined: not timed) and its
 * failures classified. Methods run on `part` itself, so its private state is untouched.
 */
function observePart<T extends object>(part: T, op: (method: string) => EngineOp | undefined, observer: EngineObserver, classify: EngineErrorClassifier): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(part, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || typeof prop === 'symbol' || UNTIMED.has(prop)) return typeof value === 'function' ? value.bind(target) : value;
      const cached = wrapped.get(prop);
      if (cached !== undefined) return cached;
      const name = op(prop);
      const method = value as (...args: unknown[]) => unknown;
      const timed =
        name === undefined
          ? method.bind(target)
          : (...args: unknown[]): unknown => {
              const start = performance.now();
              const failed = (err: unknown): never => {
                const kind = classify(err);
                if (kind !== undefined) report(() => observer.error?.(kind));
                else report(() => observer.operation?.(name, (performance.now() - start) / 1000));
                throw err;
              };
              let result: unknown;
              try {
                result = method.apply(target, args);
              } catch (err) {
                return failed(err);
              }
              if (typeof (result as PromiseLike<unknown> | undefined)?.then !== 'function') return result;
              return (result as Promise<unknown>).then((v) => {
                report(() => observer.operation?.(name, (performance.now() - start) / 1000));
                return v;
              }, failed);
            };
      wrapped.set(prop, timed);
      return timed;
    },
  });
}

/** The engine with its parts' calls timed and their failures counted on `observer`. */
export function observeEngine(engine: Engine, observer: EngineObserver, classify: EngineErrorClassifier): Engine {
  const all = (op: EngineOp) => () => op;
  const observed: Engine = {
    broker: observePart(engine.broker, (method) => BROKER_OPS[method], observer, classify),
    presence: observePart(engine.presence, all('presence'), observer, classify),
    userStatus: observePart(engine.userStatus, all('user_status'), observer, classify),
    ...(engine.occupancy ? { occupancy: observePart(engine.occupancy, all('occupancy'), observer, classify) } : {}),
    typing: observePart(engine.typing, all('typing'), observer, classify),
    progress: observePart(engine.progress, all('progress'), observer, classify),
    bus: observePart(engine.bus, all('bus'), observer, classify),
    limits: observePart(engine.limits, all('limits'), observer, classify),
    close: () => engine.close(),
  };
  if (engine.status) observed.status = (): EngineStatus => engine.status!();
  return observed;
}
