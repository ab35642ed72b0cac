/**
 * Internal React glue shared by the hooks: one store per component and key, and a layout
 * effect that is quiet during server rendering.
 */
import { useEffect, useLayoutEffect, useState } from 'react';

/**
 * The store for `key`, made once per component with `create` and made again when an entry
 * of `key` changes (compared with `Object.is`). Making a store has no side effects, so the
 * extra ones React makes and drops (StrictMode, interrupted renders) cost nothing.
 */
export function useKeyedStore<T>(key: readonly unknown[], create: () => T): T {
  const [held, setHeld] = useState(() => ({ key, store: create() }));
  if (sameKey(held.key, key)) return held.store;
  // Storing a value derived from props during render: React re-renders this component at
  // once with the new store, before committing anything.
  const next = { key, store: create() };
  setHeld(next);
  return next.store;
}

function sameKey(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

/** `useLayoutEffect` in the browser, `useEffect` on the server (where neither runs). */
export const useIsomorphicLayoutEffect: typeof useLayoutEffect = typeof document !== 'undefined' ? useLayoutEffect : useEffect;
