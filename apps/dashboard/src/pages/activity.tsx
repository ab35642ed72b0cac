/**
 * The activity feed (activity-feed.tsx: every scope by default, live) and the audit
 * log with filters.
 */
import { useMemo, useState, type FormEvent } from 'react';
import { api, ApiError, AUDIT_TYPES, type AuditRecord } from '../lib/api.js';
import { formatTime } from '../lib/format.js';
import { useResource } from '../lib/use-resource.js';
import { Empty, ErrorState, Freshness, Loading, Panel } from '../components/states.js';
import { ActivityFeed } from './activity-feed.js';

interface AuditFilters {
  user: string;
  type: string;
  since: string;
  until: string;
}

const EMPTY_FILTERS: AuditFilters = { user: '', type: '', since: '', until: '' };

/** A datetime-local value (local time) as ms since the epoch. */
const toMs = (local: string) => (local ? new Date(local).getTime() : undefined);

function details(e: AuditRecord): string {
  switch (e.type) {
    case 'api_call':
      return `${e.method ?? ''} ${e.route ?? ''} → ${e.status ?? ''}${e.keyId ? ` · key ${e.keyId}` : ''}`;
    case 'connect':
      return `${e.transport ?? ''}${e.client ? ` · ${e.client.slice(0, 8)}` : ''}`;
    case 'disconnect':
      return `${e.code ?? ''} ${e.reason ?? ''}${e.client ? ` · ${e.client.slice(0, 8)}` : ''}`;
    case 'auth_failure':
      return `${e.transport ?? ''}: ${e.reason ?? ''}`;
    case 'limit_hit':
      return e.limit ?? '';
    default:
      return [e.reason, e.route, e.limit].filter(Boolean).join(' · ');
  }
}

function AuditLog() {
  const [draft, setDraft] = useState<AuditFilters>(EMPTY_FILTERS);
  const [applied, setApplied] = useState<AuditFilters>(EMPTY_FILTERS);
  const [pages, setPages] = useState<{ events: AuditRecord[]; cursor?: string; loading: boolean; error?: Error }>({ events: [], loading: false });
  const [formError, setFormError] = useState<string | undefined>();

  const params = useMemo(
    () => ({
      ...(applied.user ? { user: applied.user } : {}),
      ...(applied.type ? { type: applied.type } : {}),
      ...(applied.since ? { since: toMs(applied.since) } : {}),
      ...(applied.until ? { until: toMs(applied.until) } : {}),
      limit: 50,
    }),
    [applied],
  );
  const first = useResource(
    () => {
      setPages({ events: [], loading: false });
      return api.audit(params);
    },
    [params],
  );

  const events = [...(first.data?.events ?? []), ...pages.events];
  const cursor = pages.events.length > 0 ? pages.cursor : first.data?.nextCursor;
  const filtered = Object.values(applied).some(Boolean);

  function apply(event: FormEvent) {
    event.preventDefault();
    const since = toMs(draft.since);
    const until = toMs(draft.until);
    if (since !== undefined && until !== undefined && since >= until) {
      setFormError('“From” must be before “until”.');
      return;
    }
    setFormError(undefined);
    setApplied({ ...draft, user: draft.user.trim(), type: draft.type.trim() });
  }

  async function loadMore() {
    if (!cursor) return;
    setPages((p) => ({ ...p, loading: true, error: undefined }));
    try {
      const page = await api.audit({ ...params, cursor });
      setPages((p) => ({ events: [...p.events, ...page.events], ...(page.nextCursor ? { cursor: page.nextCursor } : {}), loading: false }));
    } catch (error) {
      setPages((p) => ({ ...p, loading: false, error: error as Error }));
    }
  }

  const set = (k: keyof AuditFilters) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [k]: e.target.value }));

  return (
    <Panel id="audit" title="Audit log" actions={<Freshness updatedAt={first.updatedAt} refreshing={first.refreshing} onRefresh={first.reload} />}>
      <form className="filters" onSubmit={apply} aria-label="Audit log filters">
        <div className="field">
          <label htmlFor="audit-user">User</label>
          <input id="audit-user" value={draft.user} onChange={set('user')} placeholder="any" autoComplete="off" spellCheck={false} />
        </div>
        <div className="field">
          <label htmlFor="audit-type">Type</label>
          <select id="audit-type" value={draft.type} onChange={set('type')}>
            <option value="">any</option>
            {AUDIT_TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="audit-since">From</label>
          <input id="audit-since" type="datetime-local" step={1} value={draft.since} onChange={set('since')} />
        </div>
        <div className="field">
          <label htmlFor="audit-until">Until</label>
          <input id="audit-until" type="datetime-local" step={1} value={draft.until} onChange={set('until')} />
        </div>
        <div className="filters-actions">
          <button type="submit" className="btn btn-primary">
            Apply
          </button>
          <button
            type="button"
            className="btn"
            onClick={() => {
              setDraft(EMPTY_FILTERS);
              setApplied(EMPTY_FILTERS);
              setFormError(undefined);
            }}
            disabled={!filtered && !Object.values(draft).some(Boolean)}
          >
            Clear
          </button>
        </div>
      </form>
      {formError && (
        <p className="error-text small" role="alert">
          {formError}
        </p>
      )}

      {first.loading ? (
        <Loading label="Reading the audit log…" />
      ) : first.error && first.error instanceof ApiError && first.error.code === 'not_available' ? (
        <Empty title="The audit log is not stored on this node." icon="≡">
          Audit events are still logged; set <code>audit.store: true</code> to keep them here.
        </Empty>
      ) : first.error && !first.data ? (
        <ErrorState error={first.error} onRetry={first.reload} />
      ) : events.length === 0 ? (
        <Empty title={filtered ? 'No audit event matches these filters.' : 'The audit log is empty.'} icon="≡">
          {filtered ? 'Widen the time range or clear the filters.' : 'Connections, sign-in failures, limits and API calls are recorded here.'}
        </Empty>
      ) : (
        <>
          <div className="table-wrap">
            <table className="table table-compact table-stack" data-testid="audit-table">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Type</th>
                  <th scope="col">User</th>
                  <th scope="col">IP</th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                {events.map((e) => (
                  <tr key={e.id}>
                    <td data-label="Time" className="nowrap" title={new Date(e.time).toISOString()}>
                      {formatTime(e.time)}
                    </td>
                    <td data-label="Type">
                      <span className={`badge badge-audit-${e.type}`}>{e.type}</span>
                    </td>
                    <td data-label="User">{e.user || <span className="muted">—</span>}</td>
                    <td data-label="IP">
                      <span className="mono">{e.ip ?? ''}</span>
                    </td>
                    <td data-label="Details" className="small">
                      {details(e)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {pages.error && <ErrorState compact error={pages.error} onRetry={() => void loadMore()} />}
          {cursor && (
            <button type="button" className="btn" onClick={() => void loadMore()} disabled={pages.loading}>
              {pages.loading ? 'Loading…' : 'Load older events'}
            </button>
          )}
        </>
      )}
    </Panel>
  );
}

export function ActivityPage() {
  return (
    <>
      <div className="page-head">
        <h1 tabIndex={-1} className="page-title">
          Activity and audit
        </h1>
      </div>
      <div className="grid-activity">
        <ActivityFeed />
        <AuditLog />
      </div>
    </>
  );
}
