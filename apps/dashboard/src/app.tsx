/**
 * The dashboard's top level: find out whether this browser has a session, show the
 * sign-in screen or the signed-in shell, and go back to sign-in when the session ends.
 */
import { useCallback, useEffect, useState } from 'react';
import { fetchMe, setUnauthorizedHandler, type Me } from './lib/api.js';
import { SignIn, type SignInNotice } from './pages/sign-in.js';
import { Shell } from './shell.js';
import { Loading } from './components/states.js';

type Session = { kind: 'checking' } | { kind: 'error'; error: Error } | { kind: 'signed-out'; notice?: SignInNotice } | { kind: 'signed-in'; me: Me };

/** `?signin=failed` (a used or wrong sign-in link) is read once and taken out of the address. */
function takeSignInNotice(): SignInNotice | undefined {
  const url = new URL(window.location.href);
  const value = url.searchParams.get('signin');
  if (value === null) return undefined;
  url.searchParams.delete('signin');
  window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  return value === 'failed' ? 'link-failed' : undefined;
}

// Read at load, not in an effect: StrictMode runs effects twice, and the second run would find it gone.
const initialNotice = typeof window === 'undefined' ? undefined : takeSignInNotice();

export function App() {
  const [session, setSession] = useState<Session>({ kind: 'checking' });

  const check = useCallback((notice?: SignInNotice) => {
    setSession({ kind: 'checking' });
    fetchMe().then(
      (me) => setSession(me ? { kind: 'signed-in', me } : { kind: 'signed-out', ...(notice ? { notice } : {}) }),
      (error: Error) => setSession({ kind: 'error', error }),
    );
  }, []);

  useEffect(() => check(initialNotice), [check]);

  useEffect(() => {
    setUnauthorizedHandler(() => setSession((s) => (s.kind === 'signed-in' ? { kind: 'signed-out', notice: 'expired' } : s)));
    return () => setUnauthorizedHandler(undefined);
  }, []);

  switch (session.kind) {
    case 'checking':
      return (
        <div className="center-screen">
          <Loading label="Opening the dashboard…" />
        </div>
      );
    case 'error':
      return <SignIn notice="unreachable" error={session.error} onSignedIn={(me) => setSession({ kind: 'signed-in', me })} onRetry={() => check()} />;
    case 'signed-out':
      return <SignIn {...(session.notice ? { notice: session.notice } : {})} onSignedIn={(me) => setSession({ kind: 'signed-in', me })} />;
    case 'signed-in':
      return <Shell me={session.me} onSignedOut={(notice) => setSession({ kind: 'signed-out', ...(notice ? { notice } : {}) })} />;
  }
}
