/**
 * The web UI's session cookie and what is derived from the request around it: whether it came
 * over TLS and from which client address (both only from the proxy's headers when
 * VAULTLINE_TRUST_PROXY says the proxy is the only way in).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

export const SESSION_COOKIE = 'vaultline_session';
export const CSRF_HEADER = 'x-csrf-token';

/** 32 random bytes, base64url: what the cookie holds (sessions.service.ts makes them). */
const SESSION_TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

/** The session token of the request's Cookie header, if it carries a well-formed one. */
export function sessionTokenOf(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    if (SESSION_TOKEN_RE.test(value)) return value;
  }
  return undefined;
}

/**
 * The CSRF token of a session: an HMAC keyed by the session token, so nothing more is stored, it
 * can be handed out again (GET /v1/session after a reload), and it cannot be made without the
 * HttpOnly cookie, which page scripts of another origin never see.
 */
export function csrfTokenOf(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('vaultline csrf v1').digest('base64url');
}

/** Whether the request's X-CSRF-Token is the session's, compared in constant time. */
export function hasValidCsrfToken(req: IncomingMessage, sessionToken: string): boolean {
  const given = req.headers[CSRF_HEADER];
  if (typeof given !== 'string') return false;
  const expected = Buffer.from(csrfTokenOf(sessionToken));
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Whether the browser reached us over https: TLS here, or at the trusted proxy. */
export function isSecureRequest(req: IncomingMessage, trustProxy: boolean): boolean {
  if ((req.socket as Partial<TLSSocket>).encrypted === true) return true;
  if (!trustProxy) return false;
  const proto = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0]?.trim().toLowerCase();
  return first === 'https';
}

/**
 * The client's address for counting sign-in failures. Behind the trusted proxy, the last
 * X-Forwarded-For entry: the one the proxy itself appended (entries before it are whatever the
 * client sent, so anyone could pick them).
 */
export function clientAddressOf(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const header = req.headers['x-forwarded-for'];
    const list = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
    const last = list[list.length - 1]?.trim();
    if (last) return last;
  }
  return req.socket.remoteAddress ?? 'unknown';
}

/** The Set-Cookie value that stores the session (no Max-Age: the server decides when it ends). */
export function sessionCookie(token: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}`;
}

/** The Set-Cookie value that removes it. */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure ? '; Secure' : ''}`;
}
