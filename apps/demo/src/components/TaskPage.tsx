/**
 * One task: its title, description and status (editable by anyone, live for everyone),
 * who is viewing it now, its summary and its comments.
 */
import { useEffect, useRef, useState, type FormEvent, type ReactNode, type RefObject } from 'react';
import { api, STATUS_LABELS, STATUSES, type Person, type Task, type TaskStatus } from '../api.js';
import { useBoard } from '../board-data.js';
import { Link } from '../router.js';
import { Comments } from './Comments.js';
import { Summary } from './Summary.js';
import { Viewers } from './Viewers.js';

export function TaskPage({ id, me }: { id: string; me: Person }) {
  const { tasks, loading } = useBoard();
  const task = tasks.find((t) => t.id === id);
  const heading = useRef<HTMLHeadingElement>(null);
  // Focus the page's heading on arrival, so keyboard and screen reader users start there.
  useEffect(() => heading.current?.focus(), [id, task !== undefined]);

  if (!task) {
    return (
      <section className="task-page">
        <Link to="/" className="back">
          ← Board
        </Link>
        <h1 ref={heading} tabIndex={-1}>
          {loading ? 'Loading…' : 'Task not found'}
        </h1>
        {!loading && <p className="empty">This task does not exist (the demo keeps tasks in memory: a restart of the server clears them).</p>}
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
