/**
 * The notification bell: the unread count as a badge (capped at "99+"), and a dropdown
 * with the newest notifications, each one openable and markable read, plus "Mark all
 * read". Read state comes from Tidings, so every tab and device of the user agrees.
 *
 * Keyboard: the bell is a button (Enter/Space toggles) and the panel follows it in tab
 * order; Escape closes the panel and gives focus back to the bell; focus leaving the
 * panel closes it.
 */
import { useEffect, useId, useRef, useState } from 'react';
import { useNotifications, type NotificationItem } from '@tidings/react';
import { navigate } from '../router.js';
import { ago, exactOf, isoOf, useNow } from '../time.js';

/** Seed 000: the badge never grows past three characters. */
export function badgeText(unread: number): string {
  return unread > 99 ? '99+' : String(unread);
}

type MentionData = { taskId?: string; commentId?: string };

export function NotificationBell() {
  const { items, unreadCount, loading, error, markRead, markAllRead } = useNotifications<MentionData>();
  const [open, setOpen] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const panelId = useId();
  const bell = useRef<HTMLButtonElement>(null);
  const panel = useRef<HTMLDivElement>(null);
  const now = useNow();

  useEffect(() => {
    if (!open) return;
    const onDown = (event: PointerEvent) => {
      const target = event.target as Node;
      if (!panel.current?.contains(target) && !bell.current?.contains(target)) setOpen(false);
    };
    // Escape closes it wherever focus is (it may be on the page after a button went away).
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== 'Escape') return;
      setOpen(false);
      bell.current?.focus();
    };
    document.addEventListener('pointerdown', onDown);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('pointerdown', onDown);
      document.removeEventListener('keydown', onKey);
    };
  }, [open]);

  const attempt = (work: Promise<unknown>) => {
    setFailure(null);
    work.catch((err: unknown) => setFailure(err instanceof Error ? err.message : String(err)));
  };

  const openItem = (n: NotificationItem<MentionData>) => {
    if (!n.read) attempt(markRead(n.id));
    setOpen(false);
    if (n.data?.taskId) navigate(`/tasks/${n.data.taskId}${n.data.commentId ? `#${n.data.commentId}` : ''}`);
  };

  const label = unreadCount === 0 ? 'Notifications, none unread' : `Notifications, ${unreadCount} unread`;
  return (
    <div className="bell">
      <button
        ref={bell}
        type="button"
        className="icon-button bell-button"
        aria-label={label}
        aria-expanded={open}
        aria-controls={panelId}
        onClick={() => setOpen((o) => !o)}
        data-testid="bell"
      >
        <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">
          <path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z" fill="currentColor" />
        </svg>
        {unreadCount > 0 && (
          <span className="badge" data-testid="bell-badge" aria-hidden="true">
            {badgeText(unreadCount)}
          </span>
        )}
      </button>
      <div
        ref={panel}
        id={panelId}
        className="bell-panel"
        role="region"
        aria-label="Notifications"
        hidden={!open}
        onBlur={(event) => {
          if (!event.currentTarget.contains(event.relatedTarget as Node | null) && event.relatedTarget !== bell.current) setOpen(false);
        }}
      >
        <div className="bell-head">
          <h2>Notifications</h2>
          <button type="button" className="link-button" onClick={() => attempt(markAllRead())} disabled={unreadCount === 0}>
            Mark all read
          </button>
        </div>
        {failure && (
          <p className="inline-error" role="alert">
            {failure}
          </p>
        )}
        {loading ? (
          <p className="empty">Loading…</p>
        ) : error && items.length === 0 ? (
          <p className="empty">Notifications are unavailable: {error.message}</p>
        ) : items.length === 0 ? (
          <p className="empty">Nothing yet. When someone mentions you (@name) in a comment, it shows up here.</p>
        ) : (
          <ul className="bell-list" data-testid="bell-list">
            {items.map((n) => (
              <li key={n.id} className={n.read ? 'read' : 'unread'}>
                <button type="button" className="bell-item" onClick={() => openItem(n)}>
                  <span className="bell-title">
                    {!n.read && <span className="visually-hidden">Unread: </span>}
                    {n.title}
                  </span>
                  {n.message && <span className="bell-message">{n.message}</span>}
                  <time dateTime={isoOf(n.createdAt)} title={exactOf(n.createdAt)}>
                    {ago(n.createdAt, now)}
                  </time>
                </button>
                {!n.read && (
                  <button
                    type="button"
                    className="link-button"
                    aria-label={`Mark read: ${n.title}`}
                    onClick={(event) => {
                      // This button goes away once read: keep focus on the notification.
                      (event.currentTarget.previousElementSibling as HTMLElement | null)?.focus();
                      attempt(markRead(n.id));
                    }}
                  >
                    Mark read
                  </button>
                )}
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}
