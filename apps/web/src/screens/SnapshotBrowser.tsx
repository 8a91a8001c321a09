/**
 * Snapshot browser: a snapshot's folders and files, opened with the plan's password
 * (POST /v1/snapshots/:id/tree); a file or a folder (as a tar) downloaded with fetch + Blob.
 */
import { useState } from 'react';

import { api, type ApiError, errorOf, formatBytes, formatTime, type Schemas } from '../api';
import { ErrorBanner, Field, Link } from '../ui';

type Tree = Schemas['SnapshotTreeView'];

function join(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, '')}/${name}`;
}

export function SnapshotBrowser({ id, targetId }: { id: string; targetId: string }) {
  const [password, setPassword] = useState('');
  const [tree, setTree] = useState<Tree | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [status, setStatus] = useState('');

  const open = async (path: string): Promise<void> => {
    setError(null);
    const r = await api.POST('/v1/snapshots/{id}/tree', {
      params: { path: { id } },
      body: { targetId, password, path },
    });
    if (r.data) setTree(r.data);
    else setError(errorOf(r.error, r.response));
  };

  const download = async (path: string, name: string, dir: boolean): Promise<void> => {
    setStatus(`Downloading ${name}…`);
    const r = await api.POST('/v1/snapshots/{id}/download', {
      params: { path: { id } },
      body: { targetId, password, path },
      parseAs: 'blob',
    });
    if (r.error !== undefined || !(r.data instanceof Blob)) {
      setStatus('');
      setError(errorOf(r.error, r.response));
      return;
    }
    const url = URL.createObjectURL(r.data);
    const a = document.createElement('a');
    a.href = url;
    a.download = dir ? `${name || 'snapshot'}.tar` : name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    setStatus(`Downloaded ${a.download} (${formatBytes(r.data.size)}).`);
  };

  const parent = tree && tree.path !== '/' ? tree.path.replace(/\/[^/]+\/?$/, '') || '/' : null;
  return (
    <section>
      <h1>Snapshot browser</h1>
      <p>
        Snapshot <code>{id.slice(0, 12)}</code> · <Link to="/restore">Restore instead</Link>
      </p>
      {!tree ? (
        <form
          className="card"
          aria-label="Open the snapshot"
          onSubmit={(e) => {
            e.preventDefault();
            void open('/');
          }}
        >
          <Field label="Backup password" path="password" error={error}>
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
          <ErrorBanner error={error?.fields?.some((f) => f.path === 'password') ? null : error} />
          <button type="submit">Open</button>
        </form>
      ) : (
        <>
          <h2>
            <code>{tree.path}</code>
          </h2>
          <div className="actions">
            {parent !== null ? (
              <button type="button" onClick={() => void open(parent)}>
                Up to {parent}
              </button>
            ) : null}
            <button
              type="button"
              className="secondary"
              onClick={() => void download(tree.path, tree.path.split('/').pop() ?? '', true)}
            >
              Download this folder (tar)
            </button>
          </div>
          <ErrorBanner error={error} />
          {status ? <p role="status">{status}</p> : null}
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Size</th>
                  <th scope="col">Modified</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {tree.entries.map((e) => (
                  <tr key={e.nameB64 ?? e.name}>
                    <td>
                      {e.type === 'dir' ? (
                        <button
                          type="button"
                          className="link"
                          onClick={() => void open(join(tree.path, e.name))}
                        >
                          {e.name}/
                        </button>
                      ) : (
                        <span>
                          {e.name}
                          {e.type === 'symlink' ? ' (link)' : ''}
                        </span>
                      )}
                    </td>
                    <td>{e.type === 'file' ? formatBytes(e.size) : ''}</td>
                    <td>{formatTime(e.mtime)}</td>
                    <td>
                      {e.type === 'file' || e.type === 'dir' ? (
                        <button
                          type="button"
                          className="secondary"
                          aria-label={`Download ${e.name}`}
                          onClick={() => void download(join(tree.path, e.name), e.name, e.type === 'dir')}
                        >
                          Download
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
