/**
 * The UI's one way to the API: the typed client of libs/api-client, same origin, with the session
 * cookie (sent by the browser, HttpOnly) and the session's CSRF token on every change.
 */
import { createApiClient, type Schemas } from '@vaultline/api-client';

export type { Schemas };
export type ApiError = Schemas['ErrorBody']['error'];

let csrfToken: string | null = null;
let onUnauthorized: (() => void) | null = null;

/** Remembered from POST/GET /v1/session; forgotten on sign-out. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when a request comes back 401 (the session expired): the app shows sign-in again. */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

export const api = createApiClient({ baseUrl: window.location.origin, credentials: 'same-origin' });

api.use({
  onRequest({ request }) {
    if (request.method !== 'GET' && request.method !== 'HEAD' && csrfToken !== null) {
      request.headers.set('x-csrf-token', csrfToken);
    }
    return request;
  },
  onResponse({ request, response }) {
    if (response.status === 401 && !request.url.endsWith('/v1/session')) onUnauthorized?.();
    return response;
  },
});

/** The API's error body, or a stand-in when the response was not one (a proxy's 502 page). */
export function errorOf(error: unknown, response?: Response): ApiError {
  if (typeof error === 'object' && error !== null && 'error' in error) {
    const inner = error.error;
    if (typeof inner === 'object' && inner !== null && 'message' in inner) return inner as ApiError;
  }
  return {
    code: 'INTERNAL',
    message: `the API answered ${response ? `${response.status} ${response.statusText}` : 'nothing'}`,
  };
}

/** The message the API gave for one field (`schedule.dayOfWeek`, `password`), if any. */
export function fieldError(error: ApiError | null, path: string): string | undefined {
  return error?.fields?.find((f) => f.path === path || f.path.startsWith(`${path}.`))?.message;
}

/** The API's errors that name no field the form shows, as one line. */
export function formError(error: ApiError | null, shown: readonly string[]): string | undefined {
  if (!error) return undefined;
  const rest = (error.fields ?? []).filter(
    (f) => !shown.some((p) => f.path === p || f.path.startsWith(`${p}.`)),
  );
  if (error.fields?.length && rest.length === 0) return undefined;
  return rest.length ? rest.map((f) => `${f.path}: ${f.message}`).join('; ') : error.message;
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
