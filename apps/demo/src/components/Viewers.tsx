/**
 * Who is viewing this task now: everyone subscribed to `task:<id>`, as avatars, with
 * "away" while their tab is hidden (the client sets it: `awayWhenHidden`).
 */
import { usePresence } from '@tidings/react';
import { taskChannel } from '../api.js';
import { Avatar } from './Avatar.js';

export function Viewers({ taskId, me }: { taskId: string; me: string }) {
  const { users, state } = usePresence(taskChannel(taskId));
  // Yourself first, then the others by name.
  const sorted = [...users].sort((a, b) => (a.user === me ? -1 : b.user === me ? 1 : nameOf(a).localeCompare(nameOf(b))));
  return (
    <section className="viewers" aria-labelledby="viewers-heading">
      <h2 id="viewers-heading">
        Viewing now <span className="count">{state === 'subscribed' ? users.length : '–'}</span>
      </h2>
      <ul className="viewer-list" data-testid="viewers">
        {sorted.map((u) => {
          const name = nameOf(u);
          const status = u.status === 'away' ? 'away' : 'online';
          const label = `${name}${u.user === me ? ' (you)' : ''}, ${status}`;
          return (
            <li key={u.user} className={`viewer viewer-${status}`} title={label} data-user={u.user} data-status={status}>
              <Avatar id={u.user} name={name} status={status} />
              <span className="visually-hidden">{label}</span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function nameOf(u: { user: string; info?: Record<string, unknown> | undefined }): string {
  const name = u.info?.name;
  return typeof name === 'string' && name ? name : u.user;
}
