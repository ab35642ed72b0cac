/**
 * Notifications: send one (as a backend would, with POST /api/v1/notify) and read the
 * recent ones of a user.
 */
import { useState, type FormEvent } from 'react';
import { NOTIFICATION_PRIORITIES, NOTIFICATION_TYPES, type Notification, type NotificationPriority, type NotificationType } from '@tidings/protocol';
import { api, ApiError } from '../lib/api.js';
import { formatAgo, formatTime } from '../lib/format.js';
import { useResource } from '../lib/use-resource.js';
import { Empty, ErrorState, Freshness, Loading, Panel } from '../components/states.js';

function SendForm({ onSent }: { onSent(user: string): void }) {
  const [user, setUser] = useState('');
  const [type, setType] = useState<NotificationType>('info');
  const [priority, setPriority] = useState<NotificationPriority>('normal');
  const [title, setTitle] = useState('');
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | undefined>();
  const [invalid, setInvalid] = useState<{ user?: boolean; title?: boolean }>({});

  async function submit(event: FormEvent) {
    event.preventDefault();
    const missing = { user: user.trim() === '', title: title.trim() === '' };
    setInvalid(missing);
    if (missing.user || missing.title) {
      setResult({ ok: false, text: missing.user && missing.title ? 'Enter a recipient and a title.' : missing.user ? 'Enter the recipient’s user id.' : 'Enter a title.' });
      return;
    }
    setBusy(true);
    setResult(undefined);
    try {
      const r = await api.notify({ user: user.trim(), type, priority, title: title.trim(), ...(message.trim() ? { message: message.trim() } : {}) });
      const n = r.notifications[0];
      setResult({ ok: true, text: `Sent to ${user.trim()}${n ? ` (${n.id})` : ''}. It is stored, and delivered live to any of their open connections.` });
      setTitle('');
      setMessage('');
      onSent(user.trim());
    } catch (err) {
      setResult({ ok: false, text: `${(err as Error).message}${err instanceof ApiError ? ` (${err.code})` : ''}` });
    } finally {
      setBusy(false);
    }
  }

  return (
    <Panel id="send" title="Send a notification">
      <form className="form" onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor="notify-user">Recipient (user id)</label>
          <input id="notify-user" value={user} onChange={(e) => setUser(e.target.value)} autoComplete="off" spellCheck={false} required aria-invalid={invalid.user || undefined} />
        </div>
        <div className="field-row">
          <div className="field">
            <label htmlFor="notify-type">Type</label>
            <select id="notify-type" value={type} onChange={(e) => setType(e.target.value as NotificationType)}>
              {NOTIFICATION_TYPES.map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="notify-priority">Priority</label>
            <select id="notify-priority" value={priority} onChange={(e) => setPriority(e.target.value as NotificationPriority)}>
              {NOTIFICATION_PRIORITIES.map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          </div>
        </div>
        <div className="field">
          <label htmlFor="notify-title">Title</label>
          <input id="notify-title" value={title} onChange={(e) => setTitle(e.target.value)} maxLength={200} required aria-invalid={invalid.title || undefined} />
        </div>
        <div className="field">
          <label htmlFor="notify-message">
            Message <span className="muted">(optional)</span>
          </label>
          <textarea id="notify-message" rows={3} value={message} onChange={(e) => setMessage(e.target.value)} />
        </div>
        {result && (
          <div className={`notice ${result.ok ? 'notice-ok' : 'notice-error'}`} role={result.ok ? 'status' : 'alert'} data-testid="notify-result">
            {result.text}
          </div>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Sending…' : 'Send notification'}
        </button>
      </form>
    </Panel>
  );
}

function NotificationList({ user, version }: { user: string; version: number }) {
  const list = useResource(() => api.notifications(user, 20), [user, version], { enabled: user !== '' });
  if (user === '') return <Empty title="Choose a user to see their notifications." icon="✉" />;
  if (list.loading) return <Loading label={`Loading ${user}’s notifications…`} />;
  if (list.error && !list.data) return <ErrorState error={list.error} onRetry={list.reload} />;
  const items = list.data?.notifications ?? [];
  return (
    <>
      <div className="row row-between">
        <p className="small">
          <b>{user}</b>: {list.data?.unread ?? 0} unread of {list.data?.total ?? 0}
        </p>
        <div className="row">
          <Freshness updatedAt={list.updatedAt} refreshing={list.refreshing} onRefresh={list.reload} />
        </div>
      </div>
      {items.length === 0 ? (
        <Empty title={`${user} has no notifications.`} icon="✉">
          Send one with the form.
        </Empty>
      ) : (
        <ul className="notif-list" data-testid="notification-list">
          {items.map((n: Notification) => (
            <li key={n.id} className={`notif${n.read ? '' : ' notif-unread'}`}>
              <div className="row row-between">
                <span>
                  <span className={`badge badge-type-${n.type}`}>{n.type}</span> {n.priority !== 'normal' && <span className={`badge badge-priority-${n.priority}`}>{n.priority}</span>}{' '}
                  <b>{n.title}</b>
                </span>
                <span className="small muted" title={formatTime(n.createdAt)}>
                  {formatAgo(n.createdAt)}
                </span>
              </div>
              {n.message && <p className="small">{n.message}</p>}
              <p className="small muted">
                {n.read ? `Read ${formatAgo(n.readAt)}` : 'Unread'} · <span className="mono">{n.id}</span>
              </p>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

export function Notifications() {
  const [text, setText] = useState('');
  const [user, setUser] = useState('');
  const [version, setVersion] = useState(0);

  function show(event: FormEvent) {
    event.preventDefault();
    setUser(text.trim());
    setVersion((v) => v + 1);
  }

  return (
    <>
      <div className="page-head">
        <h1 tabIndex={-1} className="page-title">
          Notifications
        </h1>
        <p className="muted small">Durable notifications: stored first, then delivered live on the user’s personal channel.</p>
      </div>
      <div className="grid-2">
        <SendForm
          onSent={(u) => {
            setText(u);
            setUser(u);
            setVersion((v) => v + 1);
          }}
        />
        <Panel id="recent" title="Recent notifications">
          <form className="search-row" onSubmit={show} role="search">
            <label htmlFor="notif-user" className="sr-only">
              User id
            </label>
            <input id="notif-user" placeholder="User id" value={text} onChange={(e) => setText(e.target.value)} autoComplete="off" spellCheck={false} />
            <button type="submit" className="btn">
              Show
            </button>
          </form>
          <NotificationList user={user} version={version} />
        </Panel>
      </div>
    </>
  );
}
