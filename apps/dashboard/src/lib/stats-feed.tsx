/** The session's live stats feed, shared by the shell (which subscribes) and the pages. */
import { createContext, useContext, type ReactNode } from 'react';
import type { TidingsError } from '@tidings/client';
import { useChannel } from '@tidings/react';
import { STATS_CHANNEL, type StatsStore } from './stats.js';

export interface StatsFeed {
  store: StatsStore;
  state: 'subscribing' | 'subscribed' | 'unsubscribed';
  error: TidingsError | null;
}

const StatsContext = createContext<StatsFeed | null>(null);

export function useStatsFeed(): StatsFeed {
  const feed = useContext(StatsContext);
  if (!feed) throw new Error('useStatsFeed() must be used inside <StatsCollector>');
  return feed;
}

/** Subscribes to the stats channel for the whole session, whichever page is shown. */
export function StatsCollector({ store, children }: { store: StatsStore; children: ReactNode }) {
  const { state, error } = useChannel(STATS_CHANNEL, { keep: 1, onPublication: (p) => store.push(p.data) });
  return <StatsContext.Provider value={{ store, state, error }}>{children}</StatsContext.Provider>;
}
