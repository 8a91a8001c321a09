/**
 * A service's pre/post hooks (services.pre_hook / post_hook, jsonb): quiesce the service before its
 * backup (maintenance mode, a database dump) and resume it after. Either an HTTP call or a command
 * run without a shell (argv), both with a timeout. The shape is the contracts' `hookSchema` (the API
 * validates input with it); it is checked again here because a row may predate a schema change.
 */
import { execFile } from 'node:child_process';

import { OutboundDenied, OutboundPolicy, outboundRequest } from '@vaultline/config';
import { hookSchema, type Hook } from '@vaultline/contracts';

import { WorkerError } from './errors';

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_OUTBOUND = new OutboundPolicy();

/** The uid/gid command hooks run as: null runs them as the worker itself. */
export interface HookIdentity {
  uid: number;
  gid: number;
}

/** uid/gid of `nobody` on Debian, Alpine and the image: no files, no groups, no privileges. */
export const NOBODY = 65534;

/**
 * The identity of command hooks from HOOK_UID / HOOK_GID. A root worker never runs a hook as root by
 * accident: a hook is a command stored in the catalog, so anyone who can edit a service would get
 * root on the worker (its mounts of every service's data, the server secret in its environment).
 * Unset under root: nobody (hooks that need more get a uid chosen for them, e.g. one in the docker
 * group). Not root: the process cannot change uid, so a configured identity other than its own is
 * refused at start rather than failing every hook with EPERM.
 */
export function resolveHookIdentity(
  config: { hookUid: number | null; hookGid: number | null },
  self: { uid: number; gid: number },
): HookIdentity | null {
  const uid = config.hookUid ?? (self.uid === 0 ? NOBODY : null);
  const gid = config.hookGid ?? config.hookUid ?? (self.uid === 0 ? NOBODY : null);
  if (self.uid !== 0) {
    if ((uid !== null && uid !== self.uid) || (gid !== null && gid !== self.gid)) {
      throw new Error(
        `HOOK_UID/HOOK_GID (${uid ?? self.uid}:${gid ?? self.gid}) differ from the worker's own ` +
          `${self.uid}:${self.gid}, and only a root worker can run hooks as another user`,
      );
    }
    return null;
  }
  return { uid: uid ?? NOBODY, gid: gid ?? NOBODY };
}

/** Null for no hook; a malformed hook is a permanent HOOK_FAILED (a retry would not fix the row). */
export function parseHook(value: unknown, which: 'pre' | 'post'): Hook | null {
  if (value === null || value === undefined) return null;
  const r = hookSchema.safeParse(value);
  if (!r.success) {
    throw new WorkerError(
      'HOOK_FAILED',
      `${which}-hook is not a valid hook: ${r.error.issues[0]?.message ?? ''}`,
      'permanent',
    );
  }
  return r.data;
}

/** Last part of a command's stderr for the error message (one line, bounded). */
function tail(text: string): string {
  const line = text.trim().replace(/\s+/g, ' ');
  return line.length > 300 ? `…${line.slice(-300)}` : line;
}

/**
 * Runs a hook; throws WorkerError HOOK_FAILED (permanent: a hook that failed usually means the
 * service is in a state a person should look at, and retrying would stop it again and again).
 * `signal` stops a running hook when the worker shuts down.
 */
export async function runHook(
  hook: Hook,
  which: 'pre' | 'post',
  signal?: AbortSignal,
  identity?: HookIdentity | null,
  outbound?: OutboundPolicy,
): Promise<void> {
  const ms = hook.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const fail = (why: string, cause?: unknown): never => {
    throw new WorkerError('HOOK_FAILED', `${which}-hook ${why}`, 'permanent', { cause });
  };
  if (hook.kind === 'http') {
    // Through the policy's agent: the address connected to is the one checked, at call time (the
    // row may predate the policy, or its name may resolve elsewhere by now). The default policy
    // still denies the metadata addresses when the worker was given none.
    const policy = outbound ?? DEFAULT_OUTBOUND;
    // Only the origin in messages: a hook URL may carry a token in its path or query.
    const origin = new URL(hook.url).origin;
    const timeout = AbortSignal.timeout(ms);
    let status: number;
    try {
      status = await outboundRequest(policy, hook.url, {
        method: hook.method ?? 'POST',
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      if (err instanceof OutboundDenied) return fail(`is refused by the outbound policy (${origin})`, err);
      return fail(
        timeout.aborted ? `timed out after ${ms} ms (${origin})` : `could not reach ${origin}`,
        err,
      );
    }
    if (status < 200 || status > 299) fail(`answered HTTP ${status} (${origin})`);
    return;
  }
  const [file, ...args] = hook.argv as [string, ...string[]];
  await new Promise<void>((resolve, reject) => {
    execFile(
      file,
      args,
      {
        timeout: ms,
        killSignal: 'SIGKILL',
        maxBuffer: 1 << 20,
        ...(signal ? { signal } : {}),
        // libuv also drops the supplementary groups when it changes uid/gid (no root groups kept).
        ...(identity ? { uid: identity.uid, gid: identity.gid } : {}),
      },
      (err, _stdout, stderr) => {
        if (!err) return resolve();
        const code = (err as NodeJS.ErrnoException & { killed?: boolean }).killed
          ? `timed out after ${ms} ms`
          : typeof err.code === 'number'
            ? `exited with code ${err.code}`
            : `could not run ${file}: ${err.message}`;
        try {
          fail(`${code}${stderr ? `: ${tail(stderr)}` : ''}`, err);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      },
    );
  });
}
