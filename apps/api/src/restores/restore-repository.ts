/**
 * Opening a snapshot's repository with the owner's password: the restore check (before anything
 * is queued) and the snapshot browser (apps/api/src/snapshots) go through the same path, so a
 * wrong password, an unreachable target or a snapshot gone from the repository get the same
 * answers on both. The password is the only thing that can decrypt a snapshot (the fleet keeps
 * write-only keys).
 */
import type { Target } from '@vaultline/catalog';
import type { Repository } from '@vaultline/engine';
import type { ServerKeys } from '@vaultline/secrets';
import { closeRepository, openPlanRepositoryWithPassword } from '@vaultline/targets';

import { ApiError } from '../common/api-error';
import { repositoryError, type RepositoryMessages } from '../common/domain-errors';

/** How a failure on `target`'s repository is answered, for snapshot `snapshotId`. */
export function snapshotRepositoryError(err: unknown, target: Target, snapshotId: string): unknown {
  const where = `target ${JSON.stringify(target.name)}`;
  const messages: RepositoryMessages = {
    // A drive unplugged, a share not mounted (a missing folder) or an empty mount point.
    UNAVAILABLE: (e) => new ApiError('UNAVAILABLE', `${where} is unreachable: ${e.message}`),
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
  return repositoryError(err, where, messages);
}

/**
 * Opens the repository at `location` with the password (Argon2id unwrap of a key file, as plan
 * creation did) and reads the snapshot's header, which also proves it is still there. The caller
 * closes it (closeRepository). Throws ApiError: WRONG_PASSWORD naming `password` (422),
 * UNAVAILABLE (target unreachable, no repository where the catalog says) or NOT_FOUND (the
 * snapshot is no longer in the repository).
 */
export async function openSnapshotRepository(
  keys: ServerKeys,
  target: Target,
  location: string,
  password: string,
  snapshotId: string,
): Promise<Repository> {
  let repo: Repository | undefined;
  try {
    repo = await openPlanRepositoryWithPassword(keys, target, location, password);
    await repo.readSnapshotInfo(snapshotId);
    return repo;
  } catch (err) {
    await closeRepository(repo);
    throw snapshotRepositoryError(err, target, snapshotId);
  }
}

/** The restore's check: the password opens the repository and the snapshot is there. */
export async function checkRestorePassword(
  keys: ServerKeys,
  target: Target,
  location: string,
  password: string,
  snapshotId: string,
): Promise<void> {
  await closeRepository(await openSnapshotRepository(keys, target, location, password, snapshotId));
}
