/**
 * The activity feed, live: stored entries from the API, then each new one as it is
 * published on its scope's channel `activity:<scope>`.
 *
 * By default it shows every scope: the server API's cross-scope listing
 * (`GET /api/v1/activity?scope=*`, newest first, paged), so an operator opening this
 * page sees the activity of app scopes (the demo board's `board`, ...) without knowing
 * their names. Live updates come from the channels of the scopes the dashboard knows of:
 * `global`, the scopes whose channel someone is subscribed to now (channel listing), the
 * scopes in the listing, and those this browser showed before (localStorage); the listing
 * itself is read again every few seconds for entries in any other scope. The Scope field
 * narrows the feed to one scope.
 */
import { useCallback, useEffect, useId, useMemo, useState, type FormEvent } from 'react';
import { useChannel } from '@tidings/react';
import type { Activity } from '@tidings/protocol';
import { api } from '../lib/api.js';
import { formatAgo, formatTime, preview } from '../lib/format.js';
import { useResource } from '../lib/use-resource.js';
import { Empty, ErrorState, Loading, Panel } from '../components/states.js';

/** The server's `activity.namespace` (its default). */
const ACTIVITY_NAMESPACE = 'activity';
const FEED_SIZE = 50;
/** Scope channels listened to at once in the "all scopes" view. */
const MAX_SCOPES = 20;
const DISCOVER_MS = 10_000;
/** The "all scopes" listing is read again this often: it catches entries of scopes not listened to. */
const REFRESH_ALL_MS = 5_000;
/** `GET /activity?scope=*`: every scope. */
const ALL_SCOPES = '*';
const REMEMBERED_KEY = 'tidings-dashboard:activity-scopes';
/** As the server checks scopes (features/activity.ts). */
const SCOPE_RE = /^[A-Za-z0-9_.@-]{1,128}$/;

const channelOf = (scope: string) => `${ACTIVITY_NAMESPACE}:${scope}`;

function isActivity(v: unknown): v is Activity {
  const a = v as Partial<Activity> | null;
  return typeof a === 'object' && a !== null && typeof a.id === 'string' && typeof a.action === 'string';
}

function who(actor: unknown): string {
  if (actor === undefined || actor === null) return 'Someone';
  if (typeof actor === 'string') return actor;
  const a = actor as { name?: unknown; id?: unknown };
  if (typeof a.name === 'string') return a.name;
  if (typeof a.id === 'string') return a.id;
  return preview(actor, 40);
}

function what(target: unknown): string {
  if (target === undefined || target === null) return '';
  if (typeof target === 'string') return target;
  const t = target as { name?: unknown; title?: unknown; id?: unknown };
  if (typeof t.title === 'string') return t.title;
  if (typeof t.name === 'string') return t.name;
  if (typeof t.id === 'string') return t.id;
  return preview(target, 60);
}

function readRemembered(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(REMEMBERED_KEY) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string' && SCOPE_RE.test(s)).slice(0, MAX_SCOPES) : [];
  } catch {
    return [];
  }
}

function remember(scopes: readonly string[]): void {
  try {
    localStorage.setItem(REMEMBERED_KEY, JSON.stringify(scopes.slice(0, MAX_SCOPES)));
  } catch {
    // Storage full or off: the scopes are found again from the channel listing.
  }
}

/** `global`, the scopes with a subscribed channel now, and those shown before; global first, then by name. */
function useKnownScopes(): { scopes: string[]; add(scope: string): void; addAll(scopes: readonly string[]): void } {
  const live = useResource(() => api.channels({ prefix: `${ACTIVITY_NAMESPACE}:`, limit: 100 }), [], { refreshMs: DISCOVER_MS });
  const [remembered, setRemembered] = useState(readRemembered);
  const scopes = useMemo(() => {
    const found = (live.data?.channels ?? []).map((c) => c.channel.slice(ACTIVITY_NAMESPACE.length + 1)).filter((s) => SCOPE_RE.test(s));
    const rest = [...new Set([...found, ...remembered])].filter((s) => s !== 'global').sort();
    return ['global', ...rest].slice(0, MAX_SCOPES);
  }, [live.data, remembered]);
  const add = useCallback((scope: string) => setRemembered((r) => (scope === 'global' || r.includes(scope) ? r : [scope, ...r].slice(0, MAX_SCOPES))), []);
  /** Scopes seen in the listing (newest first): kept after those remembered, never pushing them out. */
  const addAll = useCallback(
    (seen: readonly string[]) =>
      setRemembered((r) => {
        const fresh = seen.filter((s, i) => s !== 'global' && SCOPE_RE.test(s) && !r.includes(s) && seen.indexOf(s) === i);
        return fresh.length === 0 || r.length >= MAX_SCOPES ? r : [...r, ...fresh].slice(0, MAX_SCOPES);
      }),
    [],
  );
  // Scopes found in the listing are kept, so they are read again once nobody watches them.
  useEffect(() => {
    for (const s of scopes) if (s !== 'global' && !remembered.includes(s)) add(s);
  }, [scopes, remembered, add]);
  useEffect(() => remember(remembered), [remembered]);
  return { scopes, add, addAll };
}

/** Listens to one scope's channel (a component per scope: hooks cannot run in a loop). */
function LiveScope({ scope, onEntry, onState }: { scope: string; onEntry(a: Activity): void; onState(scope: string, state: string, error: Error | undefined): void }) {
  const sub = useChannel<Activity>(channelOf(scope), { onPublication: ({ data }) => isActivity(data) && onEntry(data) });
  useEffect(() => onState(scope, sub.state, sub.error ?? undefined), [scope, sub.state, sub.error, onState]);
  return null;
}

export function ActivityFeed() {
  const { scopes: known, add, addAll } = useKnownScopes();
  /** '' shows every scope. */
  const [chosen, setChosen] = useState('');
  const [draft, setDraft] = useState('');
  /** The channels listened to. */
  const scopes = chosen ? [chosen] : known;
  const stored = useResource(() => api.activity({ scope: chosen || ALL_SCOPES, limit: FEED_SIZE }), [chosen], chosen ? {} : { refreshMs: REFRESH_ALL_MS });
  const [older, setOlder] = useState<{ for: string; activities: Activity[]; cursor?: string; loading: boolean; error?: Error }>({ for: '', activities: [], loading: false });
  const [live, setLive] = useState<Activity[]>([]);
  const [states, setStates] = useState<Record<string, { state: string; error: Error | undefined }>>({});
  const onEntry = useCallback((a: Activity) => setLive((l) => [a, ...l.filter((x) => x.id !== a.id)].slice(0, FEED_SIZE)), []);
  const onState = useCallback((scope: string, state: string, error: Error | undefined) => setStates((s) => ({ ...s, [scope]: { state, error } })), []);
  const inputId = useId();

  // Scopes found in the listing are listened to from now on.
  useEffect(() => {
    if (!chosen && stored.data) addAll(stored.data.activities.map((a) => a.scope));
  }, [chosen, stored.data, addAll]);

  /** Older pages belong to the view they were loaded in. */
  const olderHere = older.for === chosen ? older : { activities: [], loading: false, cursor: undefined, error: undefined };
  const cursor = olderHere.activities.length > 0 ? olderHere.cursor : stored.data?.nextCursor;
  async function loadOlder() {
    if (!cursor) return;
    const view = chosen;
    setOlder({ ...olderHere, for: view, loading: true, error: undefined });
    try {
      const page = await api.activity({ scope: view || ALL_SCOPES, limit: FEED_SIZE, cursor });
      setOlder((o) => (o.for !== view ? o : { for: view, activities: [...o.activities, ...page.activities], ...(page.nextCursor ? { cursor: page.nextCursor } : {}), loading: false }));
    } catch (error) {
      setOlder((o) => (o.for !== view ? o : { ...o, loading: false, error: error as Error }));
    }
  }

  const entries = useMemo(() => {
    const byId = new Map<string, Activity>();
    for (const a of stored.data?.activities ?? []) byId.set(a.id, a);
    for (const a of live) if (!chosen || a.scope === chosen) byId.set(a.id, a);
    for (const a of olderHere.activities) byId.set(a.id, a);
    return [...byId.values()].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)).slice(0, FEED_SIZE + olderHere.activities.length);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- olderHere stands for older and chosen
  }, [stored.data, live, chosen, older]);
  const liveIds = useMemo(() => new Set(live.map((a) => a.id)), [live]);

  const current = scopes.map((s) => states[s]);
  const failed = current.find((s) => s?.error)?.error;
  const allLive = current.every((s) => s?.state === 'subscribed');
  const liveBadge = allLive ? (
    <span className="badge badge-online" data-testid="activity-live">
      live
    </span>
  ) : failed ? (
    <span className="badge badge-offline">not live</span>
  ) : (
    <span className="badge badge-away">connecting</span>
  );

  const choose = (event: FormEvent) => {
    event.preventDefault();
    const s = draft.trim();
    if (s !== '' && !SCOPE_RE.test(s)) return;
    if (s !== '') add(s);
    setChosen(s);
  };

  return (
    <Panel id="activity" title="Activity" actions={liveBadge}>
      {scopes.map((s) => (
        <LiveScope key={s} scope={s} onEntry={onEntry} onState={onState} />
      ))}
      <form className="activity-scope" onSubmit={choose}>
        <label htmlFor={inputId}>Scope</label>
        <input
          id={inputId}
          list={`${inputId}-known`}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          placeholder="all scopes"
          pattern="[A-Za-z0-9_.@\-]{1,128}"
          autoComplete="off"
        />
        <datalist id={`${inputId}-known`}>
          {known.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
        <button type="submit" className="btn btn-small">
          Show
        </button>
        {chosen && (
          <button
            type="button"
            className="btn btn-small btn-ghost"
            onClick={() => {
              setChosen('');
              setDraft('');
            }}
          >
            All scopes
          </button>
        )}
      </form>
      <p className="small muted" data-testid="activity-scopes">
        {chosen ? (
          <>
            Scope <code>{chosen}</code> only.
          </>
        ) : (
          <>
            Every scope, newest first. Live on {scopes.map((s, i) => [i > 0 ? ', ' : '', <code key={s}>{s}</code>])}; other scopes every {REFRESH_ALL_MS / 1000} s.
          </>
        )}
      </p>
      {failed && (
        <div className="notice notice-warn small" role="status">
          Live updates are off: {failed.message}. Stored entries are shown; refresh to see new ones.
        </div>
      )}
      {stored.loading ? (
        <Loading label="Loading the activity feed…" />
      ) : stored.error && entries.length === 0 ? (
        <ErrorState error={stored.error} onRetry={stored.reload} />
      ) : entries.length === 0 ? (
        <Empty title={chosen ? `No activity in scope “${chosen}”.` : 'No activity yet.'} icon="✦">
          Entries appear here, live, as your backend records them with <code>POST /api/v1/activity</code>.
        </Empty>
      ) : (
        <ol className="feed" data-testid="activity-feed" aria-live="polite" aria-relevant="additions" tabIndex={0} aria-label="Activity entries, newest first">
          {entries.map((a) => (
            <li key={a.id} className={liveIds.has(a.id) ? 'feed-new' : undefined}>
              <span className="feed-dot" aria-hidden="true" />
              <div className="feed-body">
                <p>
                  <b>{who(a.actor)}</b> {a.action} {what(a.target) && <b>{what(a.target)}</b>} <span className="badge">{a.type}</span>
                </p>
                <p className="small muted" title={formatTime(a.createdAt)}>
                  {formatAgo(a.createdAt)} · <span data-testid="activity-scope">{a.scope}</span>
                </p>
              </div>
            </li>
          ))}
        </ol>
      )}
      {olderHere.error && <ErrorState compact error={olderHere.error} onRetry={() => void loadOlder()} />}
      {cursor && entries.length > 0 && (
        <button type="button" className="btn" onClick={() => void loadOlder()} disabled={olderHere.loading}>
          {olderHere.loading ? 'Loading…' : 'Load older entries'}
        </button>
      )}
    </Panel>
  );
}
