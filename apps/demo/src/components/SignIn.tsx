/**
 * Sign-in by picking a name. The dev-mode backend mints a Tidings token for it; there
 * are no passwords, this is a demo (and the endpoint does not exist under `tidings serve`).
 */
import { useState, type FormEvent } from 'react';
import { signIn, type Session } from '../api.js';

const SUGGESTED = ['Jane', 'Sam', 'Priya', 'Diego'];

export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);

  const go = (value: string) => {
    const n = value.trim();
    if (!n) return;
    setBusy(true);
    setFailure(null);
    signIn(n)
      .then(onSignedIn)
      .catch((err: Error) => {
        setFailure(err.message);
        setBusy(false);
      });
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    go(name);
  };

  return (
    <main className="sign-in" id="main">
      <div className="sign-in-card">
        <p className="brand-large" aria-hidden="true">
          <span className="logo">T</span> Tidings
        </p>
        <h1>Team board demo</h1>
        <p>
          A small task board where everything is live: who is viewing a task, who is typing, comments, reactions, mentions and a long-running job. Open it in
          two windows and sign in with two names.
        </p>
        <h2 id="pick-heading">Pick a name</h2>
        <ul className="name-choices" aria-labelledby="pick-heading">
          {SUGGESTED.map((n) => (
            <li key={n}>
              <button type="button" className="secondary" onClick={() => go(n)} disabled={busy}>
                {n}
              </button>
            </li>
          ))}
        </ul>
        <form onSubmit={submit} className="sign-in-form">
          <label htmlFor="sign-in-name">…or type your own</label>
          <div className="row">
            <input
              id="sign-in-name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              maxLength={32}
              autoComplete="nickname"
              pattern="[A-Za-z][A-Za-z0-9_\-]*"
              title="One word: letters, digits, _ or -, starting with a letter"
              aria-describedby="sign-in-hint"
            />
            <button type="submit" disabled={busy || name.trim() === ''}>
              Sign in
            </button>
          </div>
          <p id="sign-in-hint" className="hint">
            One word, so others can mention you as @name.
          </p>
        </form>
        {failure && (
          <p className="inline-error" role="alert">
            {failure}
          </p>
        )}
      </div>
    </main>
  );
}
