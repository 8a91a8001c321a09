/**
 * Restore: a service, a snapshot (by time and target), a destination (its own folder or another),
 * the password; the cross-architecture warning needs explicit consent; live progress; the result.
 */
import { useState } from 'react';

import { api, type ApiError, errorOf, formatBytes, formatTime, formError, type Schemas } from '../api';
import { useLiveEvents } from '../live';
import { ErrorBanner, Field, ProgressBar, Status, useLoad } from '../ui';

const CROSS_ARCH =
  'This snapshot was taken on another architecture. Restored here, the service will likely need to be reinstalled to run efficiently.';

export function Restore({ initialServiceId }: { initialServiceId: string | null }) {
  const services = useLoad(() => api.GET('/v1/services'), []);
  const plans = useLoad(() => api.GET('/v1/plans'), []);
  const [serviceId, setServiceId] = useState(initialServiceId ?? '');
  const service = services.data?.find((s) => s.id === serviceId);
  const planIds = (plans.data ?? [])
    .filter((p) => p.services.some((s) => s.id === serviceId))
    .map((p) => p.id);
  const snaps = useLoad(async () => {
    const pages = await Promise.all(
      planIds.map((id) =>
        api.GET('/v1/plans/{id}/snapshots', { params: { path: { id }, query: { serviceId, limit: 50 } } }),
      ),
    );
    const items = pages.flatMap((p) => p.data?.items ?? []).sort((a, b) => b.time.localeCompare(a.time));
    return { data: items, response: pages[0]?.response ?? new Response() };
  }, [serviceId, planIds.join(',')]);
  const [choice, setChoice] = useState('');
  const [own, setOwn] = useState(true);
  const [destination, setDestination] = useState('');
  const [password, setPassword] = useState('');
  const [consent, setConsent] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [restore, setRestore] = useState<Schemas['RestoreView'] | null>(null);

  const snap = snaps.data?.find((s) => `${s.id}:${s.targetId}` === choice);
  const crossArch = Boolean(snap && service && snap.arch !== service.arch);

  const submit = async (): Promise<void> => {
    if (!snap || !service) return;
    setError(null);
    const r = await api.POST('/v1/restores', {
      body: {
        serviceId: service.id,
        snapshotId: snap.id,
        targetId: snap.targetId,
        password,
        ...(own ? {} : { destination }),
        ...(crossArch || consent ? { allowCrossArch: consent } : {}),
      },
    });
    if (r.data) setRestore(r.data);
    else setError(errorOf(r.error, r.response));
  };

  if (restore) return <RestoreProgress restore={restore} onAgain={() => setRestore(null)} />;
  return (
    <section>
      <h1>Restore</h1>
      <form
        className="card"
        aria-label="Restore a service"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <Field label="Service" path="serviceId" error={error}>
          {(p) => (
            <select
              {...p}
              name="serviceId"
              value={serviceId}
              onChange={(e) => {
                setServiceId(e.target.value);
                setChoice('');
              }}
            >
              <option value="">— choose a service —</option>
              {services.data?.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Snapshot" path="snapshotId" error={error} hint="By time and target, newest first.">
          {(p) => (
            <select
              {...p}
              name="snapshot"
              value={choice}
              onChange={(e) => setChoice(e.target.value)}
              disabled={!serviceId}
            >
              <option value="">— choose a snapshot —</option>
              {snaps.data?.map((s) => (
                <option key={`${s.id}:${s.targetId}`} value={`${s.id}:${s.targetId}`}>
                  {formatTime(s.time)} on {s.targetName} — {formatBytes(s.totalBytes)} ({s.arch}
                  {s.status === 'partial' ? ', partial' : ''})
                </option>
              ))}
            </select>
          )}
        </Field>
        <fieldset>
          <legend>Destination</legend>
          <label className="inline">
            <input type="radio" name="dest" checked={own} onChange={() => setOwn(true)} /> Its own folder
            {service ? <code> {service.dataPath}</code> : null} (replaces its contents)
          </label>
          <label className="inline">
            <input type="radio" name="dest" checked={!own} onChange={() => setOwn(false)} /> Another folder
          </label>
          {!own ? (
            <Field label="Folder to restore into" path="destination" error={error}>
              {(p) => (
                <input
                  {...p}
                  name="destination"
                  value={destination}
                  onChange={(e) => setDestination(e.target.value)}
                />
              )}
            </Field>
          ) : null}
        </fieldset>
        <Field
          label="Backup password"
          path="password"
          error={error}
          hint="The plan's password when this snapshot was taken."
        >
          {(p) => (
            <input
              {...p}
              name="password"
              type="password"
              autoComplete="off"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        {crossArch || error?.code === 'CROSS_ARCH' ? (
          <div className="warning" role="alert">
            <p>
              {CROSS_ARCH} ({snap?.arch} → {service?.arch})
            </p>
            <label className="inline">
              <input
                type="checkbox"
                name="allowCrossArch"
                checked={consent}
                onChange={(e) => setConsent(e.target.checked)}
              />{' '}
              I understand; restore anyway
            </label>
          </div>
        ) : null}
        <ErrorBanner
          error={error}
          message={formError(error, ['serviceId', 'snapshotId', 'destination', 'password'])}
        />
        <div className="actions">
          <button type="submit" disabled={!snap || (crossArch && !consent)}>
            Restore
          </button>
        </div>
      </form>
    </section>
  );
}

function RestoreProgress({ restore, onAgain }: { restore: Schemas['RestoreView']; onAgain: () => void }) {
  const live = useLiveEvents('restores', restore.id);
  const view = useLoad(
    () => api.GET('/v1/restores/{id}', { params: { path: { id: restore.id } } }),
    [restore.id, live.finished],
  );
  const r = view.data ?? restore;
  const p = Object.values(live.progress)[0];
  const done = r.status === 'success';
  return (
    <section>
      <h1>Restore</h1>
      <article className="card" aria-live="polite" data-restore={r.id}>
        <h2>
          {r.serviceName} from {r.targetName}{' '}
          <Status value={live.finished ? r.status : (live.status ?? r.status)} />
        </h2>
        <p>
          Into <code>{r.destination}</code>, queued {formatTime(r.queuedAt)}
        </p>
        {r.warnings.map((w) => (
          <p key={w} className="warning">
            {w}
          </p>
        ))}
        <ProgressBar
          label="Restore progress"
          done={done ? 1 : (p?.bytesDone ?? 0)}
          total={done ? 1 : (p?.bytesTotal ?? 0)}
        />
        {p && !done ? (
          <small>
            {p.filesDone}/{p.filesTotal} files, {formatBytes(p.bytesDone)} of {formatBytes(p.bytesTotal)}
          </small>
        ) : null}
        {done ? <p role="status">Restored. Finished {formatTime(r.finishedAt)}.</p> : null}
        {r.error ? <p className="error">{r.error}</p> : null}
        <button type="button" onClick={onAgain}>
          Another restore
        </button>
      </article>
    </section>
  );
}
