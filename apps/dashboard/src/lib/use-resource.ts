/**
 * Loads something from the server API and keeps it fresh: `reload()` on demand, and
 * optionally every `refreshMs` while the page is visible. The last good data stays on
 * screen while a refresh runs or fails, so panels never go blank.
 */
import { useCallback, useEffect, useRef, useState } from 'react';

export interface Resource<T> {
  data: T | undefined;
  error: Error | undefined;
  /** True until the first answer (good or bad) arrived. */
  loading: boolean;
  /** True while any request runs. */
  refreshing: boolean;
  /** When the data was last loaded, ms. */
  updatedAt: number | undefined;
  reload(): void;
}

export function useResource<T>(load: () => Promise<T>, deps: readonly unknown[], options: { refreshMs?: number; enabled?: boolean } = {}): Resource<T> {
  const { refreshMs, enabled = true } = options;
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean; refreshing: boolean; updatedAt?: number }>({ loading: enabled, refreshing: false });
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, refreshing: true }));
    loadRef.current().then(
      (data) => {
        if (mine === generation.current) setState({ data, error: undefined, loading: false, refreshing: false, updatedAt: Date.now() });
      },
      (error: Error) => {
        if (mine === generation.current) setState((s) => ({ ...s, error, loading: false, refreshing: false }));
      },
    );
  }, []);

  useEffect(() => {
    if (!enabled) {
      generation.current++;
      setState({ loading: false, refreshing: false });
      return;
    }
    // New inputs: what was shown belongs to the old ones.
    setState({ loading: true, refreshing: false });
    run();
    if (!refreshMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') run();
    }, refreshMs);
    return () => clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [enabled, refreshMs, run, ...deps]);

  return { data: state.data, error: state.error, loading: state.loading, refreshing: state.refreshing, updatedAt: state.updatedAt, reload: run };
}
