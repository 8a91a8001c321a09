/**
 * Overview: every service × target up to date or overdue (overdue first: "if backing up to
 * multiple targets make sure all backups are up to date"), running backups with live progress,
 * and the last report with its errors.
 */
import { api, type Schemas, formatTime } from '../api';
import { ErrorBanner, Link, Status, useLoad } from '../ui';
import { ReportView, RunProgress } from './shared';

type Row = Schemas['FreshnessEntryView'] & { serviceName: string; serviceState: string };

export function Overview() {
  const fresh = useLoad(async () => {
    const services = await api.GET('/v1/services');
    if (!services.data) return services;
    const views = await Promise.all(
      services.data.map((s) => api.GET('/v1/services/{id}/freshness', { params: { path: { id: s.id } } })),
    );
    const rows: Row[] = views.flatMap((v) =>
      (v.data?.entries ?? []).map((e) => ({
        ...e,
        serviceName: v.data?.serviceName ?? '',
        serviceState: v.data?.state ?? '',
      })),
    );
    rows.sort((a, b) => Number(b.overdue) - Number(a.overdue) || a.dueBy.localeCompare(b.dueBy));
    return { data: rows, response: services.response };
  }, []);
  const runs = useLoad(async () => {
    const plans = await api.GET('/v1/plans');
    if (!plans.data) return plans;
    const pages = await Promise.all(
      plans.data.map((p) =>
        api.GET('/v1/plans/{id}/runs', { params: { path: { id: p.id }, query: { limit: 5 } } }),
      ),
    );
    const all = pages.flatMap((p) => p.data?.items ?? []);
    const running = all.filter((r) => r.status === 'queued' || r.status === 'running');
    const last = all
      .filter((r) => r.finishedAt)
      .sort((a, b) => (b.finishedAt ?? '').localeCompare(a.finishedAt ?? ''))[0];
    const names = Object.fromEntries(plans.data.map((p) => [p.id, p.name]));
    return { data: { running, last, names }, response: plans.response };
  }, []);

  return (
    <section>
      <h1>Overview</h1>
      <h2>Backups per service and target</h2>
      <ErrorBanner error={fresh.error} />
      {fresh.data && fresh.data.length === 0 ? (
        <p>
          No service is in a plan yet. <Link to="/plans">Create a plan</Link>.
        </p>
      ) : null}
      {fresh.data && fresh.data.length > 0 ? (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Freshness of every service on every target, overdue first</caption>
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">Target</th>
                <th scope="col">Plan</th>
                <th scope="col">Last success</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {fresh.data.map((r) => (
                <tr key={`${r.planId}:${r.targetId}:${r.serviceName}`} className={r.overdue ? 'overdue' : ''}>
                  <td>{r.serviceName}</td>
                  <td>{r.targetName}</td>
                  <td>
                    <Link to={`/plans/${r.planId}`}>{r.planName}</Link>
                    {r.paused ? ' (paused)' : ''}
                  </td>
                  <td>{formatTime(r.lastSuccessAt)}</td>
                  <td>
                    <Status value={r.overdue ? 'overdue' : 'up_to_date'} />{' '}
                    {r.serviceState === 'backing_up' ? <Status value="backing_up" /> : null}
                    <small> due by {formatTime(r.dueBy)}</small>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <h2>Running backups</h2>
      <ErrorBanner error={runs.error} />
      {runs.data?.running.length === 0 ? <p>Nothing is running.</p> : null}
      {runs.data?.running.map((r) => (
        <RunProgress
          key={r.id}
          runId={r.id}
          title={`${runs.data?.names[r.planId] ?? 'Plan'} — ${r.trigger} run`}
          onFinished={runs.reload}
        />
      ))}
      <h2>Last report</h2>
      {runs.data && !runs.data.last ? <p>No run has finished yet.</p> : null}
      {runs.data?.last ? <ReportView runId={runs.data.last.id} /> : null}
    </section>
  );
}
