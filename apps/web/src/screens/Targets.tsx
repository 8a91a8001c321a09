/**
 * Targets: a physical drive, a network folder or S3/MinIO, each with its own form; a test of
 * reachability and free space; the documents' warnings (EXT4 recommended, FAT32/exFAT not; no
 * cheap flash media).
 */
import { useState } from 'react';

import { api, type ApiError, errorOf, formatBytes, formError, type Schemas } from '../api';
import { ErrorBanner, Field, Status, useLoad } from '../ui';

type Kind = Schemas['TargetView']['kind'];
const KIND_LABEL: Record<Kind, string> = {
  local: 'Physical drive',
  network: 'Network folder',
  s3: 'S3 / MinIO',
};

/** The probe reports a folder's file system (`fsType`); FAT32/exFAT get the documents' warning. */
function fsWarning(probe: Schemas['ProbeResult']): string | null {
  const fs = probe.fsType;
  if (fs === undefined) return null;
  const name = fs === 'vfat' ? 'FAT32' : fs === 'exfat' ? 'exFAT' : null;
  return name
    ? `This folder is on ${name}: FAT32 and exFAT are not recommended and may not work. Use EXT4.`
    : null;
}

export function Targets() {
  const list = useLoad(() => api.GET('/v1/targets'), []);
  const [adding, setAdding] = useState(false);
  const [probes, setProbes] = useState<Record<string, Schemas['ProbeResult'] | ApiError>>({});

  const test = async (id: string): Promise<void> => {
    const r = await api.POST('/v1/targets/{id}/test', { params: { path: { id } } });
    setProbes((p) => ({ ...p, [id]: r.data ?? errorOf(r.error, r.response) }));
  };

  return (
    <section>
      <h1>Targets</h1>
      <ErrorBanner error={list.error} />
      <ul className="plain cards">
        {list.data?.map((t) => {
          const probe = probes[t.id];
          return (
            <li key={t.id} className="card" data-target={t.name}>
              <h2>
                {t.name} <small>{KIND_LABEL[t.kind]}</small>
              </h2>
              <p>
                <code>
                  {t.kind === 's3' ? `${t.s3Endpoint ?? ''}/${t.s3Bucket ?? ''}/${t.s3Prefix ?? ''}` : t.path}
                </code>
              </p>
              <button type="button" onClick={() => void test(t.id)}>
                Test {t.name}
              </button>
              {probe && 'reachable' in probe ? (
                <p className="probe" role="status">
                  <Status value={probe.reachable ? 'reachable' : 'unreachable'} />{' '}
                  <Status value={probe.writable ? 'writable' : 'read_only'} /> free space:{' '}
                  {formatBytes(probe.freeBytes)}
                  {probe.error ? <span className="field-error"> {probe.error.message}</span> : null}
                  {fsWarning(probe) ? <span className="warning">{fsWarning(probe)}</span> : null}
                </p>
              ) : null}
              {probe && 'code' in probe ? <ErrorBanner error={probe} /> : null}
            </li>
          );
        })}
      </ul>
      {adding ? (
        <TargetForm
          onDone={() => {
            setAdding(false);
            list.reload();
          }}
        />
      ) : (
        <button type="button" onClick={() => setAdding(true)}>
          Add a target
        </button>
      )}
    </section>
  );
}

function TargetForm({ onDone }: { onDone: () => void }) {
  const [kind, setKind] = useState<Kind>('local');
  const [v, setV] = useState({
    name: '',
    path: '',
    endpoint: '',
    bucket: '',
    prefix: '',
    region: '',
    accessKey: '',
    secretKey: '',
  });
  const [error, setError] = useState<ApiError | null>(null);
  const set = (k: keyof typeof v) => (e: { target: { value: string } }) =>
    setV({ ...v, [k]: e.target.value });

  const submit = async (): Promise<void> => {
    const body: Schemas['CreateTarget'] =
      kind === 's3'
        ? {
            kind,
            name: v.name,
            endpoint: v.endpoint,
            bucket: v.bucket,
            accessKey: v.accessKey,
            secretKey: v.secretKey,
            ...(v.prefix ? { prefix: v.prefix } : {}),
            ...(v.region ? { region: v.region } : {}),
          }
        : { kind, name: v.name, path: v.path };
    const r = await api.POST('/v1/targets', { body });
    if (r.data) onDone();
    else setError(errorOf(r.error, r.response));
  };

  return (
    <form
      className="card"
      aria-label="Add a target"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2>Add a target</h2>
      <fieldset>
        <legend>Kind</legend>
        {(Object.keys(KIND_LABEL) as Kind[]).map((k) => (
          <label key={k} className="inline">
            <input type="radio" name="kind" value={k} checked={kind === k} onChange={() => setKind(k)} />{' '}
            {KIND_LABEL[k]}
          </label>
        ))}
      </fieldset>
      <Field label="Name" path="name" error={error}>
        {(p) => <input {...p} name="targetName" value={v.name} onChange={set('name')} />}
      </Field>
      {kind === 'local' ? (
        <>
          <p className="warning">
            EXT4 is the recommended format of a backup drive; FAT32 and exFAT are not recommended and may not
            work. USB thumb drives and SD cards are not recommended unless high-endurance; on a Raspberry Pi
            the drive must be self-powered or on a powered hub.
          </p>
          <Field
            label="Folder on the drive"
            path="path"
            error={error}
            hint="Absolute path where the drive is mounted."
          >
            {(p) => <input {...p} name="path" value={v.path} onChange={set('path')} />}
          </Field>
        </>
      ) : null}
      {kind === 'network' ? (
        <Field
          label="Mounted network folder"
          path="path"
          error={error}
          hint="The share's mount point on this server (SMB/NFS)."
        >
          {(p) => <input {...p} name="path" value={v.path} onChange={set('path')} />}
        </Field>
      ) : null}
      {kind === 's3' ? (
        <>
          <Field
            label="Endpoint"
            path="endpoint"
            error={error}
            hint="e.g. https://s3.eu-west-1.amazonaws.com or http://minio:9000"
          >
            {(p) => <input {...p} name="endpoint" value={v.endpoint} onChange={set('endpoint')} />}
          </Field>
          <Field label="Bucket" path="bucket" error={error}>
            {(p) => <input {...p} name="bucket" value={v.bucket} onChange={set('bucket')} />}
          </Field>
          <Field label="Prefix (optional)" path="prefix" error={error}>
            {(p) => <input {...p} name="prefix" value={v.prefix} onChange={set('prefix')} />}
          </Field>
          <Field label="Region (optional)" path="region" error={error}>
            {(p) => <input {...p} name="region" value={v.region} onChange={set('region')} />}
          </Field>
          <Field label="Access key" path="accessKey" error={error}>
            {(p) => (
              <input
                {...p}
                name="accessKey"
                autoComplete="off"
                value={v.accessKey}
                onChange={set('accessKey')}
              />
            )}
          </Field>
          <Field label="Secret key" path="secretKey" error={error}>
            {(p) => (
              <input
                {...p}
                name="secretKey"
                type="password"
                autoComplete="off"
                value={v.secretKey}
                onChange={set('secretKey')}
              />
            )}
          </Field>
        </>
      ) : null}
      <ErrorBanner
        message={formError(error, [
          'name',
          'path',
          'endpoint',
          'bucket',
          'prefix',
          'region',
          'accessKey',
          'secretKey',
        ])}
        error={error}
      />
      <div className="actions">
        <button type="submit">Add target</button>
        <button type="button" className="secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
