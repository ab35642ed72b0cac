/**
 * Two routes need no router library: the board (`/demo/`) and a task (`/demo/tasks/:id`).
 * `navigate()` pushes a history entry; `<Link>` is a real link (middle-click, keyboard)
 * that navigates in place.
 */
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';
import { BASE } from './api.js';

export type Route = { page: 'board' } | { page: 'task'; id: string } | { page: 'missing' };

const listeners = new Set<() => void>();
const notify = () => listeners.forEach((l) => l());
window.addEventListener('popstate', notify);

function subscribe(listener: () => void) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const currentPath = () => window.location.pathname;

export function parseRoute(pathname: string): Route {
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  if (path === '' || path === '/') return { page: 'board' };
  const task = /^\/tasks\/([\w-]+)\/?$/.exec(path);
  if (task) return { page: 'task', id: task[1]! };
  return { page: 'missing' };
}

export function useRoute(): Route {
  const path = useSyncExternalStore(subscribe, currentPath);
  return parseRoute(path);
}

export const hrefOf = (path: string) => `${BASE}${path}`;

export function navigate(path: string): void {
  const href = hrefOf(path);
  if (href === window.location.pathname) return;
  window.history.pushState(null, '', href);
  notify();
  window.scrollTo(0, 0);
}

export function Link({ to, onClick, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const go = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return <a href={hrefOf(to)} onClick={go} {...rest} />;
}
