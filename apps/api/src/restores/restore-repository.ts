/**
 * Checking a restore's password before anything is queued: the owner's password is the only thing
 * that can decrypt a snapshot (the fleet keeps write-only keys), so a wrong one is told at once
 * rather than by a failed job minutes later.
 */
import type { Target } from '@vaultline/catalog';
import type { Repository } from '@vaultline/engine';
import type { ServerKeys } from '@vaultline/secrets';
import { closeRepository, openPlanRepositoryWithPassword } from '@vaultline/targets';

import { ApiError } from '../common/api-error';
import { repositoryError, type RepositoryMessages } from '../common/domain-errors';

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
  const messages: RepositoryMessages = {
    // A drive unplugged, a share not mounted (a missing folder) or an empty mount point.
    UNAVAILABLE: (err) => new ApiError('UNAVAILABLE', `${where} is unreachable: ${err.message}`),
    WRONG_PASSWORD: () =>
      new ApiError('WRONG_PASSWORD', "the password does not open the plan's repository on the target", [
        { path: 'password', message: "does not open the plan's repository on the target" },
      ]),
    NOT_FOUND: () =>
      new ApiError(
        'NOT_FOUND',
        `snapshot ${snapshotId} is in the catalog but no longer in the repository on ${where}`,
      ),
  };
  let repo: Repository | undefined;
  try {
    repo = await openPlanRepositoryWithPassword(keys, target, location, password);
    await repo.readSnapshotInfo(snapshotId);
  } catch (err) {
    throw repositoryError(err, where, messages);
  } finally {
    await closeRepository(repo);
  }
}
