/** Pieces several screens show: a run's live progress and a run's report. */
import { api, formatBytes, formatDuration, formatTime, type Schemas } from '../api';
import { useLiveEvents } from '../live';
import { ErrorBanner, ProgressBar, Status, useLoad } from '../ui';
import { useEffect } from 'react';

export function RunProgress({
  runId,
  title,
  onFinished,
}: {
  runId: string;
  title: string;
  onFinished?: () => void;
}) {
  const live = useLiveEvents('runs', runId);
  const run = useLoad(
    () => api.GET('/v1/runs/{id}', { params: { path: { id: runId } } }),
    [runId, live.finished],
  );
  useEffect(() => {
    if (live.finished) onFinished?.();
    // onFinished changes identity every render; only the transition matters.
  }, [live.finished]);
  const backups = run.data?.backups ?? [];
  return (
    <article className="card run" aria-live="polite" data-run={runId}>
      <h3>
        {title} <Status value={live.status ?? run.data?.status ?? 'queued'} />
      </h3>
      <ul className="plain">
        {backups.map((b) => {
          const p = live.progress[`${b.serviceId}:${b.targetId}`];
          const done = b.status === 'success';
          return (
            <li key={`${b.serviceId}:${b.targetId}`}>
              <span>
                {b.serviceName} → {b.targetName} <Status value={done ? 'success' : b.status} />
              </span>
              <ProgressBar
                label={`${b.serviceName} to ${b.targetName}`}
                done={done ? 1 : (p?.bytesDone ?? 0)}
                total={done ? 1 : (p?.bytesTotal ?? 0)}
              />
              {p && !done ? (
                <small>
                  {p.phase}: {p.filesDone}/{p.filesTotal} files, {formatBytes(p.bytesDone)} of{' '}
                  {formatBytes(p.bytesTotal)}
                </small>
              ) : null}
              {b.error ? <small className="field-error">{b.error}</small> : null}
            </li>
          );
        })}
      </ul>
    </article>
  );
}

export function ReportView({ runId }: { runId: string }) {
  const report = useLoad(() => api.GET('/v1/runs/{id}/report', { params: { path: { id: runId } } }), [runId]);
  if (report.error) return <ErrorBanner error={report.error} />;
  if (!report.data) return <p>Loading the report…</p>;
  return <Report summary={report.data.summary} />;
}

export function Report({ summary: s }: { summary: Schemas['ReportSummary'] }) {
  return (
    <article className="card report" data-report={s.runId}>
      <h3>
        Report: {s.plan.name} <Status value={s.status} />
      </h3>
      <p>
        {s.trigger} run, finished {formatTime(s.finishedAt)} in {formatDuration(s.durationMs)} —{' '}
        {s.counts.succeeded} of {s.counts.total} backed up, {s.counts.failed} failed;{' '}
        {formatBytes(s.totals.totalBytes)} in {s.totals.files} files, {formatBytes(s.totals.bytesAdded)} new.
      </p>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Target</th>
              <th scope="col">Status</th>
              <th scope="col">Size</th>
              <th scope="col">Added</th>
              <th scope="col">Duration</th>
              <th scope="col">Errors</th>
            </tr>
          </thead>
          <tbody>
            {s.backups.map((b) => (
              <tr key={`${b.serviceId}:${b.targetId}`}>
                <td>{b.serviceName}</td>
                <td>{b.targetName}</td>
                <td>
                  <Status value={b.status} />
                </td>
                <td>{formatBytes(b.totalBytes)}</td>
                <td>{formatBytes(b.bytesAdded)}</td>
                <td>{formatDuration(b.durationMs)}</td>
                <td>
                  {b.error ? `${b.error.code}: ${b.error.message}` : null}
                  {b.unreadableCount > 0 ? (
                    <details>
                      <summary>{b.unreadableCount} unreadable</summary>
                      <ul>
                        {b.unreadable.map((u) => (
                          <li key={u.path}>
                            {u.path}: {u.error}
                          </li>
                        ))}
                      </ul>
                    </details>
                  ) : null}
                  {!b.error && b.unreadableCount === 0 ? 'none' : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </article>
  );
}
