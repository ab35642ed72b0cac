/**
 * Users online (or away), each with their connections on every node (transport, IP,
 * user agent, since), and ways to disconnect one connection or all of a user's.
 */
import { useId, useMemo, useState, type ReactNode } from 'react';
import { useConnectionState, useTidings } from '@tidings/react';
import type { ApiUserStatus, ConnectionListing } from '@tidings/server';
import { api, ApiError } from '../lib/api.js';
import { displayName, formatAgo, formatNumber, formatTime, shortUserAgent } from '../lib/format.js';
import { useResource } from '../lib/use-resource.js';
import { Empty, ErrorState, Freshness, Loading, Panel } from '../components/states.js';

const REFRESH_MS = 5000;
const MAX_CONNECTIONS = 1000;

interface Row {
  userId: string;
  user: ApiUserStatus | undefined;
  connections: ConnectionListing[];
}

/**
 * Dashboards connect as `dashboard.<key id>` (with the dashboard role). The Overview leaves
 * their connections out of its figures, and so does the summary here.
 */
const isDashboardUser = (user: string, self: string | undefined) => user === self || user.startsWith('dashboard.');

/**
 * The Overview's figures, counted from every node's connections the same way: apps'
 * connections (not dashboards'), and the distinct signed-in users among them (not anonymous).
 */
export function countsOf(connections: readonly ConnectionListing[], self: string | undefined) {
  const apps = connections.filter((c) => !isDashboardUser(c.user, self));
  return {
    connections: apps.length,
    users: new Set(apps.filter((c) => c.user !== '').map((c) => c.user)).size,
    anonymous: apps.filter((c) => c.user === '').length,
    dashboards: connections.length - apps.length,
  };
}

/** Connection ids are UUIDs: their first characters are enough to tell a user's few apart. */
const shortId = (client: string) => client.slice(0, 8);

/**
 * A disconnect button that asks first (with the choice of a terminal close). `run` does
 * it and returns what to tell the operator.
 */
function DisconnectControl({ label, buttonText, question, run, onDone }: { label: string; buttonText: string; question: ReactNode; run(terminal: boolean): Promise<string>; onDone(message: string): void }) {
  const [confirming, setConfirming] = useState(false);
  const [terminal, setTerminal] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  const checkId = useId();

  if (!confirming)
    return (
      <button type="button" className="btn btn-small btn-danger-outline" onClick={() => setConfirming(true)} aria-label={label}>
        {buttonText}
      </button>
    );

  async function go() {
    setBusy(true);
    setError(undefined);
    try {
      onDone(await run(terminal));
      setConfirming(false);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="confirm" role="group" aria-label={label}>
      <p className="small">{question}</p>
      <label className="check small" htmlFor={checkId}>
        <input id={checkId} type="checkbox" checked={terminal} onChange={(e) => setTerminal(e.target.checked)} /> Do not let them reconnect (terminal)
      </label>
      {error && (
        <p className="error-text small" role="alert">
          {error.message}
          {error instanceof ApiError ? ` (${error.code})` : ''}
        </p>
      )}
      <div className="row">
        <button type="button" className="btn btn-small btn-danger" onClick={() => void go()} disabled={busy} autoFocus>
          {busy ? 'Disconnecting…' : 'Disconnect'}
        </button>
        <button type="button" className="btn btn-small" onClick={() => setConfirming(false)} disabled={busy}>
          Cancel
        </button>
      </div>
    </div>
  );
}

async function disconnectOne(c: ConnectionListing, name: string, terminal: boolean): Promise<string> {
  try {
    await api.disconnectConnection(c.client, terminal);
    return `${name}: connection ${shortId(c.client)} closed${terminal ? ', told not to reconnect' : ''}.`;
  } catch (err) {
    // Gone between the listing and the click: the outcome the operator wanted.
    if (err instanceof ApiError && err.code === 'not_found') return `${name}: connection ${shortId(c.client)} had already closed.`;
    throw err;
  }
}

async function disconnectAll(row: Row, name: string, terminal: boolean): Promise<string> {
  const r = await api.disconnectUser(row.userId, terminal);
  return `${name}: ${r.disconnected} connection${r.disconnected === 1 ? '' : 's'} closed${terminal ? ', told not to reconnect' : ''}.`;
}

/** `self` is the dashboard's own connection id: that one is marked, not offered for disconnecting. */
function ConnectionsTable({ connections, name, self, onDone }: { connections: ConnectionListing[]; name: string; self: string | undefined; onDone(message: string): void }) {
  if (connections.length === 0) return <p className="muted small">No connection open (the user may have just left).</p>;
  return (
    <div className="table-wrap">
      <table className="table table-compact table-stack">
        <thead>
          <tr>
            <th scope="col">Connection</th>
            <th scope="col">Transport</th>
            <th scope="col">IP</th>
            <th scope="col">User agent</th>
            <th scope="col">Since</th>
            <th scope="col">Status</th>
            <th scope="col" className="num">
              Subs
            </th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {connections.map((c) => (
            <tr key={c.client} data-client={c.client}>
              <td data-label="Connection" title={c.client}>
                <span className="mono">{shortId(c.client)}</span>
              </td>
              <td data-label="Transport">{c.transport}</td>
              <td data-label="IP">
                <span className="mono">{c.ip}</span>
              </td>
              <td data-label="User agent" title={c.userAgent ?? ''}>
                {shortUserAgent(c.userAgent)}
              </td>
              <td data-label="Since" title={formatTime(c.connectedAt)}>
                {formatAgo(c.connectedAt)}
              </td>
              <td data-label="Status">
                <span className={`badge badge-${c.status}`}>{c.status}</span>
              </td>
              <td data-label="Subscriptions" className="num">
                {c.subscriptions}
              </td>
              <td data-label="Actions">
                {c.client === self ? (
                  <span className="badge">this dashboard</span>
                ) : (
                  <DisconnectControl
                    label={`Disconnect connection ${shortId(c.client)}`}
                    buttonText="Disconnect"
                    question={
                      <>
                        Close connection <span className="mono">{shortId(c.client)}</span> of <b>{name}</b> ({c.transport}, {c.ip})?{connections.length > 1 ? ' The other connections stay open.' : ''}
                      </>
                    }
                    run={(terminal) => disconnectOne(c, name, terminal)}
                    onDone={onDone}
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Users() {
  const users = useResource(() => api.onlineUsers({ limit: 1000 }), [], { refreshMs: REFRESH_MS });
  const conns = useResource(() => api.connections({ limit: MAX_CONNECTIONS }), [], { refreshMs: REFRESH_MS });
  const [filter, setFilter] = useState('');
  const [open, setOpen] = useState<Record<string, boolean>>({});
  const [message, setMessage] = useState<string | undefined>();
  // The dashboard's own connection is a user too; it is marked, not hidden.
  const client = useTidings();
  useConnectionState(); // re-render once connected, when `client.user` is known
  const self = client.user;
  const selfClient = client.clientId;

  const rows = useMemo(() => {
    const byUser = new Map<string, Row>();
    for (const u of users.data?.users ?? []) byUser.set(u.userId, { userId: u.userId, user: u, connections: [] });
    for (const c of conns.data?.connections ?? []) {
      if (c.user === '') continue;
      const row = byUser.get(c.user) ?? { userId: c.user, user: undefined, connections: [] };
      row.connections.push(c);
      byUser.set(c.user, row);
    }
    return [...byUser.values()].sort((a, b) => a.userId.localeCompare(b.userId));
  }, [users.data, conns.data]);
  const anonymous = (conns.data?.connections ?? []).filter((c) => c.user === '');
  const counts = conns.data ? countsOf(conns.data.connections, self) : undefined;
  const appRows = rows.filter((r) => !isDashboardUser(r.userId, self)).length;

  const f = filter.trim().toLowerCase();
  const shown = f ? rows.filter((r) => r.userId.toLowerCase().includes(f) || displayName(r.userId, r.user?.info).toLowerCase().includes(f)) : rows;
  const reload = () => {
    users.reload();
    conns.reload();
  };
  const done = (m: string) => {
    setMessage(m);
    reload();
  };
  const error = users.error ?? conns.error;
  const loading = users.loading || conns.loading;

  return (
    <>
      <div className="page-head">
        <h1 tabIndex={-1} className="page-title">
          Users
        </h1>
        <p className="muted small">Users online or away, with their connections on every node.</p>
        {counts && (
          <p className="small" data-testid="users-summary">
            On every node: <b data-testid="users-count-users">{formatNumber(counts.users)}</b> signed-in user{counts.users === 1 ? '' : 's'} with{' '}
            <b data-testid="users-count-connections">{formatNumber(counts.connections)}</b> connection{counts.connections === 1 ? '' : 's'}
            {counts.anonymous > 0 ? ` (${formatNumber(counts.anonymous)} of them anonymous)` : ''}, as the Overview counts them;{' '}
            <span className="muted">
              dashboards’ {formatNumber(counts.dashboards)} connection{counts.dashboards === 1 ? '' : 's'} not counted.
            </span>
          </p>
        )}
      </div>

      <div className="search">
        <label htmlFor="user-filter">Filter users</label>
        <input id="user-filter" type="search" placeholder="User id or name" value={filter} onChange={(e) => setFilter(e.target.value)} autoComplete="off" />
      </div>

      {message && (
        <div className="notice notice-ok" role="status">
          {message}{' '}
          <button type="button" className="btn btn-small btn-ghost" onClick={() => setMessage(undefined)}>
            Dismiss
          </button>
        </div>
      )}

      <Panel
        id="online-users"
        // The user status store's list: every node, online or away (recently left), so it can differ from the node's summary above.
        title={users.data ? `${formatNumber(appRows)} user${appRows === 1 ? '' : 's'} online or away, on any node` : 'Online users'}
        actions={<Freshness updatedAt={users.updatedAt} refreshing={users.refreshing || conns.refreshing} onRefresh={reload} auto="every 5 s" />}
      >
        {loading ? (
          <Loading label="Loading users…" />
        ) : error && rows.length === 0 ? (
          <ErrorState error={error} onRetry={reload} />
        ) : rows.length === 0 ? (
          <Empty title="Nobody is online right now." icon="◍">
            Users appear here when a client connects with a token for them.
          </Empty>
        ) : shown.length === 0 ? (
          <Empty title={`No online user matches “${filter.trim()}”.`} icon="?" />
        ) : (
          <>
            {error && <ErrorState compact error={error} onRetry={reload} />}
            {conns.data?.nextCursor && <p className="notice notice-warn small">Showing the first {MAX_CONNECTIONS} connections only.</p>}
            <ul className="user-list" data-testid="user-list">
              {shown.map((row) => {
                const name = displayName(row.userId, row.user?.info);
                // A short list opens every user's connections; a long one keeps them folded.
                const expanded = open[row.userId] ?? rows.length <= 8;
                const panelId = `conns-${row.userId}`;
                const status = row.user?.status ?? (row.connections.some((c) => c.status === 'online') ? 'online' : 'away');
                return (
                  <li key={row.userId} className="user-row" data-user={row.userId}>
                    <div className="user-head">
                      <span className={`avatar avatar-${status}`} aria-hidden="true">
                        {name.slice(0, 1).toUpperCase()}
                      </span>
                      <div className="person-main">
                        <div>
                          <b>{name}</b> {name !== row.userId && <span className="muted mono small">{row.userId}</span>}{' '}
                          {row.userId === self && <span className="badge">this dashboard</span>}
                        </div>
                        <div className="small">
                          <span className={`badge badge-${status}`}>{status}</span> <span className="muted">last seen {formatAgo(row.user?.lastSeen)}</span>
                        </div>
                      </div>
                      <button
                        type="button"
                        className="btn btn-small btn-ghost"
                        aria-expanded={expanded}
                        aria-controls={panelId}
                        onClick={() => setOpen((o) => ({ ...o, [row.userId]: !expanded }))}
                      >
                        {row.connections.length} connection{row.connections.length === 1 ? '' : 's'} <span aria-hidden="true">{expanded ? '▴' : '▾'}</span>
                      </button>
                      {row.connections.length > 0 && row.userId !== self && (
                        <DisconnectControl
                          label={`Disconnect all of ${name}’s connections`}
                          buttonText="Disconnect all"
                          question={
                            <>
                              Close {row.connections.length === 1 ? 'the connection' : `all ${row.connections.length} connections`} of <b>{name}</b> on every node?
                            </>
                          }
                          run={(terminal) => disconnectAll(row, name, terminal)}
                          onDone={done}
                        />
                      )}
                    </div>
                    {expanded && (
                      <div id={panelId} className="user-conns">
                        <ConnectionsTable connections={row.connections} name={name} self={selfClient} onDone={done} />
                      </div>
                    )}
                  </li>
                );
              })}
            </ul>
          </>
        )}
      </Panel>

      {anonymous.length > 0 && (
        <Panel id="anonymous" title={`${anonymous.length} anonymous connection${anonymous.length === 1 ? '' : 's'}`}>
          <ConnectionsTable connections={anonymous} name="(anonymous)" self={selfClient} onDone={done} />
        </Panel>
      )}
    </>
  );
}
