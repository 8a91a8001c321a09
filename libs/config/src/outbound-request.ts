/**
 * One HTTP request on a user's behalf (an HTTP hook, the report webhook) through the outbound
 * policy's agent. Not `fetch`: its connections cannot be given a `lookup`, so the address it
 * connects to could differ from the one checked. Redirects are never followed (a redirect could
 * send the request, and a token in its URL, past the policy), and the response body is discarded:
 * callers only need the status.
 */
import * as http from 'node:http';
import * as https from 'node:https';

import type { OutboundPolicy } from './outbound';

export interface OutboundRequest {
  method?: string;
  headers?: Readonly<Record<string, string>>;
  body?: string | Buffer;
  /** Aborts the request (a timeout, a shutdown); it then fails with an AbortError. */
  signal?: AbortSignal;
}

/** The status of the answer; throws the socket's error (code OUTBOUND_DENIED when refused). */
export function outboundRequest(
  policy: OutboundPolicy,
  url: string,
  init: OutboundRequest = {},
): Promise<number> {
  const target = new URL(url);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    return Promise.reject(new Error(`unsupported protocol ${target.protocol}`));
  }
  const secure = target.protocol === 'https:';
  return new Promise<number>((resolve, reject) => {
    const req = (secure ? https : http).request(
      target,
      {
        method: init.method ?? 'GET',
        headers: {
          ...init.headers,
          ...(init.body !== undefined ? { 'content-length': String(Buffer.byteLength(init.body)) } : {}),
        },
        agent: policy.agent(secure),
        ...(init.signal ? { signal: init.signal } : {}),
      },
      (res) => {
        // Drained so the socket is released; the content is of no interest.
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
        // An abort mid-body closes the response without 'end' (and not always with 'error').
        res.on('close', () => {
          if (!res.complete) reject(new Error('the response ended early'));
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
