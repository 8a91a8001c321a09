/**
 * The restore password on its way from the API to a worker, through Redis (the `restore.run` job's
 * `passwordEnvelope`; see libs/contracts/src/jobs.ts for why it is never there in clear).
 *
 * Sealed under the 'password-envelope' key with the restore id AND the expiry as the record id:
 * changing `expiresAt` in Redis makes the envelope fail to open rather than live longer, and an
 * envelope opens for its own restore only.
 */
import type { PasswordEnvelope } from '@vaultline/contracts';

import { SecretsError, openWithServerKey, sealWithServerKey, type ServerKeys } from './server-keys';

/**
 * How long a restore job may wait for a worker (queue, service lock) before its password expires
 * and the user is asked for it again. Long enough for a restore queued behind a running backup of
 * the same service; short enough that a copy left in Redis (a finished or failed job kept for
 * inspection) is useless soon after.
 */
export const PASSWORD_ENVELOPE_TTL_MS = 30 * 60_000;

function recordId(restoreId: string, expiresAt: string): string {
  return `restore/${restoreId}/${expiresAt}`;
}

export function sealPasswordEnvelope(
  keys: ServerKeys,
  restoreId: string,
  password: string,
  opts: { ttlMs?: number; now?: Date } = {},
): PasswordEnvelope {
  const ttlMs = opts.ttlMs ?? PASSWORD_ENVELOPE_TTL_MS;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new SecretsError('INVALID_ARGUMENT', 'ttlMs must be > 0');
  const expiresAt = new Date((opts.now ?? new Date()).getTime() + ttlMs).toISOString();
  const box = sealWithServerKey(keys, 'password-envelope', recordId(restoreId, expiresAt), password);
  return { ciphertext: box.ciphertext, nonce: box.nonce, expiresAt };
}

/**
 * Returns the password, or throws SecretsError: OPEN_FAILED (another restore's envelope, another
 * server secret, anything altered — expiresAt included) or EXPIRED. Authentication comes first, so
 * EXPIRED is only ever said of a genuine envelope.
 */
export function openPasswordEnvelope(
  keys: ServerKeys,
  restoreId: string,
  envelope: PasswordEnvelope,
  now: Date = new Date(),
): string {
  const password = openWithServerKey(
    keys,
    'password-envelope',
    recordId(restoreId, envelope.expiresAt),
    envelope,
  );
  try {
    if (!(now.getTime() < Date.parse(envelope.expiresAt))) {
      throw new SecretsError(
        'EXPIRED',
        `the password sealed for ${JSON.stringify(restoreId)} expired at ${envelope.expiresAt}: submit it again`,
      );
    }
    return password.toString('utf8');
  } finally {
    password.fill(0);
  }
}
