/**
 * One channel: its subscribers, who is there (presence with status and state), who is
 * typing, the recent history, and a form to publish a test message.
 *
 * Read through the server API rather than by subscribing: a subscription of the
 * dashboard would itself show up among the channel's subscribers and viewers.
 */
import { useState, type FormEvent } from 'react';
import type { PresenceClient } from '@tidings/protocol';
import { api, ApiError, type ChannelInfo, type ViewingUser } from '../lib/api.js';
import { displayName, formatAgo, formatNumber, preview } from '../lib/format.js';
import { hrefOf, linkClick } from '../lib/router.js';
import { useResource } from '../lib/use-resource.js';
import { Empty, ErrorState, Freshness, Loading, Panel } from '../components/states.js';

const REFRESH_MS = 3000;

function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status}`}>{status}</span>;
}

function StateValue({ state }: { state: unknown }) {
  if (state === undefined || state === null) return <span className="muted">—</span>;
  return <code className="state-json">{preview(state, 120)}</code>;
}

function Viewers({ users }: { users: ViewingUser[] }) {
  if (users.length === 0) return <Empty title="Nobody is viewing this channel." icon="◍" />;
  return (
    <ul className="people" data-testid="viewers">
      {users.map((u) => (
        <li key={u.userId} className={`person${u.clients === 0 ? ' person-leaving' : ''}`} data-user={u.userId}>
          <span className={`avatar avatar-${u.status}`} aria-hidden="true">
            {displayName(u.userId, u.info).slice(0, 1).toUpperCase()}
          </span>
          <div className="person-main">
            <div>
              <b>{displayName(u.userId, u.info)}</b> {displayName(u.userId, u.info) !== u.userId && <span className="muted mono small">{u.userId}</span>}
            </div>
            <div className="small">
              <StatusBadge status={u.status} /> <span className="muted">{u.clients === 0 ? 'just left' : `${u.clients} connection${u.clients === 1 ? '' : 's'}`}</span> ·{' '}
              <span className="muted">seen {formatAgo(u.lastSeen)}</span>
            </div>
            {u.state !== undefined && u.state !== null && (
              <div className="small">
                state <StateValue state={u.state} />
              </div>
            )}
          </div>
        </li>
      ))}
    </ul>
  );
}

function PresenceClients({ clients }: { clients: PresenceClient[] }) {
  if (clients.length === 0) return <Empty title="No connection is subscribed." icon="◍" />;
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr>
            <th scope="col">User</th>
            <th scope="col">Connection</th>
            <th scope="col">Status</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {clients.map((c) => (
            <tr key={c.client}>
              <td>{displayName(c.user, c.info)}</td>
              <td className="mono small" title={c.client}>
                {c.client.slice(0, 8)}
              </td>
              <td>
                <StatusBadge status={c.status} />
              </td>
              <td>
                <StateValue state={c.state} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Typing({ info }: { info: ChannelInfo }) {
  if (info.typingUsers === undefined) return <Empty title="Typing indicators are off in this namespace." icon="…" />;
  if (info.typingUsers.length === 0) return <p className="muted" data-testid="typing">Nobody is typing.</p>;
  const names = info.typingUsers.map((id) => {
    const viewer = info.viewingUsers?.find((v) => v.userId === id);
    return displayName(id, viewer?.info);
  });
  return (
    <p data-testid="typing">
      <span className="typing-dots" aria-hidden="true" /> <b>{names.join(', ')}</b> {names.length === 1 ? 'is' : 'are'} typing…
    </p>
  );
}

function History({ channel, version }: { channel: string; version: number }) {
  const history = useResource(() => api.history(channel, 20), [channel, version], { refreshMs: REFRESH_MS * 2 });
  const body = (() => {
    if (history.loading) return <Loading label="Reading history…" />;
    if (history.error && history.error instanceof ApiError && history.error.code === 'not_available')
      return <Empty title="This namespace keeps no history." icon="≡">Publications are delivered live only; configure <code>history</code> on the namespace to keep them.</Empty>;
    if (history.error && !history.data) return <ErrorState error={history.error} onRetry={history.reload} />;
    const pubs = history.data?.publications ?? [];
    if (pubs.length === 0) return <Empty title="Nothing published yet in this epoch." icon="≡">Use the form to publish a test message.</Empty>;
    return (
      <ol className="history" data-testid="history">
        {pubs.map((p) => (
          <li key={p.offset}>
            <span className="history-offset mono">#{p.offset}</span>
            <span className="history-from">{p.info ? displayName(p.info.user, p.info.info) : <span className="muted">server</span>}</span>
            <code className="history-data">{preview(p.data, 300)}</code>
          </li>
        ))}
      </ol>
    );
  })();
  return (
    <Panel
      id="history"
      title="Recent history"
      actions={history.data ? <span className="muted small">epoch {history.data.epoch} · offset {history.data.offset}</span> : undefined}
    >
      {body}
    </Panel>
  );
}

function PublishForm({ channel, onPublished }: { channel: string; onPublished(): void }) {
  const [text, setText] = useState('{\n  "text": "Hello from the dashboard"\n}');
  const [result, setResult] = useState<{ ok: true; message: string } | { ok: false; message: string } | undefined>();
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      setResult({ ok: false, message: `That is not valid JSON: ${(err as Error).message}` });
      return;
    }
    setBusy(true);
    setResult(undefined);
    try {
      const r = await api.publish(channel, data);
      setResult({ ok: true, message: r.offset !== undefined ? `Published at offset ${r.offset}.` : 'Published (this namespace keeps no history, so there is no offset).' });
      onPublished();
    } catch (err) {
      setResult({ ok: false, message: `${(err as Error).message}${err instanceof ApiError ? ` (${err.code})` : ''}` });
    } finally {
      setBusy(false);
    }
  }

  return (
    <Panel id="publish" title="Publish a test message">
      <form className="form" onSubmit={submit}>
        <div className="field">
          <label htmlFor="publish-data">Data (JSON)</label>
          <textarea id="publish-data" rows={4} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} className="mono" aria-describedby="publish-help" />
          <p id="publish-help" className="help">
            Sent with <code>POST /api/v1/publish</code>, as your backend would: subscribers receive it at once.
          </p>
        </div>
        {result && (
          <div className={`notice ${result.ok ? 'notice-ok' : 'notice-error'}`} role={result.ok ? 'status' : 'alert'}>
            {result.message}
          </div>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Publishing…' : 'Publish'}
        </button>
      </form>
    </Panel>
  );
}

export function ChannelDetail({ channel }: { channel: string }) {
  const info = useResource(() => api.channel(channel), [channel], { refreshMs: REFRESH_MS });
  const [published, setPublished] = useState(0);
  const data = info.data;
  const clients = data?.presence ? Object.values(data.presence.clients) : [];

  return (
    <>
      <div className="page-head">
        <p className="crumbs small">
          <a href={hrefOf({ page: 'channels' })} onClick={linkClick}>
            Channels
          </a>{' '}
          /
        </p>
        <h1 tabIndex={-1} className="page-title mono break">
          {channel}
        </h1>
        <div className="page-head-actions">
          <Freshness updatedAt={info.updatedAt} refreshing={info.refreshing} onRefresh={info.reload} auto="every 3 s" />
        </div>
      </div>

      {info.loading ? (
        <Loading label="Loading the channel…" />
      ) : info.error && !data ? (
        <ErrorState error={info.error} onRetry={info.reload} />
      ) : data ? (
        <>
          {info.error && <ErrorState compact error={info.error} onRetry={info.reload} />}
          <section className="cards cards-small" aria-label="Channel numbers">
            <div className="card" data-testid="channel-subscribers">
              <div className="card-label">Subscribers</div>
              <div className="card-value">{formatNumber(data.subscribers)}</div>
              <div className="card-sub">connections, every node</div>
            </div>
            <div className="card">
              <div className="card-label">Viewing</div>
              <div className="card-value">{data.totalViewing === undefined ? '—' : formatNumber(data.totalViewing)}</div>
              <div className="card-sub">{data.presence ? 'users present' : 'presence is off'}</div>
            </div>
            <div className="card">
              <div className="card-label">Typing</div>
              <div className="card-value">{data.typingUsers === undefined ? '—' : formatNumber(data.typingUsers.length)}</div>
              <div className="card-sub">{data.typingUsers === undefined ? 'typing is off' : 'users now'}</div>
            </div>
          </section>

          <div className="grid-2">
            <Panel id="presence" title="Who is here">
              {data.viewingUsers ? (
                <Viewers users={data.viewingUsers} />
              ) : (
                <Empty title="Presence is off in this namespace." icon="◍">
                  {data.subscribers} connection{data.subscribers === 1 ? ' is' : 's are'} subscribed; enable <code>presence</code> on the namespace to see who.
                </Empty>
              )}
            </Panel>
            <Panel id="typing" title="Typing now">
              <Typing info={data} />
            </Panel>
          </div>

          {data.presence && (
            <Panel id="subscribers" title="Subscribed connections">
              <PresenceClients clients={clients} />
            </Panel>
          )}

          <div className="grid-2">
            <History channel={channel} version={published} />
            <PublishForm channel={channel} onPublished={() => setPublished((n) => n + 1)} />
          </div>
        </>
      ) : null}
    </>
  );
}
