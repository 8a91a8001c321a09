/** Small building blocks every screen uses: links, labelled fields, errors, progress. */
import { type ReactNode, useEffect, useId, useState } from 'react';

import { type ApiError, errorOf, fieldError } from './api';
import { navigate } from './router';

export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  return (
    <a
      href={to}
      className={className}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

/** A label, its control (given the id to use), a hint, and the API's error for `path`. */
export function Field({
  label,
  path,
  error,
  hint,
  children,
}: {
  label: string;
  path?: string;
  error?: ApiError | null;
  hint?: ReactNode;
  children: (props: { id: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean }) => ReactNode;
}) {
  const id = useId();
  const message = path && error ? fieldError(error, path) : undefined;
  const described = [hint ? `${id}-hint` : '', message ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({
        id,
        ...(described ? { 'aria-describedby': described } : {}),
        ...(message ? { 'aria-invalid': true } : {}),
      })}
      {hint ? (
        <small id={`${id}-hint`} className="hint">
          {hint}
        </small>
      ) : null}
      {message ? (
        <small id={`${id}-error`} className="field-error" role="alert" data-field={path}>
          {message}
        </small>
      ) : null}
    </div>
  );
}

export function ErrorBanner({ error, message }: { error?: ApiError | null; message?: string | undefined }) {
  const text = message ?? error?.message;
  if (!text) return null;
  return (
    <p className="error" role="alert">
      {error?.code ? <strong>{error.code}: </strong> : null}
      {text}
    </p>
  );
}

export function ProgressBar({ done, total, label }: { done: number; total: number; label: string }) {
  const pct = total > 0 ? Math.min(100, Math.round((done / total) * 100)) : 0;
  return (
    <div className="progress">
      <progress max={100} value={pct} aria-label={label}>
        {pct}%
      </progress>
      <span>{pct}%</span>
    </div>
  );
}

export function Status({ value }: { value: string }) {
  return <span className={`status status-${value}`}>{value.replaceAll('_', ' ')}</span>;
}

/** Loads once (and again when `deps` change or `reload()` is called); errors become ApiError. */
export function useLoad<T>(
  load: () => Promise<{ data?: T; error?: unknown; response: Response }>,
  deps: readonly unknown[],
): { data: T | undefined; error: ApiError | null; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (r) => {
        if (!live) return;
        if (r.data !== undefined) {
          setData(r.data);
          setError(null);
        } else setError(errorOf(r.error, r.response));
      },
      (err: unknown) => live && setError({ code: 'INTERNAL', message: String(err) }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}
