/**
 * A backup target's storage and the plans' repositories on it, opened from catalog rows with what
 * the fleet keeps sealed under the server secret. One definition for the API (which creates plan
 * repositories and checks passwords) and the worker (which writes with the writer key and restores
 * with the owner's password), so the two cannot open a target differently.
 */
import path from 'node:path';
import { OutboundPolicy } from '@vaultline/config';
import { openWithServerKey, parseSealed, recordIds, type ServerKeys } from '@vaultline/secrets';
import { FsBackend, StorageError, openS3Backend, type StorageBackend } from '@vaultline/storage';

/** The columns of a `targets` row this needs (structural, so no dependency on the Prisma client). */
export interface TargetRow {
  id: string;
  kind: 'local' | 'network' | 's3';
  path: string | null;
  s3Endpoint: string | null;
  s3Bucket: string | null;
  s3Prefix: string | null;
  s3Region: string | null;
  s3AccessKey: string | null;
  s3SecretEnc: string | null;
}

/**
 * The outbound policy S3 targets are connected through, at connect time (so a name that resolves
 * to a denied address after its registration is still refused). One per process, from its config:
 * the API and the worker set it at startup; until then the metadata addresses are still denied.
 */
let outbound = new OutboundPolicy();

export function setTargetsOutboundPolicy(policy: OutboundPolicy): void {
  outbound = policy;
}

/** Where a plan's repository lives on a target: one repository per plan, so each has its own keys. */
export function planRepoLocation(target: TargetRow, planId: string): string {
  if (target.kind === 's3') {
    const prefix = [target.s3Prefix, 'vaultline', planId].filter((p) => p).join('/');
    return `s3://${target.s3Bucket ?? ''}/${prefix}`;
  }
  return path.join(target.path ?? '', 'vaultline', planId);
}

/**
 * Opens `location` (a repository on this target). With `create`, a filesystem target's own folder
 * must already exist — an unmounted share must not become a folder on the host's root filesystem —
 * and only the repository's folder below it is made; without it nothing is created, so a missing
 * folder is a NOT_FOUND error. S3 buckets are never created here.
 */
export async function openTargetStorage(
  keys: ServerKeys,
  target: TargetRow,
  location: string,
  options: { create: boolean; outbound?: OutboundPolicy },
): Promise<StorageBackend> {
  if (target.kind !== 's3') {
    if (options.create) await (await FsBackend.open(target.path ?? '', { create: false })).close();
    return FsBackend.open(location, { create: options.create });
  }
  if (!target.s3AccessKey || !target.s3SecretEnc) {
    throw new StorageError('INVALID_LOCATION', `target ${target.id} is an S3 target without credentials`);
  }
  const secret = openWithServerKey(
    keys,
    'target-credentials',
    recordIds.targetCredentials(target.id),
    parseSealed(target.s3SecretEnc),
  ).toString('utf8');
  const policy = options.outbound ?? outbound;
  return openS3Backend(
    location,
    {
      endpoint: target.s3Endpoint,
      region: target.s3Region,
      accessKey: target.s3AccessKey,
      secretKey: secret,
    },
    { agent: (secure, agentOptions) => policy.createAgent(secure, agentOptions) },
  );
}

export * from './plan-repository';
