/**
 * Overview: the deployment's live numbers, from the stats every node publishes every second on
 * `tidings-admin:stats` (through Tidings itself, no polling), summed over the nodes
 * (lib/stats.ts): cards with trends, and charts of the last five minutes.
 */
import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { LiveChart, type ChartSeries } from '../components/live-chart.js';
import { Empty, Panel } from '../components/states.js';
import { useIndicator } from '../components/connection-indicator.js';
import { api, type NodeListing } from '../lib/api.js';
import { formatBytes, formatDuration, formatNumber } from '../lib/format.js';
import { codesOf, trendOf, type AdminStatsSnapshot } from '../lib/stats.js';
import { useStatsFeed } from '../lib/stats-feed.js';
import { useResource } from '../lib/use-resource.js';

type Trend = 'up' | 'down' | 'flat';
const ARROWS: Record<Trend, string> = { up: '↗', down: '↘', flat: '→' };
const TREND_WORDS: Record<Trend, string> = { up: 'rising', down: 'falling', flat: 'steady' };

function Card({ label, value, sub, trend, testId }: { label: string; value: string; sub?: string; trend?: Trend; testId?: string }) {
  return (
    <div className="card" data-testid={testId}>
      <div className="card-label">{label}</div>
      <div className="card-value">
        <span data-testid={testId ? `${testId}-value` : undefined}>{value}</span>
        {trend && (
          <span className={`trend trend-${trend}`} title={`${TREND_WORDS[trend]} over the last 10 s`}>
            <span aria-hidden="true">{ARROWS[trend]}</span>
            <span className="sr-only">{TREND_WORDS[trend]}</span>
          </span>
        )}
      </div>
      {sub && (
        <div className="card-sub" data-testid={testId ? `${testId}-sub` : undefined}>
          {sub}
        </div>
      )}
    </div>
  );
}

/** Re-renders every second, to tell how old the latest sample is. */
function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

function byCode(samples: readonly AdminStatsSnapshot[], pick: (s: AdminStatsSnapshot) => Record<string, number> | undefined): ChartSeries[] {
  const codes = codesOf(samples, pick);
  if (codes.length === 0) return [{ label: 'all codes', values: samples.map(() => 0) }];
  return codes.map((code) => ({ label: code, values: samples.map((s) => pick(s)?.[code] ?? 0) }));
}

/** Whether a node reports figures of an engine with a server (Redis). */
const hasEngineFigures = (n: NodeListing) => typeof n.engineErrors === 'number';

/**
 * The live nodes (the workers of `tidings serve --workers`, the nodes on one Redis): shown when
 * there is more than one, or when a node reports its engine's figures (latency and errors of
 * Redis as the node sees them, over the last 10 s), with the deployment's totals below.
 */
function Nodes({ nodes, counted, now }: { nodes: NodeListing[]; counted: readonly string[]; now: number }) {
  const engine = nodes.some(hasEngineFigures);
  const ms = (v: number | undefined) => (v === undefined ? '—' : formatNumber(v, v < 10 ? 2 : 1));
  const total = (pick: (n: NodeListing) => number | undefined) => nodes.reduce((a, n) => a + (pick(n) ?? 0), 0);
  const worstP99 = Math.max(...nodes.map((n) => n.engineP99Ms ?? -1));
  return (
    <Panel title={`Nodes (${nodes.length})`}>
      <div className="table-wrap">
        <table className="table table-compact" data-testid="nodes-table">
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Process</th>
              <th scope="col" className="num">
                Connections
              </th>
              {engine && (
                <>
                  <th scope="col">Engine</th>
                  <th scope="col" className="num" title="Round trips to Redis as the node sees them, over the last 10 s">
                    Redis p50 / p99 ms
                  </th>
                  <th scope="col" className="num" title="Redis failures and reconnects since the node started">
                    Redis errors
                  </th>
                  <th scope="col" className="num" title="Pub/sub channels the node subscribes to on Redis">
                    Pub/sub channels
                  </th>
                </>
              )}
              <th scope="col">Up</th>
              <th scope="col">Last heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((n) => (
              <tr key={n.id} data-node={n.id}>
                <td>
                  <code>{n.id}</code>
                  {counted.includes(n.id) ? null : <span className="muted small"> (no stats yet)</span>}
                </td>
                <td>
                  {n.host} · pid {n.pid}
                </td>
                <td className="num">{formatNumber(n.connections)}</td>
                {engine && (
                  <>
                    <td>{n.engine ?? '—'}</td>
                    <td className="num" data-testid="node-engine-latency">
                      {hasEngineFigures(n) ? `${ms(n.engineP50Ms)} / ${ms(n.engineP99Ms)}` : '—'}
                    </td>
                    <td className="num" data-testid="node-engine-errors">
                      {hasEngineFigures(n) ? formatNumber(n.engineErrors) : '—'}
                      {n.engineReconnects ? <span className="muted small"> · {formatNumber(n.engineReconnects)} reconnects</span> : null}
                    </td>
                    <td className="num">{hasEngineFigures(n) ? formatNumber(n.enginePubsubChannels) : '—'}</td>
                  </>
                )}
                <td>{formatDuration((now - Date.parse(n.startedAt)) / 1000)}</td>
                <td>{formatDuration(Math.max(0, (now - Date.parse(n.lastHeartbeat)) / 1000))} ago</td>
              </tr>
            ))}
          </tbody>
          {nodes.length > 1 && (
            <tfoot>
              <tr data-testid="nodes-total">
                <th scope="row" colSpan={2}>
                  All nodes
                </th>
                <td className="num">{formatNumber(total((n) => n.connections))}</td>
                {engine && (
                  <>
                    <td />
                    <td className="num" title="The slowest node's p99">
                      {worstP99 >= 0 ? `worst p99 ${ms(worstP99)}` : '—'}
                    </td>
                    <td className="num">{formatNumber(total((n) => n.engineErrors))}</td>
                    <td className="num">{formatNumber(total((n) => n.enginePubsubChannels))}</td>
                  </>
                )}
                <td colSpan={2} />
              </tr>
            </tfoot>
          )}
        </table>
      </div>
    </Panel>
  );
}

export function Overview() {
  const feed = useStatsFeed();
  const { samples, latest, receivedAt } = useSyncExternalStore(feed.store.subscribe, feed.store.getSnapshot);
  const indicator = useIndicator();
  const now = useNow();
  const nodes = useResource(() => api.nodes(), [], { refreshMs: 5000 });

  const times = useMemo(() => samples.map((s) => s.time / 1000), [samples]);
  const charts = useMemo(
    () => ({
      load: [
        { label: 'connections', values: samples.map((s) => s.connections) },
        { label: 'users', values: samples.map((s) => s.users) },
      ],
      pubs: [
        { label: 'in / s', values: samples.map((s) => s.publicationsInPerSecond) },
        { label: 'out / s', values: samples.map((s) => s.publicationsOutPerSecond) },
      ],
      errors: byCode(samples, (s) => s.errorsPerSecond),
      disconnects: byCode(samples, (s) => s.disconnectsPerSecond),
      lag: [
        { label: 'mean', values: samples.map((s) => s.eventLoopLagMs?.mean ?? null) },
        { label: 'p99', values: samples.map((s) => s.eventLoopLagMs?.p99 ?? null) },
      ],
    }),
    [samples],
  );

  const several = (latest?.nodeIds.length ?? 0) > 1;
  const staleSeconds = receivedAt ? Math.floor((now - receivedAt) / 1000) : 0;
  const sum = (r: Record<string, number> | undefined) => Object.values(r ?? {}).reduce((a, b) => a + b, 0);
  const errorsNow = latest ? sum(latest.errorsPerSecond) : undefined;
  // Samples are a second apart, so the rates add up to counts over the window.
  const errorsInWindow = Math.round(samples.reduce((a, s) => a + sum(s.errorsPerSecond), 0));
  const disconnectsInWindow = Math.round(samples.reduce((a, s) => a + sum(s.disconnectsPerSecond), 0));

  return (
    <>
      <div className="page-head">
        <h1 tabIndex={-1} className="page-title">
          Overview
        </h1>
        {latest && (
          <p className="muted small">
            {latest.nodeIds.length === 1 ? (
              <>
                Node <code>{latest.node}</code>
              </>
            ) : (
              <span data-testid="stat-nodes">{latest.nodeIds.length} nodes, figures summed</span>
            )}{' '}
            · Tidings {latest.version} ·{' '}
            <span data-testid="stat-dashboards" title="Dashboards’ own connections are not counted in the numbers below">
              {formatNumber(latest.dashboards)} dashboard{latest.dashboards === 1 ? '' : 's'} open
            </span>
          </p>
        )}
      </div>

      {feed.error && (
        <div className="notice notice-error" role="alert">
          <strong>Live stats are not available.</strong>
          <p>
            The subscription to <code>tidings-admin:stats</code> was refused: {feed.error.message} ({feed.error.code}).
          </p>
        </div>
      )}
      {!feed.error && indicator !== 'live' && latest && (
        <div className="notice notice-warn" role="status">
          <strong>{indicator === 'disconnected' ? 'Disconnected from the server.' : 'Reconnecting to the server…'}</strong>
          <p>The numbers below stopped {staleSeconds} s ago and resume once the connection is back.</p>
        </div>
      )}
      {!feed.error && indicator === 'live' && latest && staleSeconds >= 5 && (
        <div className="notice notice-warn" role="status">
          <strong>No stats for {staleSeconds} s.</strong>
          <p>The connection is up, but the server has not published stats since. It may be overloaded.</p>
        </div>
      )}

      {!latest && !feed.error ? (
        <Panel title="Live stats">
          <Empty title={indicator === 'live' ? 'Waiting for the first stats…' : 'Connecting to the server…'} icon="◌">
            The server publishes its numbers once a second; they appear here as they arrive.
          </Empty>
        </Panel>
      ) : null}

      {latest && (
        <section aria-label="Current numbers" className="cards">
          <Card label="Connections" value={formatNumber(latest.connections)} trend={trendOf(samples, (s) => s.connections)} testId="stat-connections" sub="open now, not counting dashboards" />
          <Card label="Users" value={formatNumber(latest.users)} trend={trendOf(samples, (s) => s.users)} testId="stat-users" sub={several ? 'signed in, each node’s distinct summed' : 'distinct, signed in, not dashboards'} />
          <Card label="Subscriptions" value={formatNumber(latest.subscriptions)} trend={trendOf(samples, (s) => s.subscriptions)} testId="stat-subscriptions" sub={`${formatNumber(latest.channels)} channels`} />
          <Card
            label="Publications"
            value={`${formatNumber(latest.publicationsInPerSecond)} / s`}
            trend={trendOf(samples, (s) => s.publicationsInPerSecond)}
            testId="stat-publications"
            sub={`${formatNumber(latest.publicationsOutPerSecond)} / s delivered`}
          />
          <Card
            label="Errors"
            value={`${formatNumber(errorsNow)} / s`}
            trend={trendOf(samples, (s) => sum(s.errorsPerSecond))}
            testId="stat-errors"
            sub={`${formatNumber(errorsInWindow)} errors, ${formatNumber(disconnectsInWindow)} disconnects in 5 min`}
          />
          <Card label="Event-loop lag" value={`${formatNumber(latest.eventLoopLagMs?.p99, 1)} ms`} testId="stat-lag" sub={`p99 · mean ${formatNumber(latest.eventLoopLagMs?.mean, 1)} ms${several ? ' · worst node' : ''}`} />
          <Card label="Uptime" value={formatDuration(latest.uptimeSeconds)} testId="stat-uptime" sub={several ? `longest of ${latest.nodeIds.length} nodes` : `node ${latest.node}`} />
          <Card label="Memory" value={formatBytes(latest.memory?.rss)} trend={trendOf(samples, (s) => s.memory?.rss ?? 0, 30)} testId="stat-memory" sub={`heap ${formatBytes(latest.memory?.heapUsed)}${several ? ', all nodes' : ''}`} />
          <Card label="Version" value={latest.version} testId="stat-version" sub="Tidings server" />
        </section>
      )}

      {nodes.data && (nodes.data.nodes.length > 1 || nodes.data.nodes.some(hasEngineFigures)) && <Nodes nodes={nodes.data.nodes} counted={latest?.nodeIds ?? []} now={now} />}

      {(latest || samples.length > 0) && (
        <section aria-label="Charts, last five minutes" className="charts">
          <LiveChart title="Connections and users" times={times} series={charts.load} format={(v) => formatNumber(v)} integer />
          <LiveChart title="Publications per second" times={times} series={charts.pubs} />
          <LiveChart title="Errors per second, by code" times={times} series={charts.errors} zeroText="No errors in the last five minutes" />
          <LiveChart title="Disconnects per second, by code" times={times} series={charts.disconnects} zeroText="No disconnects in the last five minutes" />
          <LiveChart title="Event-loop lag (ms)" times={times} series={charts.lag} format={(v) => v.toFixed(v < 10 ? 1 : 0)} />
        </section>
      )}
    </>
  );
}
