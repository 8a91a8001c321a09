/**
 * Services: the list with state (one backing up is shown unavailable — "a service cannot be used
 * while it is backing up"), register and edit: data folder, exclusions, architecture, quiesce hooks.
 */
import { useState } from 'react';

import { api, type ApiError, errorOf, formError, type Schemas } from '../api';
import { ErrorBanner, Field, Link, Status, useLoad } from '../ui';

type Service = Schemas['ServiceView'];
type Hook = Schemas['Hook'];
const ARCHES = ['x86_64', 'arm64', 'riscv64'] as const;

export function Services() {
  const list = useLoad(() => api.GET('/v1/services'), []);
  const [editing, setEditing] = useState<Service | 'new' | null>(null);
  return (
    <section>
      <h1>Services</h1>
      <ErrorBanner error={list.error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Data folder</th>
              <th scope="col">Architecture</th>
              <th scope="col">State</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.map((s) => (
              <tr key={s.id}>
                <td>{s.name}</td>
                <td>
                  <code>{s.dataPath}</code>
                </td>
                <td>{s.arch}</td>
                <td>
                  {s.state === 'idle' ? <Status value="available" /> : <Status value="unavailable" />}
                  {s.state !== 'idle' ? <small> ({s.state.replace('_', ' ')})</small> : null}
                </td>
                <td>
                  <button type="button" onClick={() => setEditing(s)}>
                    Edit
                  </button>{' '}
                  <Link to={`/restore?service=${s.id}`}>Restore</Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.data?.length === 0 ? <p>No service registered yet.</p> : null}
      {editing === null ? (
        <button type="button" onClick={() => setEditing('new')}>
          Register a service
        </button>
      ) : (
        <ServiceForm
          key={editing === 'new' ? 'new' : editing.id}
          service={editing === 'new' ? null : editing}
          onDone={() => {
            setEditing(null);
            list.reload();
          }}
        />
      )}
    </section>
  );
}

function ServiceForm({ service, onDone }: { service: Service | null; onDone: () => void }) {
  const [name, setName] = useState(service?.name ?? '');
  const [dataPath, setDataPath] = useState(service?.dataPath ?? '');
  const [excludes, setExcludes] = useState((service?.excludes ?? []).join('\n'));
  const [arch, setArch] = useState<Service['arch']>(service?.arch ?? 'x86_64');
  const [preHook, setPreHook] = useState<Hook | null>(service?.preHook ?? null);
  const [postHook, setPostHook] = useState<Hook | null>(service?.postHook ?? null);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = async (): Promise<void> => {
    const body = {
      name,
      dataPath,
      excludes: excludes
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean),
      arch,
      preHook,
      postHook,
    };
    const r = service
      ? await api.PATCH('/v1/services/{id}', { params: { path: { id: service.id } }, body })
      : await api.POST('/v1/services', { body });
    if (r.data) onDone();
    else setError(errorOf(r.error, r.response));
  };

  return (
    <form
      className="card"
      aria-label={service ? `Edit ${service.name}` : 'Register a service'}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2>{service ? `Edit ${service.name}` : 'Register a service'}</h2>
      <Field label="Name" path="name" error={error}>
        {(p) => <input {...p} name="serviceName" value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field
        label="Data folder"
        path="dataPath"
        error={error}
        hint="The service's folder on this server (absolute path)."
      >
        {(p) => (
          <input {...p} name="dataPath" value={dataPath} onChange={(e) => setDataPath(e.target.value)} />
        )}
      </Field>
      <Field
        label="Exclusions"
        path="excludes"
        error={error}
        hint="One pattern a line (gitignore syntax), e.g. a cache that can be rebuilt."
      >
        {(p) => (
          <textarea
            {...p}
            name="excludes"
            rows={3}
            value={excludes}
            onChange={(e) => setExcludes(e.target.value)}
          />
        )}
      </Field>
      <Field
        label="Architecture"
        path="arch"
        error={error}
        hint="Backups are for this architecture; restored elsewhere, the service likely needs a reinstall."
      >
        {(p) => (
          <select
            {...p}
            name="arch"
            value={arch}
            onChange={(e) => setArch(e.target.value as Service['arch'])}
          >
            {ARCHES.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        )}
      </Field>
      <HookFields
        title="Before the backup (quiesce)"
        path="preHook"
        hook={preHook}
        onChange={setPreHook}
        error={error}
      />
      <HookFields
        title="After the backup (resume)"
        path="postHook"
        hook={postHook}
        onChange={setPostHook}
        error={error}
      />
      <ErrorBanner
        message={formError(error, ['name', 'dataPath', 'excludes', 'arch', 'preHook', 'postHook'])}
        error={error}
      />
      <div className="actions">
        <button type="submit">{service ? 'Save' : 'Register'}</button>
        <button type="button" className="secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function HookFields({
  title,
  path,
  hook,
  onChange,
  error,
}: {
  title: string;
  path: string;
  hook: Hook | null;
  onChange: (h: Hook | null) => void;
  error: ApiError | null;
}) {
  const kind = hook?.kind ?? 'none';
  return (
    <fieldset>
      <legend>{title}</legend>
      <Field label="Hook" path={`${path}.kind`}>
        {(p) => (
          <select
            {...p}
            name={`${path}Kind`}
            value={kind}
            onChange={(e) =>
              onChange(
                e.target.value === 'http'
                  ? { kind: 'http', url: '', method: 'POST' }
                  : e.target.value === 'command'
                    ? { kind: 'command', argv: [] }
                    : null,
              )
            }
          >
            <option value="none">none</option>
            <option value="http">HTTP request</option>
            <option value="command">command</option>
          </select>
        )}
      </Field>
      {hook?.kind === 'http' ? (
        <>
          <Field label="URL" path={`${path}.url`} error={error}>
            {(p) => (
              <input
                {...p}
                name={`${path}Url`}
                value={hook.url}
                onChange={(e) => onChange({ ...hook, url: e.target.value })}
              />
            )}
          </Field>
          <Field label="Method" path={`${path}.method`} error={error}>
            {(p) => (
              <select
                {...p}
                value={hook.method ?? 'POST'}
                onChange={(e) => onChange({ ...hook, method: e.target.value as 'POST' })}
              >
                {['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            )}
          </Field>
        </>
      ) : null}
      {hook?.kind === 'command' ? (
        <Field label="Command (one argument a line)" path={`${path}.argv`} error={error}>
          {(p) => (
            <textarea
              {...p}
              rows={2}
              value={hook.argv.join('\n')}
              onChange={(e) => onChange({ ...hook, argv: e.target.value.split('\n') })}
            />
          )}
        </Field>
      ) : null}
    </fieldset>
  );
}
