/** The shell: the session (sign-in until there is one), the navigation, and the screen of the path. */
import { type ReactNode, useEffect, useState } from 'react';

import { api, setCsrfToken, setUnauthorizedHandler, type Schemas } from './api';
import { match, navigate, useLocation } from './router';
import { Overview } from './screens/Overview';
import { PlanLog } from './screens/PlanLog';
import { Plans } from './screens/Plans';
import { Restore } from './screens/Restore';
import { Services } from './screens/Services';
import { SignIn } from './screens/SignIn';
import { SnapshotBrowser } from './screens/SnapshotBrowser';
import { Targets } from './screens/Targets';
import { Link } from './ui';

type Session = Schemas['SessionView'];

const NAV: [string, string][] = [
  ['/', 'Overview'],
  ['/services', 'Services'],
  ['/targets', 'Targets'],
  ['/plans', 'Plans'],
  ['/restore', 'Restore'],
];

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [expired, setExpired] = useState(false);
  const location = useLocation();

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setCsrfToken(null);
      setSession(null);
      setExpired(true);
    });
    api.GET('/v1/session').then(
      ({ data }) => {
        setCsrfToken(data?.csrfToken ?? null);
        setSession(data ?? null);
      },
      () => setSession(null),
    );
    return () => setUnauthorizedHandler(null);
  }, []);

  if (session === undefined) return <p className="loading">Loading…</p>;
  if (session === null) {
    return (
      <SignIn
        expired={expired}
        onSignedIn={(s) => {
          setCsrfToken(s.csrfToken);
          setExpired(false);
          setSession(s);
        }}
      />
    );
  }

  const signOut = async (): Promise<void> => {
    await api.DELETE('/v1/session');
    setCsrfToken(null);
    setSession(null);
    navigate('/');
  };

  const path = location.pathname;
  return (
    <>
      <header className="top">
        <a className="skip" href="#main">
          Skip to content
        </a>
        <span className="brand">Vaultline</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([to, label]) => (
              <li key={to}>
                <Link to={to} className={section(path) === to ? 'current' : ''}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span className="user">
          {session.user.name}{' '}
          <button type="button" className="link" onClick={() => void signOut()}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {screen(path, location.searchParams)}
      </main>
    </>
  );
}

function section(path: string): string {
  if (path.startsWith('/snapshots')) return '/restore';
  return '/' + (path.split('/')[1] ?? '');
}

function screen(path: string, query: URLSearchParams): ReactNode {
  let m: Record<string, string> | null;
  if (path === '/' || path === '') return <Overview />;
  if (path === '/services') return <Services />;
  if (path === '/targets') return <Targets />;
  if (path === '/plans') return <Plans />;
  if ((m = match('/plans/:id', path))) return <PlanLog id={m['id'] ?? ''} />;
  if (path === '/restore') return <Restore initialServiceId={query.get('service')} />;
  if ((m = match('/snapshots/:id', path)))
    return <SnapshotBrowser id={m['id'] ?? ''} targetId={query.get('target') ?? ''} />;
  return (
    <section>
      <h1>Not found</h1>
      <p>
        No screen at <code>{path}</code>. <Link to="/">Back to the overview</Link>
      </p>
    </section>
  );
}
