/**
 * Entry of the demo: sign in (a name is enough), then one Tidings client for the page,
 * connected to the same origin the page came from.
 */
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { Tidings } from '@tidings/client';
import { TidingsProvider } from '@tidings/react';
import { connectionConfig, forgetSession, renewSession, storedSession, tokenLifetime, type Session } from './api.js';
import { App } from './App.js';
import { BoardProvider } from './board-data.js';
import { SignIn } from './components/SignIn.js';
import './styles.css';

function createClient(session: Session, paths: { websocketPath: string; httpPath: string }): Tidings {
  const { protocol, host } = window.location;
  const ws = `${protocol === 'https:' ? 'wss' : 'ws'}://${host}${paths.websocketPath}`;
  // The stored token first while it has a minute left; after that (to refresh it, or when the
  // server refused it, e.g. after the dev secret changed) a new one from the demo backend.
  let stored: string | null = tokenLifetime(session.token) > 60 ? session.token : null;
  const client = new Tidings(ws, {
    httpUrl: `${protocol}//${host}${paths.httpPath}`,
    getToken: async () => {
      const token = stored;
      stored = null;
      return token ?? (await renewSession())?.token ?? null;
    },
    // Viewers see "away" while this tab is hidden.
    awayWhenHidden: true,
  });
  // A refused token stops the client: try once more with a fresh one.
  let retried = false;
  client.on('disconnected', ({ error }) => {
    if (error?.code !== 'unauthorized' || retried) return;
    retried = true;
    client.connect().catch(() => {});
  });
  client.on('connected', () => {
    retried = false;
  });
  return client;
}

function Root() {
  const [session, setSession] = useState<Session | null>(() => storedSession());
  const [client, setClient] = useState<Tidings | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  useEffect(() => {
    if (!session) return;
    let made: Tidings | null = null;
    let live = true;
    connectionConfig().then(
      (paths) => {
        if (!live) return;
        made = createClient(session, paths);
        setClient(made);
        // Failures show in the connection indicator; the client keeps retrying by itself.
        made.connect().catch(() => {});
      },
      (err: Error) => live && setFailure(err.message),
    );
    return () => {
      live = false;
      made?.disconnect();
      setClient(null);
    };
  }, [session?.user]);

  // Signing out (or in as someone else) in another tab applies to this one too.
  useEffect(() => {
    const onStorage = () => {
      const now = storedSession();
      if (now?.user !== session?.user) window.location.reload();
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, [session?.user]);

  if (!session) return <SignIn onSignedIn={setSession} />;
  if (failure) {
    return (
      <main className="sign-in" id="main">
        <div className="sign-in-card">
          <h1>The demo backend is not answering</h1>
          <p className="inline-error" role="alert">
            {failure}
          </p>
          <p>The team board runs under `tidings dev` (or `npm start`). Start it and reload this page.</p>
        </div>
      </main>
    );
  }
  if (!client) return <p className="boot">Connecting…</p>;
  const signOut = () => {
    client.disconnect();
    forgetSession();
    setSession(null);
  };
  return (
    <TidingsProvider client={client}>
      <BoardProvider>
        <App me={{ id: session.user, name: session.name }} onSignOut={signOut} />
      </BoardProvider>
    </TidingsProvider>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
