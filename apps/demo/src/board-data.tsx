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
  /** Ids of the tasks deleted while this page was open (a list fetched in flight may still hold them). */
  deleted: ReadonlySet<string>;
  /** Takes a deleted task off the list. */
  remove(id: string): void;
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
  const [deleted, setDeleted] = useState<ReadonlySet<string>>(() => new Set());
  const put = useCallback((task: Task) => setTasks((m) => merge(m, [task])), []);
  const remove = useCallback((id: string) => {
    setDeleted((s) => (s.has(id) ? s : new Set(s).add(id)));
    setTasks((m) => {
      if (!m.has(id)) return m;
      const next = new Map(m);
      next.delete(id);
      return next;
    });
  }, []);

  const { state } = useChannel<BoardEvent>(BOARD_CHANNEL, {
    onPublication: ({ data, info }) => {
      // Only the backend publishes the board; a publication with a client's info is not its.
      if (info) return;
      if (data?.kind === 'task') put(data.task);
      else if (data?.kind === 'deleted') remove(data.taskId);
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

  const value = useMemo<BoardData>(
    () => ({ tasks: [...tasks.values()].filter((t) => !deleted.has(t.id)).sort((a, b) => a.createdAt - b.createdAt), loading, error, put, deleted, remove }),
    [tasks, loading, error, put, deleted, remove],
  );
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
