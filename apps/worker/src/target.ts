/**
 * Opening a plan's repository on a target with what the fleet keeps: the writer key and the S3
 * secret, both sealed in the database with the server secret. The worker never sees a password,
 * so what it opens can add snapshots but never decrypt one.
 */
import type { PlanTarget, Target } from '@vaultline/db';
import { Repository, parseWriterKey } from '@vaultline/engine';
import { openWithServerKey, parseSealed, recordIds, type ServerKeys } from '@vaultline/secrets';
import { StorageError, type StorageBackend } from '@vaultline/storage';
import { openTargetStorage } from '@vaultline/targets';

import { WorkerError } from './errors';

/**
 * The target's storage for an existing repository. Its folder missing means the drive or mount
 * is gone (unplugged, NFS down): UNREACHABLE, retried with backoff, rather than a permanent
 * NOT_FOUND — and nothing is created, so an unmounted share never gets a fresh repository.
 */
async function openTargetBackend(
  keys: ServerKeys,
  target: Target,
  location: string,
): Promise<StorageBackend> {
  try {
    return await openTargetStorage(keys, target, location, { create: false });
  } catch (err) {
    if (target.kind !== 's3' && err instanceof StorageError && err.code === 'NOT_FOUND') {
      throw new WorkerError('UNREACHABLE', err.message, 'transient', { cause: err });
    }
    throw err;
  }
}

/** The plan's repository on the target, opened with its writer key (write-only). */
export async function openPlanRepository(
  keys: ServerKeys,
  target: Target,
  planTarget: PlanTarget,
): Promise<Repository> {
  const writerKey = parseWriterKey(
    openWithServerKey(
      keys,
      'writer-key',
      recordIds.writerKey(planTarget.planId, planTarget.targetId),
      parseSealed(planTarget.writerKeyEnc),
    ).toString('utf8'),
  );
  const backend = await openTargetBackend(keys, target, planTarget.repoLocation);
  return Repository.open(backend, { writerKey });
}
