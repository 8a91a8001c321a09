/**
 * Opening a plan's repository on a target with what the fleet keeps: the writer key and the S3
 * secret, both sealed in the database with the server secret. The worker never sees a password,
 * so what it opens can add snapshots but never decrypt one.
 */
import type { PlanTarget, Target } from '@vaultline/db';
import { Repository, parseWriterKey } from '@vaultline/engine';
import { openWithServerKey, parseSealed, recordIds, type ServerKeys } from '@vaultline/secrets';
import { FsBackend, openBackend, StorageError, type StorageBackend } from '@vaultline/storage';

import { WorkerError } from './errors';

/**
 * Record ids the sealed values are bound to (associated data). The sealing side (the API) must
 * use the same ones: `<planId>/<targetId>` for a plan's writer key on a target (a plan_targets
 * row has no id of its own), the target id for its S3 secret. Candidates for libs/secrets.
 */
async function openTargetBackend(
  keys: ServerKeys,
  target: Target,
  location: string,
): Promise<StorageBackend> {
  if (target.kind === 'local' || target.kind === 'network') {
    // The repository must already exist (created with the plan): never create it here, so an
    // unmounted network folder is an error rather than a fresh, empty repository on the host.
    // Its folder missing means the drive or mount is gone (unplugged, NFS down): UNREACHABLE,
    // retried with backoff, rather than a permanent NOT_FOUND.
    try {
      return await FsBackend.open(location, { create: false });
    } catch (err) {
      if (err instanceof StorageError && err.code === 'NOT_FOUND') {
        throw new WorkerError('UNREACHABLE', err.message, 'transient', { cause: err });
      }
      throw err;
    }
  }
  if (!target.s3AccessKey || !target.s3SecretEnc) {
    throw new WorkerError('INVALID_TARGET', `target ${target.id} has no S3 credentials`, 'permanent');
  }
  const secret = openWithServerKey(
    keys,
    'target-credentials',
    recordIds.targetCredentials(target.id),
    parseSealed(target.s3SecretEnc),
  ).toString('utf8');
  // openBackend reads S3 settings from an env-shaped object: built here from the row, never from
  // process.env, so one worker serves targets with different endpoints and credentials.
  return openBackend(location, {
    VAULTLINE_S3_ENDPOINT: target.s3Endpoint ?? undefined,
    VAULTLINE_S3_REGION: target.s3Region ?? undefined,
    VAULTLINE_S3_ACCESS_KEY: target.s3AccessKey,
    VAULTLINE_S3_SECRET_KEY: secret,
  });
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
