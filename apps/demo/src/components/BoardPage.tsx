/**
 * The board: a column per status, a form to add a task, and on each card a select to
 * move it. Everyone's changes show up live (through `feed:board`).
 */
import { useState, type FormEvent } from 'react';
import { useUnreadCount } from '@tidings/react';
import { api, commentsChannel, STATUS_LABELS, STATUSES, type Task, type TaskStatus } from '../api.js';
import { useBoard } from '../board-data.js';
import { Link } from '../router.js';

export function BoardPage() {
  const { tasks, loading, error } = useBoard();
  return (
    <section className="board" aria-labelledby="board-heading">
      <div className="page-head">
        <h1 id="board-heading">Team board</h1>
        <NewTask />
      </div>
      {error && (
        <p className="inline-error" role="alert">
          Could not load the board: {error}
        </p>
      )}
      <div className="columns">
        {STATUSES.map((status) => {
          const column = tasks.filter((t) => t.status === status);
          return (
            <section key={status} className={`column column-${status}`} aria-labelledby={`col-${status}`}>
              <h2 id={`col-${status}`}>
                {STATUS_LABELS[status]} <span className="count">{column.length}</span>
              </h2>
              {loading && tasks.length === 0 ? (
                <p className="empty">Loading…</p>
              ) : column.length === 0 ? (
                <p className="empty">No tasks here.</p>
              ) : (
                <ul className="cards" data-testid={`column-${status}`}>
                  {column.map((task) => (
                    <TaskCard key={task.id} task={task} />
                  ))}
                </ul>
              )}
            </section>
          );
        })}
      </div>
    </section>
  );
}

function TaskCard({ task }: { task: Task }) {
  const { put } = useBoard();
  const [failure, setFailure] = useState<string | null>(null);
  const move = (status: TaskStatus) => {
    setFailure(null);
    api<{ task: Task }>('PATCH', `/tasks/${task.id}`, { status }).then(
      ({ task: t }) => put(t),
      (err: Error) => setFailure(err.message),
    );
  };
  return (
    <li className="card" data-task-id={task.id}>
      <Link to={`/tasks/${task.id}`} className="card-title">
        {task.title}
      </Link>
      <div className="card-meta">
        <UnreadBadge taskId={task.id} />
        <label className="move">
          <span className="visually-hidden">Status of “{task.title}”</span>
          <select value={task.status} onChange={(e) => move(e.target.value as TaskStatus)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {STATUS_LABELS[s]}
              </option>
            ))}
          </select>
        </label>
      </div>
      {failure && (
        <p className="inline-error" role="alert">
          {failure}
        </p>
      )}
    </li>
  );
}

function NewTask() {
  const { put } = useBoard();
  const [title, setTitle] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const text = title.trim();
    if (!text) return;
    setBusy(true);
    setFailure(null);
    api<{ task: Task }>('POST', '/tasks', { title: text })
      .then(({ task }) => {
        put(task);
        setTitle('');
      })
      .catch((err: Error) => setFailure(err.message))
      .finally(() => setBusy(false));
  };
  return (
    <form className="new-task" onSubmit={submit}>
      <label htmlFor="new-task-title" className="visually-hidden">
        New task title
      </label>
      <input id="new-task-title" value={title} onChange={(e) => setTitle(e.target.value)} placeholder="Add a task…" maxLength={120} autoComplete="off" />
      <button type="submit" disabled={busy || title.trim() === ''}>
        Add task
      </button>
      {failure && (
        <p className="inline-error" role="alert">
          {failure}
        </p>
      )}
    </form>
  );
}

/** New comments on the task since this user last read them (on any device): `useUnreadCount`. */
function UnreadBadge({ taskId }: { taskId: string }) {
  // Subscribes to the task's comments channel, which has no presence: the board is not "viewing" the task.
  const unread = useUnreadCount(commentsChannel(taskId));
  if (!unread) return <span />;
  const text = unread > 99 ? '99+' : String(unread);
  return (
    <span className="unread" data-testid="unread" aria-label={`${unread} new comment${unread === 1 ? '' : 's'}`}>
      {text} new
    </span>
  );
}
