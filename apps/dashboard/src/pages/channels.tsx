/**
 * Channels with subscribers on any node (subscriber counts summed), searched by name prefix (as the server API
 * filters), a page at a time.
 */
import { useEffect, useState, type FormEvent } from 'react';
import type { ChannelListing } from '@tidings/server';
import { api } from '../lib/api.js';
import { hrefOf, linkClick, navigate } from '../lib/router.js';
import { useResource } from '../lib/use-resource.js';
import { Empty, ErrorState, Freshness, Loading, Panel } from '../components/states.js';
import { formatNumber } from '../lib/format.js';

const PAGE = 50;

/**
 * The dashboard's own reserved channels (`tidings-admin:stats`): listed, but not counted,
 * so the count matches the Overview's "channels", which leaves them out too.
 */
const isDashboardChannel = (channel: string) => channel.startsWith('tidings-admin:');

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function Channels() {
  const [text, setText] = useState('');
  const prefix = useDebounced(text.trim(), 250);
  const [more, setMore] = useState<{ channels: ChannelListing['channels']; cursor?: string; loading: boolean; error?: Error }>({ channels: [], loading: false });
  const first = useResource(() => api.channels({ prefix, limit: PAGE }), [prefix]);

  useEffect(() => setMore({ channels: [], loading: false }), [prefix, first.updatedAt]);

  const channels = [...(first.data?.channels ?? []), ...more.channels];
  const counted = channels.filter((c) => !isDashboardChannel(c.channel)).length;
  const own = channels.length - counted;
  const cursor = more.channels.length > 0 ? more.cursor : first.data?.nextCursor;

  async function loadMore() {
    if (!cursor) return;
    setMore((m) => ({ ...m, loading: true, error: undefined }));
    try {
      const page = await api.channels({ prefix, limit: PAGE, cursor });
      setMore((m) => ({ channels: [...m.channels, ...page.channels], ...(page.nextCursor ? { cursor: page.nextCursor } : {}), loading: false }));
    } catch (error) {
      setMore((m) => ({ ...m, loading: false, error: error as Error }));
    }
  }

  function open(event: FormEvent) {
    event.preventDefault();
    const name = text.trim();
    if (name === '') return;
    const exact = channels.find((c) => c.channel === name);
    const only = channels.length === 1 ? channels[0] : undefined;
    navigate(hrefOf({ page: 'channel', channel: exact?.channel ?? (name.includes(':') ? name : (only?.channel ?? name)) }));
  }

  const typed = text.trim();
  const canOpen = typed.includes(':') && !channels.some((c) => c.channel === typed);

  return (
    <>
      <div className="page-head">
        <h1 tabIndex={-1} className="page-title">
          Channels
        </h1>
        <p className="muted small">Channels with at least one subscriber on any node. Open one to see who is there.</p>
      </div>

      <form className="search" role="search" onSubmit={open}>
        <label htmlFor="channel-search">Search channels</label>
        <div className="search-row">
          <input
            id="channel-search"
            type="search"
            placeholder="Name starts with… e.g. chat: or task:42"
            value={text}
            onChange={(e) => setText(e.target.value)}
            autoComplete="off"
            spellCheck={false}
            aria-describedby="channel-search-help"
          />
          <button type="submit" className="btn">
            Open
          </button>
        </div>
        <p id="channel-search-help" className="help">
          Filters by name prefix. Press Enter to open the channel you typed, even one nobody is subscribed to (to read its history or publish to it).
        </p>
      </form>

      <Panel
        id="channel-list"
        title={
          first.data ? (
            <>
              <span data-testid="channel-count">{formatNumber(counted)}</span>
              {cursor ? '+' : ''} channel{counted === 1 ? '' : 's'}
              {prefix ? ` starting with “${prefix}”` : ''}
              {own > 0 && <span className="muted small"> (and the dashboard’s own {own === 1 ? 'channel' : `${own} channels`}, not counted, as on the Overview)</span>}
            </>
          ) : (
            'Channels'
          )
        }
        actions={<Freshness updatedAt={first.updatedAt} refreshing={first.refreshing} onRefresh={first.reload} />}
      >
        {first.loading ? (
          <Loading label="Loading channels…" />
        ) : first.error && !first.data ? (
          <ErrorState error={first.error} onRetry={first.reload} />
        ) : channels.length === 0 ? (
          <Empty title={prefix ? `No channel starts with “${prefix}”.` : 'No channel has subscribers right now.'} icon="#">
            {canOpen ? (
              <a href={hrefOf({ page: 'channel', channel: typed })} onClick={linkClick}>
                Open “{typed}” anyway
              </a>
            ) : (
              'Channels appear here once a client subscribes to one.'
            )}
          </Empty>
        ) : (
          <>
            {first.error && <ErrorState compact error={first.error} onRetry={first.reload} />}
            <table className="table" data-testid="channel-table">
              <thead>
                <tr>
                  <th scope="col">Channel</th>
                  <th scope="col" className="num">
                    Subscribers
                  </th>
                </tr>
              </thead>
              <tbody>
                {channels.map((c) => (
                  <tr key={c.channel}>
                    <td>
                      <a className="mono" href={hrefOf({ page: 'channel', channel: c.channel })} onClick={linkClick}>
                        {c.channel}
                      </a>
                      {isDashboardChannel(c.channel) && <span className="badge">dashboard, not counted</span>}
                    </td>
                    <td className="num">{formatNumber(c.subscribers)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {canOpen && (
              <p className="small">
                <a href={hrefOf({ page: 'channel', channel: typed })} onClick={linkClick}>
                  Open “{typed}”
                </a>
              </p>
            )}
            {more.error && <ErrorState compact error={more.error} onRetry={() => void loadMore()} />}
            {cursor && (
              <button type="button" className="btn" onClick={() => void loadMore()} disabled={more.loading}>
                {more.loading ? 'Loading…' : 'Load more'}
              </button>
            )}
          </>
        )}
      </Panel>
    </>
  );
}
