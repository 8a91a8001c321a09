/**
 * Plans: create (name ≥ 1 character, daily/weekly, time, weekday when weekly, time zone, password
 * twice ≥ 4 characters, targets, services, retention — with the lost-password reminder), edit (the
 * name read-only), pause/resume, run now, change the password, delete with the documents' warning
 * and a typed confirmation.
 */
import { useState } from 'react';

import {
  api,
  type ApiError,
  errorOf,
  fieldError,
  formatBytes,
  formatTime,
  formError,
  type Schemas,
} from '../api';
import { navigate } from '../router';
import { ErrorBanner, Field, Link, Status, useLoad } from '../ui';

type Plan = Schemas['PlanView'];
export const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const LOST_PASSWORD = 'Remember this password: if you lose it, you will not be able to restore your backups.';
const DELETE_WARNING =
  'Deleting a backup plan also removes all its backup snapshots. Make sure your data is safe before you go on.';

function zones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  return intl.supportedValuesOf?.('timeZone') ?? ['UTC'];
}

export function Plans() {
  const list = useLoad(() => api.GET('/v1/plans'), []);
  const [mode, setMode] = useState<
    { kind: 'new' } | { kind: 'edit' | 'password' | 'delete'; plan: Plan } | null
  >(null);
  const [message, setMessage] = useState<{ text: string; error?: ApiError } | null>(null);

  const act = async (plan: Plan, what: 'pause' | 'resume' | 'run'): Promise<void> => {
    const path = { params: { path: { id: plan.id } } };
    const r =
      what === 'pause'
        ? await api.POST('/v1/plans/{id}/pause', path)
        : what === 'resume'
          ? await api.POST('/v1/plans/{id}/resume', path)
          : await api.POST('/v1/plans/{id}/runs', path);
    if (r.error !== undefined) setMessage({ text: '', error: errorOf(r.error, r.response) });
    else if (what === 'run') navigate(`/plans/${plan.id}`);
    else {
      setMessage({ text: `${plan.name}: ${what === 'pause' ? 'paused' : 'resumed'}.` });
      list.reload();
    }
  };

  const done = (text?: string): void => {
    setMode(null);
    if (text) setMessage({ text });
    list.reload();
  };

  return (
    <section>
      <h1>Plans</h1>
      <ErrorBanner error={list.error} />
      {message?.error ? (
        <ErrorBanner error={message.error} />
      ) : message ? (
        <p role="status">{message.text}</p>
      ) : null}
      <ul className="plain cards">
        {list.data?.map((p) => (
          <li key={p.id} className="card" data-plan={p.name}>
            <h2>
              <Link to={`/plans/${p.id}`}>{p.name}</Link> <Status value={p.state} />
            </h2>
            <p>
              {describeSchedule(p.schedule)} · {p.services.map((s) => s.name).join(', ') || 'no service'} →{' '}
              {p.targets.map((t) => t.name).join(', ')} ·{' '}
              {formatBytes(p.targets.reduce((n, t) => n + t.sizeBytes, 0))}
            </p>
            <div className="actions">
              <button type="button" onClick={() => void act(p, 'run')} disabled={p.state !== 'active'}>
                Run {p.name} now
              </button>
              <button
                type="button"
                onClick={() => void act(p, p.paused ? 'resume' : 'pause')}
                disabled={p.state === 'deleting'}
              >
                {p.paused ? 'Resume' : 'Pause'}
              </button>
              <button type="button" className="secondary" onClick={() => setMode({ kind: 'edit', plan: p })}>
                Edit
              </button>
              <button
                type="button"
                className="secondary"
                onClick={() => setMode({ kind: 'password', plan: p })}
              >
                Change password
              </button>
              <button type="button" className="danger" onClick={() => setMode({ kind: 'delete', plan: p })}>
                Delete
              </button>
            </div>
          </li>
        ))}
      </ul>
      {list.data?.length === 0 ? <p>No plan yet.</p> : null}
      {mode === null ? (
        <button type="button" onClick={() => setMode({ kind: 'new' })}>
          Create a plan
        </button>
      ) : null}
      {mode?.kind === 'new' ? <PlanForm plan={null} onDone={done} /> : null}
      {mode?.kind === 'edit' ? <PlanForm key={mode.plan.id} plan={mode.plan} onDone={done} /> : null}
      {mode?.kind === 'password' ? <ChangePassword plan={mode.plan} onDone={done} /> : null}
      {mode?.kind === 'delete' ? <DeletePlan plan={mode.plan} onDone={done} /> : null}
    </section>
  );
}

export function describeSchedule(s: Schemas['Schedule']): string {
  return s.frequency === 'weekly'
    ? `weekly on ${WEEKDAYS[s.dayOfWeek ?? 0] ?? '?'} at ${s.time} (${s.timezone})`
    : `daily at ${s.time} (${s.timezone})`;
}

const RETENTION_KEYS = ['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;

function PlanForm({ plan, onDone }: { plan: Plan | null; onDone: (text?: string) => void }) {
  const targets = useLoad(() => api.GET('/v1/targets'), []);
  const services = useLoad(() => api.GET('/v1/services'), []);
  const [name, setName] = useState(plan?.name ?? '');
  const [frequency, setFrequency] = useState(plan?.schedule.frequency ?? 'daily');
  const [time, setTime] = useState(plan?.schedule.time ?? '02:00');
  const [day, setDay] = useState<string>(
    plan?.schedule.dayOfWeek === undefined ? '' : String(plan.schedule.dayOfWeek),
  );
  const [timezone, setTimezone] = useState(
    plan?.schedule.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
  );
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [targetIds, setTargetIds] = useState<string[]>(plan?.targets.map((t) => t.id) ?? []);
  const [serviceIds, setServiceIds] = useState<string[]>(plan?.services.map((s) => s.id) ?? []);
  const [retention, setRetention] = useState<Record<string, string>>(
    Object.fromEntries(
      RETENTION_KEYS.map((k) => [k, plan?.retention[k] === undefined ? '' : String(plan.retention[k])]),
    ),
  );
  const [apiError, setApiError] = useState<ApiError | null>(null);
  const [touched, setTouched] = useState(false);

  // The documents' rules, shown as the user types (the API checks them again and its error wins).
  const local: { path: string; message: string }[] = [];
  if (!plan && name.trim().length < 1)
    local.push({ path: 'name', message: 'must contain at least one character' });
  if (frequency === 'weekly' && day === '')
    local.push({ path: 'schedule.dayOfWeek', message: 'choose the day of the week for a weekly backup' });
  if (!plan && password.length < 4)
    local.push({ path: 'password', message: 'must be at least 4 characters long' });
  if (!plan && confirm !== password)
    local.push({ path: 'passwordConfirmation', message: 'the two passwords differ' });
  const shown: ApiError | null =
    apiError ??
    (touched && local.length
      ? { code: 'VALIDATION_FAILED', message: 'check the form', fields: local }
      : null);
  const liveRule = (path: string): ApiError | null =>
    local.some((l) => l.path === path) &&
    (touched || (path.startsWith('password') ? password.length > 0 : true))
      ? { code: 'VALIDATION_FAILED', message: '', fields: local }
      : shown;

  const submit = async (): Promise<void> => {
    setTouched(true);
    setApiError(null);
    if (local.length) return;
    const schedule = {
      frequency,
      time,
      timezone,
      ...(frequency === 'weekly' ? { dayOfWeek: Number(day) } : {}),
    };
    const keep = Object.fromEntries(
      Object.entries(retention)
        .filter(([, v]) => v !== '')
        .map(([k, v]) => [k, Number(v)]),
    );
    const r = plan
      ? await api.PATCH('/v1/plans/{id}', {
          params: { path: { id: plan.id } },
          body: { schedule, retention: keep, targetIds, serviceIds },
        })
      : await api.POST('/v1/plans', {
          body: {
            name,
            schedule,
            retention: keep,
            targetIds,
            serviceIds,
            password,
            passwordConfirmation: confirm,
          },
        });
    if (r.data) onDone(plan ? `${plan.name}: saved.` : `${name}: created.`);
    else setApiError(errorOf(r.error, r.response));
  };

  const toggle = (list: string[], set: (l: string[]) => void, id: string): void =>
    set(list.includes(id) ? list.filter((x) => x !== id) : [...list, id]);

  return (
    <form
      className="card"
      aria-label={plan ? `Edit ${plan.name}` : 'Create a plan'}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2>{plan ? `Edit ${plan.name}` : 'Create a plan'}</h2>
      <Field
        label="Name"
        path="name"
        error={touched ? shown : null}
        hint={plan ? 'The name cannot be changed.' : 'At least one character.'}
      >
        {(p) => (
          <input
            {...p}
            name="planName"
            value={name}
            readOnly={plan !== null}
            onChange={(e) => setName(e.target.value)}
          />
        )}
      </Field>
      <fieldset>
        <legend>Schedule</legend>
        <Field label="Frequency" path="schedule.frequency" error={shown}>
          {(p) => (
            <select
              {...p}
              name="frequency"
              value={frequency}
              onChange={(e) => setFrequency(e.target.value as 'daily')}
            >
              <option value="daily">daily</option>
              <option value="weekly">weekly</option>
            </select>
          )}
        </Field>
        <Field label="Start time" path="schedule.time" error={shown}>
          {(p) => (
            <input {...p} name="time" type="time" value={time} onChange={(e) => setTime(e.target.value)} />
          )}
        </Field>
        {frequency === 'weekly' ? (
          <Field label="Day of the week" path="schedule.dayOfWeek" error={liveRule('schedule.dayOfWeek')}>
            {(p) => (
              <select {...p} name="dayOfWeek" value={day} onChange={(e) => setDay(e.target.value)}>
                <option value="">— choose a day —</option>
                {WEEKDAYS.map((d, i) => (
                  <option key={d} value={i}>
                    {d}
                  </option>
                ))}
              </select>
            )}
          </Field>
        ) : null}
        <Field label="Time zone" path="schedule.timezone" error={shown}>
          {(p) => (
            <select {...p} name="timezone" value={timezone} onChange={(e) => setTimezone(e.target.value)}>
              {[...new Set(['UTC', timezone, ...zones()])].map((z) => (
                <option key={z}>{z}</option>
              ))}
            </select>
          )}
        </Field>
      </fieldset>
      {plan ? null : (
        <fieldset>
          <legend>Backup password</legend>
          <p className="warning" id="lost-password">
            {LOST_PASSWORD}
          </p>
          <Field label="Password" path="password" error={liveRule('password')} hint="At least 4 characters.">
            {(p) => (
              <input
                {...p}
                name="password"
                type="password"
                autoComplete="new-password"
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            )}
          </Field>
          <Field
            label="Password again"
            path="passwordConfirmation"
            error={confirm ? liveRule('passwordConfirmation') : shown}
          >
            {(p) => (
              <input
                {...p}
                name="passwordConfirmation"
                type="password"
                autoComplete="new-password"
                value={confirm}
                onChange={(e) => setConfirm(e.target.value)}
              />
            )}
          </Field>
        </fieldset>
      )}
      <fieldset>
        <legend>Targets</legend>
        <small className="hint">Back up to more than one target, and keep all of them up to date.</small>
        {targets.data?.map((t) => (
          <label key={t.id} className="inline">
            <input
              type="checkbox"
              checked={targetIds.includes(t.id)}
              onChange={() => toggle(targetIds, setTargetIds, t.id)}
            />{' '}
            {t.name}
          </label>
        ))}
        {fieldError(shown, 'targetIds') ? (
          <small className="field-error" role="alert">
            {fieldError(shown, 'targetIds')}
          </small>
        ) : null}
      </fieldset>
      <fieldset>
        <legend>Services</legend>
        {services.data?.map((s) => (
          <label key={s.id} className="inline">
            <input
              type="checkbox"
              checked={serviceIds.includes(s.id)}
              onChange={() => toggle(serviceIds, setServiceIds, s.id)}
            />{' '}
            {s.name}
          </label>
        ))}
        {fieldError(shown, 'serviceIds') ? (
          <small className="field-error" role="alert">
            {fieldError(shown, 'serviceIds')}
          </small>
        ) : null}
      </fieldset>
      <fieldset>
        <legend>Retention (snapshots to keep; empty = no rule)</legend>
        <div className="grid">
          {RETENTION_KEYS.map((k) => (
            <Field
              key={k}
              label={k.replace('keep', 'Keep ').toLowerCase()}
              path={`retention.${k}`}
              error={shown}
            >
              {(p) => (
                <input
                  {...p}
                  type="number"
                  min={0}
                  inputMode="numeric"
                  value={retention[k]}
                  onChange={(e) => setRetention({ ...retention, [k]: e.target.value })}
                />
              )}
            </Field>
          ))}
        </div>
      </fieldset>
      <ErrorBanner
        error={apiError}
        message={formError(apiError, [
          'name',
          'schedule',
          'password',
          'passwordConfirmation',
          'targetIds',
          'serviceIds',
          'retention',
        ])}
      />
      <div className="actions">
        <button type="submit">{plan ? 'Save' : 'Create plan'}</button>
        <button type="button" className="secondary" onClick={() => onDone()}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function ChangePassword({ plan, onDone }: { plan: Plan; onDone: (text?: string) => void }) {
  const [oldPassword, setOld] = useState('');
  const [newPassword, setNew] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const submit = async (): Promise<void> => {
    const r = await api.POST('/v1/plans/{id}/password', {
      params: { path: { id: plan.id } },
      body: { oldPassword, newPassword, newPasswordConfirmation: confirm },
    });
    if (r.data)
      onDone(`${plan.name}: password changed. Backups taken before keep working with the new password too.`);
    else setError(errorOf(r.error, r.response));
  };
  return (
    <form
      className="card"
      aria-label={`Change the password of ${plan.name}`}
      onSubmit={(e) => (e.preventDefault(), void submit())}
    >
      <h2>Change the password of {plan.name}</h2>
      <p className="warning">{LOST_PASSWORD}</p>
      <Field label="Current password" path="oldPassword" error={error}>
        {(p) => (
          <input
            {...p}
            type="password"
            autoComplete="current-password"
            value={oldPassword}
            onChange={(e) => setOld(e.target.value)}
          />
        )}
      </Field>
      <Field label="New password" path="newPassword" error={error} hint="At least 4 characters.">
        {(p) => (
          <input
            {...p}
            type="password"
            autoComplete="new-password"
            value={newPassword}
            onChange={(e) => setNew(e.target.value)}
          />
        )}
      </Field>
      <Field label="New password again" path="newPasswordConfirmation" error={error}>
        {(p) => (
          <input
            {...p}
            type="password"
            autoComplete="new-password"
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
          />
        )}
      </Field>
      <ErrorBanner
        error={error}
        message={formError(error, ['oldPassword', 'newPassword', 'newPasswordConfirmation'])}
      />
      <div className="actions">
        <button type="submit">Change password</button>
        <button type="button" className="secondary" onClick={() => onDone()}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function DeletePlan({ plan, onDone }: { plan: Plan; onDone: (text?: string) => void }) {
  const [typed, setTyped] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const submit = async (): Promise<void> => {
    const r = await api.DELETE('/v1/plans/{id}', { params: { path: { id: plan.id } } });
    if (r.error === undefined) onDone(`${plan.name}: deleted with its snapshots.`);
    else setError(errorOf(r.error, r.response));
  };
  return (
    <form
      className="card danger-zone"
      aria-label={`Delete ${plan.name}`}
      onSubmit={(e) => (e.preventDefault(), void submit())}
    >
      <h2>Delete {plan.name}</h2>
      <p className="warning" role="alert">
        {DELETE_WARNING} Last backup:{' '}
        {formatTime(
          plan.targets
            .map((t) => t.lastSuccessAt)
            .sort()
            .pop() ?? null,
        )}
        .
      </p>
      <Field label={`Type the plan's name (${plan.name}) to confirm`} path="confirm">
        {(p) => (
          <input
            {...p}
            name="confirmName"
            autoComplete="off"
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
          />
        )}
      </Field>
      <ErrorBanner error={error} />
      <div className="actions">
        <button type="submit" className="danger" disabled={typed !== plan.name}>
          Delete plan and snapshots
        </button>
        <button type="button" className="secondary" onClick={() => onDone()}>
          Cancel
        </button>
      </div>
    </form>
  );
}
