/**
 * The listener mechanism behind every hook, shaped for `useSyncExternalStore`: a cached
 * snapshot, listeners, and a start/stop pair that runs when the first listener arrives and
 * the last one leaves.
 *
 * A store does nothing when it is made: React may make one during a render and throw it
 * away (StrictMode renders twice), so all work against the client starts in `start()`,
 * which React reaches through `subscribe` once the component is committed.
 */
export abstract class Store<S extends object> {
  readonly #listeners = new Set<() => void>();
  #snapshot: S | undefined;

  /** For `useSyncExternalStore`: adds a listener and returns the function that removes it. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.start();
    return () => {
      if (!this.#listeners.delete(listener)) return;
      if (this.#listeners.size === 0) this.stop();
    };
  };

  /** For `useSyncExternalStore`: the same object until something the hook returns changed. */
  readonly getSnapshot = (): S => {
    this.#snapshot ??= this.compute();
    return this.#snapshot;
  };

  /** Builds the snapshot from the current state. */
  protected abstract compute(): S;

  /** The first listener arrived: start listening to the client. */
  protected abstract start(): void;

  /** The last listener left: stop listening and release what `start` took. */
  protected abstract stop(): void;

  /** Recomputes the snapshot and tells the listeners when any of its fields changed. */
  protected changed(): void {
    const next = this.compute();
    if (this.#snapshot !== undefined && shallowEqual(this.#snapshot, next)) return;
    this.#snapshot = next;
    for (const listener of [...this.#listeners]) listener();
  }
}

/** True when both objects have the same keys holding identical (`Object.is`) values. */
export function shallowEqual(a: object, b: object): boolean {
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  for (const key of keysA) {
    if (!Object.prototype.hasOwnProperty.call(b, key)) return false;
    if (!Object.is((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
  }
  return true;
}
