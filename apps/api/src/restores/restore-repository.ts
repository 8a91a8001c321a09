/**
 * Checking a restore's password before anything is queued: the owner's password is the only thing
 * that can decrypt a snapshot (the fleet keeps write-only keys), so a wrong one is told at once
 * rather than by a failed job minutes later.
 */
import type { Target } from '@vaultline/catalog';
import { EngineError, Repository } from '@vaultline/engine';
import type { ServerKeys } from '@vaultline/secrets';
import { StorageError, type StorageBackend } from '@vaultline/storage';
import { openTargetStorage } from '@vaultline/targets';

import { ApiError } from '../common/api-error';

/**
 * Opens the repository at `location` with the password (Argon2id unwrap of a key file, as plan
 * creation did) and reads the snapshot's header, which also proves it is still there. Throws
 * ApiError: WRONG_PASSWORD naming `password` (422), UNAVAILABLE (target unreachable, no
 * repository where the catalog says) or NOT_FOUND (the snapshot is no longer in the repository).
 */
export async function checkRestorePassword(
  keys: ServerKeys,
  target: Target,
  location: string,
  password: string,
  snapshotId: string,
): Promise<void> {
  const where = `target ${JSON.stringify(target.name)}`;
  const unreachable = (err: Error): ApiError =>
    new ApiError('UNAVAILABLE', `${where} is unreachable: ${err.message}`);
  let backend: StorageBackend;
  try {
    backend = await openTargetStorage(keys, target, location, { create: false });
  } catch (err) {
    // A drive unplugged or a share not mounted looks like a missing folder.
    if (err instanceof StorageError) throw unreachable(err);
    throw err;
  }
  try {
    const repo = await Repository.open(backend, { password });
    await repo.readSnapshotInfo(snapshotId);
  } catch (err) {
    if (err instanceof EngineError && err.code === 'WRONG_PASSWORD') {
      throw new ApiError('WRONG_PASSWORD', "the password does not open the plan's repository on the target", [
        { path: 'password', message: "does not open the plan's repository on the target" },
      ]);
    }
    if (err instanceof EngineError && err.code === 'NOT_FOUND') {
      throw new ApiError(
        'NOT_FOUND',
        `snapshot ${snapshotId} is in the catalog but no longer in the repository on ${where}`,
      );
    }
    // An empty mount point has no repository either.
    if (err instanceof StorageError || (err instanceof EngineError && err.code === 'NO_REPOSITORY')) {
      throw unreachable(err);
    }
    throw err;
  } finally {
    await backend.close();
  }
}
