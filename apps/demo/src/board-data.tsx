/**
 * The board's tasks, shared by the list and the task page: loaded from the demo backend,
 * kept live by `feed:board`. Loaded again each time the channel is (re)subscribed, so a
 * reconnect never leaves the list stale even if recovery could not fill the gap; copies
 * that cross in flight are merged by `version`.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useChannel } from '@tidings/react';
import { api, BOARD_CHANNEL, type BoardEvent, type Task } from './api.js';

interface BoardData {
  tasks: readonly Task[];
  loading: boolean;
  error: string | null;
  /** Puts a task the backend answered with into the list (the publication may come later). */
  put(task: Task): void;
}

const BoardContext = createContext<BoardData | null>(null);

function merge(current: Map<string, Task>, incoming: readonly Task[]): Map<string, Task> {
  let next: Map<string, Task> | null = null;
  for (const task of incoming) {
    const known = (next ?? current).get(task.id);
    if (known && known.version >= task.version) continue;
    next ??= new Map(current);
    next.set(task.id, task);
  }
  return next ?? current;
}

export function BoardProvider({ children }: { children: ReactNode }) {
  const [tasks, setTasks] = useState<Map<string, Task>>(() => new Map());
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const put = useCallback((task: Task) => setTasks((m) => merge(m, [task])), []);

  const { state } = useChannel<BoardEvent>(BOARD_CHANNEL, {
    onPublication: ({ data, info }) => {
      // Only the backend publishes the board; a publication with a client's info is not its.
      if (info || data?.kind !== 'task') return;
      put(data.task);
    },
  });

  // Load at once, and again after every (re)subscribe.
  const round = useLoadRounds(state === 'subscribed');
  useEffect(() => {
    let live = true;
    api<{ tasks: Task[] }>('GET', '/tasks').then(
      ({ tasks: list }) => {
        if (!live) return;
        setTasks((m) => merge(m, list));
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (!live) return;
        setError(err instanceof Error ? err.message : String(err));
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [round]);

  const value = useMemo<BoardData>(() => ({ tasks: [...tasks.values()].sort((a, b) => a.createdAt - b.createdAt), loading, error, put }), [tasks, loading, error, put]);
  return <BoardContext.Provider value={value}>{children}</BoardContext.Provider>;
}

export function useBoard(): BoardData {
  const value = useContext(BoardContext);
  if (!value) throw new Error('useBoard() must be used inside <BoardProvider>');
  return value;
}

/**
 * A number that grows each time `subscribed` turns true: data loaded from the backend in an
 * effect keyed on it is loaded at mount and again after every reconnect.
 */
export function useLoadRounds(subscribed: boolean): number {
  const [round, setRound] = useState(0);
  useEffect(() => {
    if (subscribed) setRound((r) => r + 1);
  }, [subscribed]);
  return round;
}
