/**
 * The board's activity feed (scope `board`): who created, edited, moved, commented on or
 * summarized which task, newest first, live. Entries are appended by the demo backend
 * with `tidings.activity.append()`; this panel reads them through Tidings.
 */
import type { Activity } from '@tidings/protocol';
import { ACTIVITY_SCOPE } from '../api.js';
import { useActivityFeed } from '@tidings/react';
import { Link } from '../router.js';
import { ago, exactOf, isoOf, useNow } from '../time.js';
import { Avatar } from './Avatar.js';

interface Actor {
  id: string;
  name: string;
}

function actorOf(a: Activity): Actor {
  const actor = a.actor as Partial<Actor> | string | undefined;
  if (typeof actor === 'string') return { id: actor, name: actor };
  return { id: actor?.id ?? 'someone', name: actor?.name ?? actor?.id ?? 'Someone' };
}

function describe(a: Activity): string {
  const data = (a.data ?? {}) as { label?: string; fields?: string[] };
  switch (a.action) {
    case 'created':
      return 'created';
    case 'moved':
      return data.label ? `moved to ${data.label}:` : 'moved';
    case 'edited':
      return data.fields?.length ? `edited the ${data.fields.join(' and ')} of` : 'edited';
    case 'commented':
      return 'commented on';
    case 'summarized':
      return 'summarized';
    default:
      return a.action;
  }
}

export function ActivityPanel() {
  const { items, loading, error } = useActivityFeed(ACTIVITY_SCOPE, { limit: 20 });
  const now = useNow();
  return (
    <section className="panel activity" aria-labelledby="activity-heading">
      <h2 id="activity-heading">Activity</h2>
      {loading && items.length === 0 ? (
        <p className="empty">Loading…</p>
      ) : error && items.length === 0 ? (
        <p className="empty">The activity feed is unavailable: {error.message}</p>
      ) : items.length === 0 ? (
        <p className="empty">No activity yet. Create or move a task and it shows up here for everyone.</p>
      ) : (
        <ol className="activity-list" aria-live="polite" aria-relevant="additions" data-testid="activity">
          {items.map((a) => {
            const actor = actorOf(a);
            const target = a.target as { id?: string; title?: string } | undefined;
            return (
              <li key={a.id}>
                <Avatar id={actor.id} name={actor.name} size="sm" />
                <p>
                  <strong>{actor.name}</strong> {describe(a)} {target?.id ? <Link to={`/tasks/${target.id}`}>{target.title ?? 'a task'}</Link> : <span>{target?.title ?? ''}</span>}
                  {a.action === 'commented' && typeof (a.data as { excerpt?: unknown } | undefined)?.excerpt === 'string' && (
                    <q className="excerpt">{(a.data as { excerpt: string }).excerpt}</q>
                  )}
                  <time dateTime={isoOf(a.createdAt)} title={exactOf(a.createdAt)}>
                    {ago(a.createdAt, now)}
                  </time>
                </p>
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}
