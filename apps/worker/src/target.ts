/**
 * The worker's two ways into a plan's repository, over the one definition in @vaultline/targets:
 * with the writer key the fleet keeps sealed (backup, retention: add and forget snapshots, never
 * decrypt one), and with the owner's password a restore job brings. What the worker adds is how a
 * local target that cannot be opened is told.
 */
import type { PlanTarget, Target } from '@vaultline/catalog';
import { DEFAULT_LOCK_TIMING, type LockTiming, type Repository } from '@vaultline/engine';
import type { ServerKeys } from '@vaultline/secrets';
import {
  openPlanRepositoryWithPassword,
  openPlanRepositoryWithWriterKey,
  type OpenRepoOptions,
} from '@vaultline/targets';

import { localOpenFailure } from './errors';

export { closeRepository } from '@vaultline/targets';

/**
 * Repository locks as the worker takes them: a conflicting lock (a prune, or a retention job's
 * prune beside a plan deletion) is tried again for a minute before the job fails with LOCKED
 * and BullMQ's backoff takes over — two maintenance jobs of one plan that meet are not a failure.
 */
export const WORKER_LOCK_TIMING: LockTiming = { ...DEFAULT_LOCK_TIMING, retryMs: 60_000 };

/**
 * A local target's folder missing means the drive or mount is gone (unplugged, NFS down):
 * UNREACHABLE, retried with backoff, rather than a permanent NOT_FOUND. Nothing is created, so an
 * unmounted share never gets a fresh repository.
 */
function options(target: Target): OpenRepoOptions {
  return target.kind === 's3' ? {} : { storageError: localOpenFailure };
}

/** The plan's repository on the target, opened with its writer key (write-only). */
export function openPlanRepository(
  keys: ServerKeys,
  target: Target,
  planTarget: PlanTarget,
): Promise<Repository> {
  return openPlanRepositoryWithWriterKey(keys, target, planTarget, options(target));
}

/**
 * The plan's repository on the target, opened with the owner's password (restore only). A wrong
 * password fails here (EngineError WRONG_PASSWORD) before anything is read or written.
 */
export function openPlanRepositoryForRead(
  keys: ServerKeys,
  target: Target,
  location: string,
  password: string,
): Promise<Repository> {
  return openPlanRepositoryWithPassword(keys, target, location, password, options(target));
}
