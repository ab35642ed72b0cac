/**
 * One task: its title, description and status (editable by anyone, live for everyone),
 * who is viewing it now, its summary and its comments.
 */
import { useEffect, useRef, useState, type FormEvent, type ReactNode, type RefObject } from 'react';
import { api, ApiError, STATUS_LABELS, STATUSES, type Person, type Task, type TaskStatus } from '../api.js';
import { useBoard } from '../board-data.js';
import { Link } from '../router.js';
import { Comments } from './Comments.js';
import { Summary } from './Summary.js';
import { Viewers } from './Viewers.js';

/** Why a task is not on the board: asked of the backend (`GET /tasks/:id`) when the list lacks it. */
type Absence = { state: 'checking' } | { state: 'deleted'; message: string } | { state: 'missing' } | { state: 'failed'; message: string };

function useAbsence(id: string, absent: boolean, deletedHere: boolean): Absence {
  const { put } = useBoard();
  const [absence, setAbsence] = useState<Absence>({ state: 'checking' });
  useEffect(() => {
    if (!absent) return;
    let live = true;
    setAbsence({ state: 'checking' });
    api<{ task: Task }>('GET', `/tasks/${id}`).then(
      ({ task }) => live && put(task),
      (err: unknown) => {
        if (!live) return;
        if (err instanceof ApiError && err.code === 'task_deleted') setAbsence({ state: 'deleted', message: err.message });
        else if (err instanceof ApiError && err.status === 404) setAbsence({ state: 'missing' });
        else setAbsence({ state: 'failed', message: err instanceof Error ? err.message : String(err) });
      },
    );
    return () => {
      live = false;
    };
  }, [id, absent, deletedHere, put]);
  return absence;
}

export function TaskPage({ id, me }: { id: string; me: Person }) {
  const { tasks, loading, deleted } = useBoard();
  const task = tasks.find((t) => t.id === id);
  const absence = useAbsence(id, !loading && !task, deleted.has(id));
  const heading = useRef<HTMLHeadingElement>(null);
  // Focus the page's heading on arrival, so keyboard and screen reader users start there.
  useEffect(() => heading.current?.focus(), [id, task !== undefined]);

  if (!task) {
    const shown: Absence = loading ? { state: 'checking' } : absence;
    return (
      <section className="task-page" data-testid="task-absent" data-state={shown.state}>
        <Link to="/" className="back">
          ← Board
        </Link>
        <h1 ref={heading} tabIndex={-1}>
          {shown.state === 'checking' ? 'Loading…' : shown.state === 'deleted' ? 'This task was deleted' : shown.state === 'missing' ? 'Task not found' : 'The task could not be loaded'}
        </h1>
        {shown.state === 'deleted' && <p className="empty">{shown.message}. Its comments went with it; the links to it in the activity feed and in notifications now lead here.</p>}
        {shown.state === 'missing' && <p className="empty">There is no task with the id “{id}” on this board. Check the link, or go back to the board.</p>}
        {shown.state === 'failed' && (
          <p className="inline-error" role="alert">
            {shown.message}
          </p>
        )}
      </section>
    );
  }
  return (
    <article className="task-page" aria-labelledby="task-title">
      <Link to="/" className="back">
        ← Board
      </Link>
      <TaskHeader task={task} headingRef={heading}>
        <Viewers taskId={task.id} me={me.id} />
      </TaskHeader>
      <Summary task={task} />
      <Comments taskId={task.id} me={me} />
    </article>
  );
}

function TaskHeader({ task, headingRef, children }: { task: Task; headingRef: RefObject<HTMLHeadingElement | null>; children: ReactNode }) {
  const { put } = useBoard();
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(task.title);
  const [description, setDescription] = useState(task.description);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const editButton = useRef<HTMLButtonElement>(null);
  const titleInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (editing) titleInput.current?.focus();
  }, [editing]);

  const save = (patch: Partial<Pick<Task, 'title' | 'description' | 'status'>>) => {
    setBusy(true);
    setFailure(null);
    return api<{ task: Task }>('PATCH', `/tasks/${task.id}`, patch)
      .then(({ task: t }) => {
        put(t);
        return true;
      })
      .catch((err: Error) => {
        setFailure(err.message);
        return false;
      })
      .finally(() => setBusy(false));
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void save({ title: title.trim(), description: description.trim() }).then((ok) => {
      if (!ok) return;
      setEditing(false);
      editButton.current?.focus();
    });
  };

  const startEditing = () => {
    setTitle(task.title);
    setDescription(task.description);
    setEditing(true);
  };

  return (
    <header className="task-head">
      {editing ? (
        <form className="edit-task" onSubmit={submit} onKeyDown={(e) => e.key === 'Escape' && setEditing(false)}>
          <label htmlFor="edit-title">Title</label>
          <input id="edit-title" ref={titleInput} value={title} maxLength={120} onChange={(e) => setTitle(e.target.value)} required />
          <label htmlFor="edit-description">Description</label>
          <textarea id="edit-description" value={description} maxLength={2000} rows={4} onChange={(e) => setDescription(e.target.value)} />
          <div className="row">
            <button type="submit" disabled={busy || title.trim() === ''}>
              Save
            </button>
            <button type="button" className="secondary" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <>
          <div className="title-row">
            <h1 id="task-title" ref={headingRef} tabIndex={-1}>
              {task.title}
            </h1>
            <button ref={editButton} type="button" className="secondary" onClick={startEditing}>
              Edit
            </button>
          </div>
          {task.description ? <p className="description">{task.description}</p> : <p className="empty">No description.</p>}
        </>
      )}
      <div className="task-meta">
        <label htmlFor="task-status">Status</label>
        <select id="task-status" value={task.status} disabled={busy} onChange={(e) => void save({ status: e.target.value as TaskStatus })}>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {STATUS_LABELS[s]}
            </option>
          ))}
        </select>
        <span className="created">Created by {task.createdBy.name}</span>
        <DeleteTask task={task} />
      </div>
      {failure && (
        <p className="inline-error" role="alert">
          {failure}
        </p>
      )}
      {children}
    </header>
  );
}

/** Delete, after a confirmation; the page then says the task was deleted (as it does for everyone viewing it). */
function DeleteTask({ task }: { task: Task }) {
  const { remove } = useBoard();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  if (!confirming)
    return (
      <button type="button" className="secondary" onClick={() => setConfirming(true)}>
        Delete
      </button>
    );
  const run = () => {
    setBusy(true);
    setFailure(null);
    api('DELETE', `/tasks/${task.id}`).then(
      () => remove(task.id),
      (err: Error) => {
        setFailure(err.message);
        setBusy(false);
      },
    );
  };
  return (
    <span className="confirm-delete" role="group" aria-label="Delete this task">
      Delete “{task.title}” and its comments?{' '}
      <button type="button" onClick={run} disabled={busy}>
        Delete task
      </button>{' '}
      <button type="button" className="secondary" onClick={() => setConfirming(false)} disabled={busy}>
        Cancel
      </button>
      {failure && (
        <span className="inline-error" role="alert">
          {' '}
          {failure}
        </span>
      )}
    </span>
  );
}
