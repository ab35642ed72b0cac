/** Loading, empty and error states: every panel shows one of these instead of going blank. */
import type { ReactNode } from 'react';
import { ApiError } from '../lib/api.js';

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

export function Empty({ title, children, icon = '○' }: { title: string; children?: ReactNode; icon?: string }) {
  return (
    <div className="state state-empty">
      <span className="state-icon" aria-hidden="true">
        {icon}
      </span>
      <p className="state-title">{title}</p>
      {children && <div className="state-hint">{children}</div>}
    </div>
  );
}

/** What an error means for the operator, in words. */
export function explain(error: Error): { title: string; detail: string } {
  if (error instanceof ApiError) {
    if (error.code === 'network') return { title: 'The server cannot be reached', detail: 'Check that Tidings is running and reachable from this browser.' };
    if (error.status === 401) return { title: 'Your session has ended', detail: 'Sign in again to continue.' };
    if (error.status === 403) return { title: 'Not allowed', detail: error.message };
    if (error.status === 409) return { title: 'Not available here', detail: error.message };
    if (error.status === 429) return { title: 'Too many requests', detail: error.retryAfter ? `Try again in ${error.retryAfter} s.` : error.message };
    if (error.status >= 500) return { title: 'The server had a problem', detail: `${error.message} (${error.code}). The details are in the server's log.` };
    return { title: 'The request was refused', detail: `${error.message} (${error.code})` };
  }
  return { title: 'Something went wrong', detail: error.message };
}

export function ErrorState({ error, onRetry, compact = false }: { error: Error; onRetry?: () => void; compact?: boolean }) {
  const { title, detail } = explain(error);
  return (
    <div className={`state state-error${compact ? ' state-compact' : ''}`} role="alert">
      <span className="state-icon" aria-hidden="true">
        !
      </span>
      <p className="state-title">{title}</p>
      <p className="state-hint">{detail}</p>
      {onRetry && (
        <button type="button" className="btn" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Panel({ title, actions, children, id, className }: { title: ReactNode; actions?: ReactNode; children: ReactNode; id?: string; className?: string }) {
  const headingId = id ? `${id}-title` : undefined;
  return (
    <section className={`panel${className ? ` ${className}` : ''}`} aria-labelledby={headingId} id={id}>
      <header className="panel-head">
        <h2 id={headingId}>{title}</h2>
        {actions && <div className="panel-actions">{actions}</div>}
      </header>
      <div className="panel-body">{children}</div>
    </section>
  );
}

/** "Updated 12:03:04" beside a refresh button. */
export function Freshness({ updatedAt, refreshing, onRefresh, auto }: { updatedAt: number | undefined; refreshing: boolean; onRefresh: () => void; auto?: string }) {
  return (
    <>
      <span className="muted small" aria-live="off">
        {[refreshing ? 'Updating…' : updatedAt ? `Updated ${new Date(updatedAt).toLocaleTimeString()}` : '', auto ?? ''].filter(Boolean).join(' · ')}
      </span>
      <button type="button" className="btn btn-small" onClick={onRefresh} disabled={refreshing}>
        Refresh
      </button>
    </>
  );
}
