/**
 * The signed-in app: header (connection, notifications, who you are), the page of the
 * current route, and the activity feed beside it (below it on a phone).
 */
import type { Person } from './api.js';
import { ActivityPanel } from './components/ActivityPanel.js';
import { Avatar } from './components/Avatar.js';
import { BoardPage } from './components/BoardPage.js';
import { ConnectionIndicator } from './components/ConnectionIndicator.js';
import { NotificationBell } from './components/NotificationBell.js';
import { TaskPage } from './components/TaskPage.js';
import { Link, useRoute } from './router.js';

export function App({ me, onSignOut }: { me: Person; onSignOut: () => void }) {
  const route = useRoute();
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand" aria-label="Tidings team board: home">
          <span className="logo" aria-hidden="true">
            T
          </span>
          <span className="brand-name">Team board</span>
        </Link>
        <div className="top-right">
          <ConnectionIndicator />
          <NotificationBell />
          <div className="me">
            <Avatar id={me.id} name={me.name} size="sm" />
            <span className="me-name" data-testid="me">
              {me.name}
            </span>
            <button type="button" className="link-button" onClick={onSignOut}>
              Sign out
            </button>
          </div>
        </div>
      </header>
      <div className="layout">
        <main id="main" tabIndex={-1}>
          {route.page === 'board' ? (
            <BoardPage />
          ) : route.page === 'task' ? (
            <TaskPage key={route.id} id={route.id} me={me} />
          ) : (
            <section>
              <h1>Page not found</h1>
              <p>
                <Link to="/">Back to the board</Link>
              </p>
            </section>
          )}
        </main>
        <aside className="side">
          <ActivityPanel />
        </aside>
      </div>
    </div>
  );
}
