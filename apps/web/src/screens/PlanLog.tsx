/**
 * Plan log: the plan's parameters, its total size, the snapshots per target (time, size, status),
 * its runs and each run's report; a running run shows its live progress.
 */
import { useState } from 'react';

import { api, formatBytes, formatTime } from '../api';
import { ErrorBanner, Link, Status, useLoad } from '../ui';
import { describeSchedule } from './Plans';
import { ReportView, RunProgress } from './shared';

export function PlanLog({ id }: { id: string }) {
  const plan = useLoad(() => api.GET('/v1/plans/{id}', { params: { path: { id } } }), [id]);
  const runs = useLoad(
    () => api.GET('/v1/plans/{id}/runs', { params: { path: { id }, query: { limit: 20 } } }),
    [id],
  );
  const snaps = useLoad(
    () => api.GET('/v1/plans/{id}/snapshots', { params: { path: { id }, query: { limit: 100 } } }),
    [id],
  );
  const [open, setOpen] = useState<string | null>(null);
  const p = plan.data;
  if (plan.error) return <ErrorBanner error={plan.error} />;
  if (!p) return <p>Loading…</p>;
  const reload = (): void => {
    runs.reload();
    snaps.reload();
    plan.reload();
  };
  const retention = Object.entries(p.retention)
    .map(([k, v]) => `${k.replace('keep', '').toLowerCase()} ${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(', ');
  return (
    <section>
      <h1>
        Plan log: {p.name} <Status value={p.state} />
      </h1>
      <p>
        <Link to="/plans">All plans</Link>
      </p>
      <h2>Parameters</h2>
      <dl className="params">
        <dt>Schedule</dt>
        <dd>{describeSchedule(p.schedule)}</dd>
        <dt>Services</dt>
        <dd>{p.services.map((s) => s.name).join(', ') || 'none'}</dd>
        <dt>Targets</dt>
        <dd>{p.targets.map((t) => t.name).join(', ')}</dd>
        <dt>Retention</dt>
        <dd>{retention || 'keep everything'}</dd>
        <dt>Verification</dt>
        <dd>
          {p.verify.schedule} ({p.verify.percent}% at {p.verify.time})
        </dd>
        <dt>Total size</dt>
        <dd data-testid="total-size">{formatBytes(p.targets.reduce((n, t) => n + t.sizeBytes, 0))}</dd>
      </dl>
      <h2>Snapshots per target</h2>
      <ErrorBanner error={snaps.error} />
      {p.targets.map((t) => {
        const items = (snaps.data?.items ?? []).filter((s) => s.targetId === t.id);
        return (
          <div key={t.id} className="table-wrap">
            <h3>
              {t.name} — {t.snapshotCount} snapshots, {formatBytes(t.sizeBytes)}
            </h3>
            <table>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Service</th>
                  <th scope="col">Size</th>
                  <th scope="col">Status</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {items.map((s) => (
                  <tr key={`${s.id}:${s.targetId}`}>
                    <td>{formatTime(s.time)}</td>
                    <td>{s.serviceName ?? '—'}</td>
                    <td>{formatBytes(s.totalBytes)}</td>
                    <td>
                      <Status value={s.status} />
                    </td>
                    <td>
                      <Link to={`/snapshots/${s.id}?target=${s.targetId}`}>Browse</Link>
                      {s.serviceId ? (
                        <>
                          {' · '}
                          <Link to={`/restore?service=${s.serviceId}`}>Restore</Link>
                        </>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {items.length === 0 ? <p>No snapshot on this target yet.</p> : null}
          </div>
        );
      })}
      <h2>Runs</h2>
      <ErrorBanner error={runs.error} />
      {runs.data?.items.length === 0 ? <p>No run yet.</p> : null}
      <ul className="plain">
        {runs.data?.items.map((r) => (
          <li key={r.id} className="run-row">
            {r.status === 'queued' || r.status === 'running' ? (
              <RunProgress
                runId={r.id}
                title={`${r.trigger} run, queued ${formatTime(r.queuedAt)}`}
                onFinished={reload}
              />
            ) : (
              <>
                <button
                  type="button"
                  className="link"
                  aria-expanded={open === r.id}
                  onClick={() => setOpen(open === r.id ? null : r.id)}
                >
                  {formatTime(r.queuedAt)} — {r.trigger} run
                </button>{' '}
                <Status value={r.status} />
                {open === r.id ? <ReportView runId={r.id} /> : null}
              </>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
