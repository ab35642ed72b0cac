/**
 * A small History API router: the server answers every path under /dashboard/ with
 * index.html, so pages have real URLs (/dashboard/channels/chat%3Alobby) that can be
 * bookmarked and reloaded.
 */
import { useSyncExternalStore, type MouseEvent } from 'react';
import { BASE } from './api.js';

export type Route =
  | { page: 'overview' }
  | { page: 'channels' }
  | { page: 'channel'; channel: string }
  | { page: 'users' }
  | { page: 'notifications' }
  | { page: 'activity' }
  | { page: 'webhooks' }
  | { page: 'not-found'; path: string };

const listeners = new Set<() => void>();
const emit = () => listeners.forEach((l) => l());
if (typeof window !== 'undefined') window.addEventListener('popstate', emit);

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const currentPath = () => window.location.pathname;

export function parseRoute(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const parts = rest.split('/').filter(Boolean);
  const [first, second] = parts;
  if (!first) return { page: 'overview' };
  if (first === 'channels' && parts.length === 1) return { page: 'channels' };
  if (first === 'channels' && second !== undefined && parts.length === 2) {
    try {
      return { page: 'channel', channel: decodeURIComponent(second) };
    } catch {
      return { page: 'not-found', path: rest };
    }
  }
  if (parts.length === 1 && (first === 'users' || first === 'notifications' || first === 'activity' || first === 'webhooks')) return { page: first };
  return { page: 'not-found', path: rest };
}

export function hrefOf(route: Route): string {
  switch (route.page) {
    case 'overview':
      return `${BASE}/`;
    case 'channel':
      return `${BASE}/channels/${encodeURIComponent(route.channel)}`;
    case 'not-found':
      return `${BASE}/`;
    default:
      return `${BASE}/${route.page}`;
  }
}

export function navigate(href: string, replace = false): void {
  if (href === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, '', href);
  else window.history.pushState(null, '', href);
  emit();
}

export function useRoute(): Route {
  const path = useSyncExternalStore(subscribe, currentPath, () => `${BASE}/`);
  return parseRoute(path);
}

/** onClick for in-app links: plain clicks navigate in place, modified clicks open tabs as usual. */
export function linkClick(event: MouseEvent<HTMLAnchorElement>): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const href = event.currentTarget.getAttribute('href');
  if (!href || !href.startsWith('/')) return;
  event.preventDefault();
  navigate(href);
}
