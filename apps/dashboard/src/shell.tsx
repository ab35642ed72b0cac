/**
 * The signed-in dashboard: its own Tidings connection (created for this session and
 * closed at sign-out), the live stats collector, the header with the connection
 * indicator, the section navigation and the current page.
 */
import { useEffect, useRef, useState } from 'react';
import type { Tidings } from '@tidings/client';
import { TidingsProvider, useTidings } from '@tidings/react';
import { fetchMe, OPENAPI_URL, signOut, type Me } from './lib/api.js';
import { createLiveClient } from './lib/live.js';
import { hrefOf, linkClick, useRoute, type Route } from './lib/router.js';
import { StatsStore } from './lib/stats.js';
import { StatsCollector } from './lib/stats-feed.js';
import { ConnectionIndicator } from './components/connection-indicator.js';
import type { SignInNotice } from './pages/sign-in.js';
import { Overview } from './pages/overview.js';
import { Channels } from './pages/channels.js';
import { ChannelDetail } from './pages/channel-detail.js';
import { Users } from './pages/users.js';
import { Notifications } from './pages/notifications.js';
import { ActivityPage } from './pages/activity.js';
import { Webhooks } from './pages/webhooks.js';
import { Empty } from './components/states.js';

const SECTIONS: { label: string; route: Route; matches: Route['page'][] }[] = [
  { label: 'Overview', route: { page: 'overview' }, matches: ['overview'] },
  { label: 'Channels', route: { page: 'channels' }, matches: ['channels', 'channel'] },
  { label: 'Users', route: { page: 'users' }, matches: ['users'] },
  { label: 'Notifications', route: { page: 'notifications' }, matches: ['notifications'] },
  { label: 'Activity & audit', route: { page: 'activity' }, matches: ['activity'] },
  { label: 'Webhooks', route: { page: 'webhooks' }, matches: ['webhooks'] },
];

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'overview':
      return <Overview />;
    case 'channels':
      return <Channels />;
    case 'channel':
      return <ChannelDetail channel={route.channel} />;
    case 'users':
      return <Users />;
    case 'notifications':
      return <Notifications />;
    case 'activity':
      return <ActivityPage />;
    case 'webhooks':
      return <Webhooks />;
    case 'not-found':
      return (
        <>
          <h1 tabIndex={-1} className="page-title">
            Page not found
          </h1>
          <Empty title={`There is no dashboard page at “${route.path}”.`} icon="?">
            <a href={hrefOf({ page: 'overview' })} onClick={linkClick}>
              Go to the overview
            </a>
          </Empty>
        </>
      );
  }
}

function Frame({ me, onSignOut }: { me: Me; onSignOut(): void }) {
  const route = useRoute();
  const client = useTidings();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);

  // After navigating, move focus to the new page's heading, as a page load would.
  const key = route.page === 'channel' ? `channel:${route.channel}` : route.page;
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const heading = main.current?.querySelector<HTMLElement>('h1');
    (heading ?? main.current)?.focus({ preventScroll: false });
    window.scrollTo(0, 0);
  }, [key]);

  const expires = new Date(me.expiresAt);
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" href={hrefOf({ page: 'overview' })} onClick={linkClick} aria-label="Tidings dashboard, overview">
          <span className="brand-mark" aria-hidden="true" />
          <span>Tidings</span>
        </a>
        <ConnectionIndicator onReconnect={() => void client.connect().catch(() => {})} />
        <div className="topbar-user">
          <a className="small muted" href={OPENAPI_URL} target="_blank" rel="noreferrer" title="The server API's OpenAPI 3.1 document">
            API (OpenAPI)
          </a>
          <span className="small muted" title={`Session ends ${expires.toLocaleString()}`}>
            Signed in as <b data-testid="signed-in-as">{me.name}</b>
          </span>
          <button type="button" className="btn btn-small" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <nav className="nav" aria-label="Sections">
        <ul>
          {SECTIONS.map((s) => {
            const current = s.matches.includes(route.page);
            return (
              <li key={s.label}>
                <a href={hrefOf(s.route)} onClick={linkClick} aria-current={current ? 'page' : undefined}>
                  {s.label}
                </a>
              </li>
            );
          })}
        </ul>
      </nav>
      <main id="main" ref={main} tabIndex={-1} className="main">
        <Page route={route} />
      </main>
    </div>
  );
}

export function Shell({ me, onSignedOut }: { me: Me; onSignedOut(notice?: SignInNotice): void }) {
  const [client] = useState<Tidings>(() => createLiveClient());
  const [store] = useState(() => new StatsStore());

  useEffect(() => {
    // The outcome is shown by the connection indicator; connect() only rejects once stopped.
    client.connect().catch(() => {});
    return () => client.disconnect();
  }, [client]);

  // The client stopped for good (a refused token, e.g. after the server restarted): if the
  // session is gone, back to sign-in; if it is still there, try once more with a fresh token.
  const lastRetry = useRef(0);
  const signedOut = useRef(onSignedOut);
  signedOut.current = onSignedOut;
  useEffect(
    () =>
      client.on('disconnected', ({ error }) => {
        if (!error) return;
        fetchMe().then(
          (session) => {
            if (!session) signedOut.current('expired');
            else if (Date.now() - lastRetry.current > 30_000) {
              lastRetry.current = Date.now();
              client.connect().catch(() => {});
            }
          },
          () => {},
        );
      }),
    [client],
  );

  const doSignOut = async () => {
    client.disconnect();
    try {
      await signOut();
    } catch {
      // The cookie is cleared by the server's answer; if it never came, the session still ends on its own.
    }
    onSignedOut('signed-out');
  };

  return (
    <TidingsProvider client={client}>
      <StatsCollector store={store}>
        <Frame me={me} onSignOut={() => void doSignOut()} />
      </StatsCollector>
    </TidingsProvider>
  );
}
