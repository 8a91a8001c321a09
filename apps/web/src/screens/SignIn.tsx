import { useState } from 'react';

import { api, type ApiError, errorOf, type Schemas } from '../api';
import { ErrorBanner, Field } from '../ui';

export function SignIn({
  expired,
  onSignedIn,
}: {
  expired: boolean;
  onSignedIn: (s: Schemas['SessionView']) => void;
}) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (): Promise<void> => {
    setBusy(true);
    const { data, error: err, response } = await api.POST('/v1/session', { body: { name, password } });
    setBusy(false);
    if (data) onSignedIn(data);
    else {
      const e = errorOf(err, response);
      const retry = response.headers.get('retry-after');
      setError(retry ? { ...e, message: `${e.message} (try again in ${retry} s)` } : e);
    }
  };

  return (
    <main id="main" className="signin">
      <h1>Vaultline</h1>
      <p>Sign in to manage your backups.</p>
      {expired ? <p className="notice">Your session ended. Sign in again.</p> : null}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <Field label="Name" path="name" error={error}>
          {(p) => (
            <input
              {...p}
              name="name"
              autoComplete="username"
              required
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
        <Field label="Password" path="password" error={error}>
          {(p) => (
            <input
              {...p}
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        <ErrorBanner error={error?.fields?.length ? null : error} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      <p className="hint">
        No user yet? On the server: <code>node dist/apps/api/src/create-user.js &lt;name&gt;</code>
      </p>
    </main>
  );
}
