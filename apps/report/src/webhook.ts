/**
 * Posting a report to VAULTLINE_WEBHOOK_URL: JSON, with a timeout per attempt and a few retries
 * with exponential backoff. A webhook URL usually carries its token in the path or query, so only
 * its origin ever reaches a log line or an error message.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { OutboundDenied, OutboundPolicy, outboundRequest } from '@vaultline/config';

export interface WebhookOptions {
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  /** Attempts in all (default 3). */
  attempts?: number;
  /** Delay before the second attempt, doubled for each further one (default 1 s). */
  retryDelayMs?: number;
  /** The policy every connection goes through (OUTBOUND_*_CIDRS); default: metadata denied only. */
  outbound?: OutboundPolicy;
}

const DEFAULT_OUTBOUND = new OutboundPolicy();

export interface WebhookOutcome {
  delivered: boolean;
  attempts: number;
  /** Why the last attempt failed (never contains the URL's path or query). */
  error?: string;
}

/** The part of a pino logger used here. */
export interface WebhookLogger {
  warn(obj: object, msg: string): void;
}

/** The URL cut to scheme, host and port: what may be logged. */
export function webhookOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '[invalid url]';
  }
}

/** 2xx delivers; 408, 429 and 5xx are worth another attempt; any other answer will not change. */
function retriable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Network errors name the host and port at most; the message is cut to one short line anyway. */
function describe(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timed out';
  // The policy's refusal as its fixed text; the addresses it saw went to the policy's own log line.
  if (err instanceof OutboundDenied) return 'refused by the outbound policy';
  const code = err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : null;
  return code ?? (err instanceof Error ? err.message.split('\n')[0]!.slice(0, 200) : 'unknown error');
}

export async function deliverWebhook(
  url: string,
  body: unknown,
  headers: Readonly<Record<string, string>>,
  logger: WebhookLogger,
  options: WebhookOptions = {},
): Promise<WebhookOutcome> {
  const attempts = Math.max(1, options.attempts ?? 3);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const retryDelayMs = options.retryDelayMs ?? 1_000;
  const origin = webhookOrigin(url);
  const payload = JSON.stringify(body);
  let error = 'not attempted';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let again = true;
    try {
      // Redirects are not followed (outboundRequest never does): one could send the report (and
      // the token) somewhere else.
      const status = await outboundRequest(options.outbound ?? DEFAULT_OUTBOUND, url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'vaultline-report', ...headers },
        body: payload,
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (status >= 200 && status <= 299) return { delivered: true, attempts: attempt };
      error = `HTTP ${status}`;
      again = retriable(status);
    } catch (err) {
      error = describe(err);
      // The policy will not change between attempts.
      if (err instanceof OutboundDenied) again = false;
    }
    const final = !again || attempt === attempts;
    logger.warn({ webhook: origin, attempt, error, willRetry: !final }, 'webhook delivery failed');
    if (final) return { delivered: false, attempts: attempt, error };
    await sleep(retryDelayMs * 2 ** (attempt - 1));
  }
  return { delivered: false, attempts, error };
}
