/**
 * "Generate summary": the backend starts a fake job and reports its progress through
 * Tidings' progress API; the bar follows it live, in every tab of this user, and a page
 * opened mid-job shows the current percent at once.
 */
import { useState } from 'react';
import { api, summaryJobId, type Task } from '../api.js';
import { useProgress } from '@tidings/react';

export function Summary({ task }: { task: Task }) {
  const { job } = useProgress(summaryJobId(task.id));
  const [starting, setStarting] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const running = job !== undefined && !job.done;

  const start = () => {
    setStarting(true);
    setFailure(null);
    api('POST', `/tasks/${task.id}/summary`)
      .catch((err: Error) => setFailure(err.message))
      .finally(() => setStarting(false));
  };

  return (
    <section className="summary" aria-labelledby="summary-heading">
      <div className="summary-head">
        <h2 id="summary-heading">Summary</h2>
        <button type="button" onClick={start} disabled={starting || running} data-testid="summary-button">
          {running ? 'Generating…' : task.summary ? 'Regenerate summary' : 'Generate summary'}
        </button>
      </div>
      {job && (running || job.error) && (
        <div className="progress" data-testid="summary-progress">
          <div
            className="progress-track"
            role="progressbar"
            aria-label="Summary progress"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(job.percent)}
            aria-valuetext={`${Math.round(job.percent)}%${job.stage ? `, ${job.stage}` : ''}`}
          >
            <div className="progress-fill" style={{ width: `${job.percent}%` }} />
          </div>
          <p className="progress-label">
            {job.error ? <span className="inline-error">{job.error}</span> : `${job.stage ?? 'Working'} · ${Math.round(job.percent)}%`}
          </p>
        </div>
      )}
      {failure && (
        <p className="inline-error" role="alert">
          {failure}
        </p>
      )}
      <div aria-live="polite">
        {task.summary ? (
          <p className="summary-text" data-testid="summary-text">
            {task.summary}
          </p>
        ) : (
          !running && <p className="empty">No summary yet.</p>
        )}
      </div>
    </section>
  );
}
