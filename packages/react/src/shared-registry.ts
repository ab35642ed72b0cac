/**
 * Client objects shared by every hook of one client under one key (activity feeds, job
 * progress trackers), counted by reference like channel subscriptions: the last release
 * closes the object after `releaseDelay` ms (a macrotask even at 0), so StrictMode's
 * mount → unmount → mount and a remount within the delay reuse it.
 */
import { startTimer, type Tidings } from '@tidings/client';

interface Closable {
  close(): void;
}

interface Entry {
  readonly value: Closable;
  refs: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const registries = new WeakMap<Tidings, Map<string, Entry>>();

/** A hook's hold on a shared object. */
export interface SharedLease<T> {
  readonly value: T;
  /** Gives the hold back; calling it again does nothing. */
  release(): void;
}

/** Takes a reference to the object under `key`, made with `create` when nobody holds one. */
export function acquireShared<T extends Closable>(client: Tidings, key: string, create: () => T, releaseDelay: number): SharedLease<T> {
  let map = registries.get(client);
  if (!map) registries.set(client, (map = new Map()));
  let entry = map.get(key);
  if (!entry) map.set(key, (entry = { value: create(), refs: 0, timer: undefined }));
  clearTimeout(entry.timer);
  entry.timer = undefined;
  entry.refs++;
  const held = entry;
  const entries = map;
  let released = false;
  return {
    value: held.value as T,
    release() {
      if (released) return;
      released = true;
      if (--held.refs > 0) return;
      held.timer = startTimer(() => {
        if (held.refs > 0 || entries.get(key) !== held) return;
        entries.delete(key);
        held.value.close();
      }, releaseDelay);
    },
  };
}
