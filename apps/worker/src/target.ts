/**
 * Opening a plan's repository on a target with what the fleet keeps: the writer key and the S3
 * secret, both sealed in the database with the server secret. What the writer key opens can add
 * (and forget) snapshots but never decrypt one. The only exception is a restore, which brings the
 * owner's password in its job (sealed in a short-lived envelope): `openPlanRepositoryForRead`.
 */
import type { PlanTarget, Target } from '@vaultline/catalog';
import { Repository, parseWriterKey, type Credentials } from '@vaultline/engine';
import { openWithServerKey, parseSealed, recordIds, type ServerKeys } from '@vaultline/secrets';
import type { StorageBackend } from '@vaultline/storage';
import { openTargetStorage } from '@vaultline/targets';

import { localOpenFailure } from './errors';

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
    throw target.kind === 's3' ? err : localOpenFailure(err);
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
  return openOrClose(backend, { writerKey });
}

/** Repository.open, closing the backend (an S3 client's sockets) when the repository cannot open. */
async function openOrClose(backend: StorageBackend, creds: Credentials): Promise<Repository> {
  try {
    return await Repository.open(backend, creds);
  } catch (err) {
    await backend.close().catch(() => undefined);
    throw err;
  }
}

/** Closes the repository's storage (an S3 client's own sockets); never fails the job. */
export async function closeRepository(repo: Repository | undefined): Promise<void> {
  await repo?.backend.close().catch(() => undefined);
}

/**
 * The plan's repository on the target, opened with the owner's password (restore only). A wrong
 * password fails here (EngineError WRONG_PASSWORD) before anything is read or written. The
 * password is only handed to the engine: never logged, never kept.
 */
export async function openPlanRepositoryForRead(
  keys: ServerKeys,
  target: Target,
  location: string,
  password: string,
): Promise<Repository> {
  const backend = await openTargetBackend(keys, target, location);
  return openOrClose(backend, { password });
}
