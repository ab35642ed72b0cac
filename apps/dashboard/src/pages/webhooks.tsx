/**
 * Webhooks: the outbox's counts (pending, dead) and its dead-letter list (webhooks given up on
 * after their retries), each of which can be sent again (Replay), or all of them (Replay all).
 * Reads GET /api/v1/webhooks/stats and /webhooks/dead; replays with POST /webhooks/dead/replay.
 */
import { useState } from 'react';
import { api, ApiError, type DeadLetter } from '../lib/api.js';
import { formatAgo, formatTime } from '../lib/format.js';
import { useResource } from '../lib/use-resource.js';
import { Empty, ErrorState, Freshness, Loading, Panel } from '../components/states.js';

const REFRESH_MS = 5000;
const PAGE = 100;

function failure(d: DeadLetter): string {
  if (d.lastStatus !== undefined && d.lastError) return d.lastError.includes(String(d.lastStatus)) ? d.lastError : `${d.lastStatus}: ${d.lastError}`;
  return d.lastError ?? (d.lastStatus !== undefined ? `HTTP ${d.lastStatus}` : '—');
}

export function Webhooks() {
  const [version, setVersion] = useState(0);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | undefined>();
  const stats = useResource(() => api.webhookStats(), [version], { refreshMs: REFRESH_MS });
  const dead = useResource(() => api.deadLetters({ limit: PAGE }), [version], { refreshMs: REFRESH_MS });

  async function replay(which: { seqs: number[] } | { all: true }, what: string) {
    setBusy(true);
    setResult(undefined);
    try {
      const { replayed } = await api.replayWebhooks(which);
      setResult({ ok: true, text: replayed === 0 ? `Nothing to replay: ${what} is no longer dead.` : `Replayed ${replayed} dead letter${replayed === 1 ? '' : 's'}: pending again, sent with the next delivery round.` });
      setVersion((v) => v + 1);
    } catch (err) {
      setResult({ ok: false, text: `${(err as Error).message}${err instanceof ApiError ? ` (${err.code})` : ''}` });
    } finally {
      setBusy(false);
    }
  }

  const rows = dead.data?.deadLetters ?? [];
  return (
    <>
      <div className="page-head">
        <h1 tabIndex={-1} className="page-title">
          Webhooks
        </h1>
        <p className="muted small">The durable outbox of webhooks to your backend: what waits to be delivered, and the dead letters given up on after their retries.</p>
      </div>
      <Panel id="outbox" title="Outbox" actions={<Freshness updatedAt={stats.updatedAt} refreshing={stats.refreshing} onRefresh={stats.reload} auto="every 5 s" />}>
        {stats.loading ? (
          <Loading label="Loading the outbox…" />
        ) : stats.error && !stats.data ? (
          <ErrorState error={stats.error} onRetry={stats.reload} />
        ) : (
          <dl className="row" data-testid="webhook-stats">
            <div>
              <dt className="small muted">Pending</dt>
              <dd data-testid="webhooks-pending">{stats.data?.pending ?? 0}</dd>
            </div>
            <div>
              <dt className="small muted">Dead letters</dt>
              <dd data-testid="webhooks-dead">{stats.data?.dead ?? 0}</dd>
            </div>
            <div>
              <dt className="small muted">Oldest pending</dt>
              <dd title={stats.data?.oldestPendingAt !== undefined ? formatTime(stats.data.oldestPendingAt) : undefined}>
                {stats.data?.oldestPendingAt !== undefined ? formatAgo(stats.data.oldestPendingAt) : '—'}
              </dd>
            </div>
          </dl>
        )}
      </Panel>
      <Panel
        id="dead-letters"
        title="Dead letters"
        actions={
          <button type="button" className="btn" disabled={busy || rows.length === 0} onClick={() => void replay({ all: true }, 'every dead letter')}>
            Replay all
          </button>
        }
      >
        {result && (
          <div className={`notice ${result.ok ? 'notice-ok' : 'notice-error'}`} role={result.ok ? 'status' : 'alert'} data-testid="replay-result">
            {result.text}
          </div>
        )}
        {dead.loading ? (
          <Loading label="Loading dead letters…" />
        ) : dead.error && !dead.data ? (
          <ErrorState error={dead.error} onRetry={dead.reload} />
        ) : rows.length === 0 ? (
          <Empty title="No dead letters." icon="✓">
            Webhooks that fail every retry land here, to be sent again once the endpoint works.
          </Empty>
        ) : (
          <>
            <div className="table-wrap">
              <table className="table table-compact table-stack" data-testid="dead-letters">
                <thead>
                  <tr>
                    <th scope="col">Went dead</th>
                    <th scope="col">Endpoint</th>
                    <th scope="col">Type</th>
                    <th scope="col">Attempts</th>
                    <th scope="col">Last failure</th>
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((d) => (
                    <tr key={d.seq} data-seq={d.seq}>
                      <td data-label="Went dead" className="nowrap" title={formatTime(d.finishedAt ?? d.createdAt)}>
                        {formatAgo(d.finishedAt ?? d.createdAt)}
                      </td>
                      <td data-label="Endpoint">
                        <span className="mono">{d.endpoint}</span>
                      </td>
                      <td data-label="Type">
                        <span className="badge">{d.type}</span> <span className="small muted mono" title="Event id (the webhook-id header)">{d.eventId}</span>
                      </td>
                      <td data-label="Attempts">{d.attempts}</td>
                      <td data-label="Last failure" className="small">
                        {failure(d)}
                      </td>
                      <td data-label="Actions">
                        <button type="button" className="btn btn-small" disabled={busy} aria-label={`Replay ${d.type} to ${d.endpoint} (${d.eventId})`} onClick={() => void replay({ seqs: [d.seq] }, 'that dead letter')}>
                          Replay
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {dead.data?.nextCursor && <p className="small muted">Showing the oldest {rows.length}; replay these to see the next ones.</p>}
          </>
        )}
      </Panel>
    </>
  );
}
