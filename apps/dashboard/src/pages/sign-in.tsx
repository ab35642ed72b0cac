/**
 * Sign-in with an admin-scope API key. The key goes to the server once, in the body of
 * POST /dashboard/api/session, and is then dropped: the session lives in an HttpOnly
 * cookie the page cannot read, and nothing is put in storage or in the address.
 */
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, signIn, type Me } from '../lib/api.js';
import { explain } from '../components/states.js';

export type SignInNotice = 'link-failed' | 'expired' | 'signed-out' | 'unreachable';

const NOTICES: Record<SignInNotice, { tone: 'error' | 'info'; title: string; text: ReactNode }> = {
  'link-failed': {
    tone: 'error',
    title: 'That sign-in link did not work',
    text: (
      <>
        A sign-in link works once and only for a short time. Restart <code>tidings dev</code> for a new link, or sign in with an admin API key below.
      </>
    ),
  },
  expired: { tone: 'info', title: 'Your session has ended', text: 'Sign in again to continue.' },
  'signed-out': { tone: 'info', title: 'Signed out', text: 'You have signed out of the dashboard.' },
  unreachable: { tone: 'error', title: 'The server cannot be reached', text: 'The dashboard could not ask the server whether you are signed in.' },
};

type Failure = { kind: 'empty' } | { kind: 'wrong-key' } | { kind: 'throttled'; until: number } | { kind: 'other'; error: Error };

export interface SignInProps {
  notice?: SignInNotice;
  error?: Error;
  onSignedIn(me: Me): void;
  onRetry?: () => void;
}

export function SignIn({ notice, error, onSignedIn, onRetry }: SignInProps) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<Failure | undefined>();
  const [now, setNow] = useState(() => Date.now());
  const input = useRef<HTMLInputElement>(null);

  const throttledFor = failure?.kind === 'throttled' ? Math.max(0, Math.ceil((failure.until - now) / 1000)) : 0;

  useEffect(() => {
    if (failure?.kind !== 'throttled') return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [failure]);

  useEffect(() => {
    if (failure?.kind === 'throttled' && throttledFor === 0) setFailure(undefined);
  }, [failure, throttledFor]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy || throttledFor > 0) return;
    const value = key.trim();
    if (value === '') {
      setFailure({ kind: 'empty' });
      input.current?.focus();
      return;
    }
    setBusy(true);
    setFailure(undefined);
    try {
      const me = await signIn(value);
      setKey('');
      onSignedIn(me);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setFailure({ kind: 'wrong-key' });
      else if (err instanceof ApiError && err.status === 429) {
        setNow(Date.now());
        setFailure({ kind: 'throttled', until: Date.now() + (err.retryAfter ?? 60) * 1000 });
      } else setFailure({ kind: 'other', error: err as Error });
      setBusy(false);
      input.current?.select();
    }
  }

  const shown = notice ? NOTICES[notice] : undefined;
  const describedBy = failure ? 'signin-error' : 'signin-help';

  return (
    <div className="center-screen signin-screen">
      <main className="signin-card" aria-labelledby="signin-title">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true" />
          <span>Tidings</span>
        </div>
        <h1 id="signin-title">Sign in to the dashboard</h1>

        {shown && (
          <div className={`notice notice-${shown.tone}`} role={shown.tone === 'error' ? 'alert' : 'status'} data-testid="signin-notice">
            <strong>{shown.title}</strong>
            <p>{shown.text}</p>
            {notice === 'unreachable' && error && <p className="small muted">{error.message}</p>}
            {notice === 'unreachable' && onRetry && (
              <button type="button" className="btn btn-small" onClick={onRetry}>
                Try again
              </button>
            )}
          </div>
        )}

        <form className="form" method="post" action="#" onSubmit={submit} noValidate>
          <div className="field">
            <label htmlFor="admin-key">Admin API key</label>
            <input
              ref={input}
              id="admin-key"
              name="key"
              type="password"
              autoComplete="off"
              spellCheck={false}
              autoCapitalize="off"
              autoFocus
              value={key}
              onChange={(e) => setKey(e.target.value)}
              aria-invalid={failure?.kind === 'wrong-key' || failure?.kind === 'empty' || undefined}
              aria-describedby={describedBy}
            />
            <p id="signin-help" className="help">
              A key with the <code>admin</code> scope from the server's <code>apiKeys</code>. It is exchanged for a short session and is not stored in
              this browser.
            </p>
          </div>

          {failure && (
            <div id="signin-error" className="notice notice-error" role="alert" data-testid="signin-error">
              {failure.kind === 'empty' && <strong>Enter an admin API key.</strong>}
              {failure.kind === 'wrong-key' && (
                <>
                  <strong>That key was not accepted.</strong>
                  <p>Check that it is an API key of this server with the admin scope.</p>
                </>
              )}
              {failure.kind === 'throttled' && (
                <>
                  <strong>Too many failed attempts.</strong>
                  <p>
                    Sign-in is paused for this address. Try again in <span data-testid="retry-seconds">{throttledFor}</span> s.
                  </p>
                </>
              )}
              {failure.kind === 'other' && (
                <>
                  <strong>{explain(failure.error).title}</strong>
                  <p>{explain(failure.error).detail}</p>
                </>
              )}
            </div>
          )}

          <button type="submit" className="btn btn-primary btn-block" disabled={busy || throttledFor > 0}>
            {busy ? 'Signing in…' : throttledFor > 0 ? `Wait ${throttledFor} s` : 'Sign in'}
          </button>
        </form>
        <p className="small muted signin-foot">
          Running <code>tidings dev</code>? It prints a one-time sign-in link, so you need no key.
        </p>
      </main>
    </div>
  );
}
