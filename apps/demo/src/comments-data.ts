/**
 * A task's comments: the backend keeps them all; `task:<id>` carries new ones and
 * reaction changes live (with recovery after a reconnect). The list is loaded again after
 * every (re)subscribe, so nothing is missing even when recovery cannot fill a gap, and
 * copies are merged by id and `version`.
 */
import { useCallback, useEffect, useState } from 'react';
import { useChannel } from '@tidings/react';
import { api, taskChannel, type Comment, type TaskEvent } from './api.js';
import { useLoadRounds } from './board-data.js';

function mergeComments(current: readonly Comment[], incoming: readonly Comment[]): readonly Comment[] {
  const byId = new Map(current.map((c) => [c.id, c]));
  let changed = false;
  for (const c of incoming) {
    const known = byId.get(c.id);
    if (known && known.version >= c.version) continue;
    byId.set(c.id, c);
    changed = true;
  }
  if (!changed) return current;
  return [...byId.values()].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
}

function applyReactions(current: readonly Comment[], commentId: string, reactions: Record<string, string[]>, version: number): readonly Comment[] {
  const at = current.findIndex((c) => c.id === commentId);
  if (at === -1 || current[at]!.version >= version) return current;
  const next = [...current];
  next[at] = { ...current[at]!, reactions, version };
  return next;
}

export function useComments(taskId: string) {
  const [comments, setComments] = useState<readonly Comment[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);

  const { state } = useChannel<TaskEvent>(taskChannel(taskId), {
    onPublication: ({ data, info }) => {
      // Clients may publish in task channels (typing lives there too); comments come from the backend only.
      if (info || typeof data !== 'object' || data === null) return;
      if (data.kind === 'comment') setComments((list) => mergeComments(list, [data.comment]));
      else if (data.kind === 'reactions') setComments((list) => applyReactions(list, data.commentId, data.reactions, data.version));
    },
  });

  const round = useLoadRounds(state === 'subscribed');
  useEffect(() => {
    let live = true;
    api<{ comments: Comment[] }>('GET', `/tasks/${taskId}/comments`).then(
      ({ comments: list }) => {
        if (!live) return;
        setComments((current) => mergeComments(current, list));
        setError(null);
        setLoading(false);
      },
      (err: Error) => {
        if (!live) return;
        setError(err.message);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [taskId, round]);

  /** Puts what the backend answered into the list (its publication may come later). */
  const put = useCallback((comment: Comment) => setComments((list) => mergeComments(list, [comment])), []);
  const putReactions = useCallback(
    (commentId: string, reactions: Record<string, string[]>, version: number) => setComments((list) => applyReactions(list, commentId, reactions, version)),
    [],
  );
  return { comments, loading, error, put, putReactions };
}
