/**
 * Creating a plan's repository on a target: the one moment the password is present. The fleet
 * keeps only what comes out of it — the repository id, its location and the writer key sealed
 * with the server secret — so the worker can add snapshots but never read one.
 *
 * Opening a target's storage from its row mirrors apps/worker/src/target.ts (`openTargetBackend`),
 * which is private to the worker; the two should move to one shared library together.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Target } from '@vaultline/db';
import { exportWriterKey, type KdfParams, Repository } from '@vaultline/engine';
import {
  formatSealed,
  openWithServerKey,
  parseSealed,
  recordIds,
  sealWithServerKey,
  type ServerKeys,
} from '@vaultline/secrets';
import { FsBackend, openBackend, type StorageBackend } from '@vaultline/storage';

/** Argon2id cost of the key file a new repository gets (the engine's default unless overridden). */
export type RepoKdf = Partial<Omit<KdfParams, 'salt' | 'algorithm'>>;

/** Where a plan's repository lives on a target: one repository per plan, so each has its own keys. */
export function planRepoLocation(target: Target, planId: string): string {
  if (target.kind === 's3') {
    const prefix = [target.s3Prefix, 'vaultline', planId].filter((p) => p).join('/');
    return `s3://${target.s3Bucket ?? ''}/${prefix}`;
  }
  return path.join(target.path ?? '', 'vaultline', planId);
}

async function openTarget(
  keys: ServerKeys,
  target: Target,
  location: string,
  forInit: boolean,
): Promise<StorageBackend> {
  if (target.kind !== 's3') {
    if (!forInit) return FsBackend.open(location, { create: false });
    // The target's own folder must exist (an unmounted share must not become a folder on the
    // host's root filesystem); only the plan's folder below it is created.
    await (await FsBackend.open(target.path ?? '', { create: false })).close();
    return FsBackend.open(location, { create: true });
  }
  if (!target.s3AccessKey || !target.s3SecretEnc) {
    throw new Error(`target ${target.id} is an s3 target without credentials`);
  }
  const secret = openWithServerKey(
    keys,
    'target-credentials',
    recordIds.targetCredentials(target.id),
    parseSealed(target.s3SecretEnc),
  ).toString('utf8');
  // Settings from the row, never from process.env (as the worker does); the bucket must exist.
  return openBackend(location, {
    VAULTLINE_S3_ENDPOINT: target.s3Endpoint ?? undefined,
    VAULTLINE_S3_REGION: target.s3Region ?? undefined,
    VAULTLINE_S3_ACCESS_KEY: target.s3AccessKey,
    VAULTLINE_S3_SECRET_KEY: secret,
  });
}

export interface CreatedRepo {
  repoId: string;
  repoLocation: string;
  writerKeyEnc: string;
}

/** Initialises the plan's repository on the target and returns what plan_targets stores. */
export async function createPlanRepository(
  keys: ServerKeys,
  target: Target,
  planId: string,
  password: string,
  kdf: RepoKdf | undefined,
): Promise<CreatedRepo> {
  const repoLocation = planRepoLocation(target, planId);
  const backend = await openTarget(keys, target, repoLocation, true);
  try {
    const repo = await Repository.init(backend, { password, kdf });
    const sealed = sealWithServerKey(
      keys,
      'writer-key',
      recordIds.writerKey(planId, target.id),
      exportWriterKey(repo.keys),
    );
    return { repoId: repo.config.id, repoLocation, writerKeyEnc: formatSealed(sealed) };
  } finally {
    await backend.close();
  }
}

/**
 * Whether `password` opens the plan's existing repository at `location` (a plan has one password:
 * a target added later gets a repository with the same one). Throws EngineError WRONG_PASSWORD.
 */
export async function checkPlanPassword(
  keys: ServerKeys,
  target: Target,
  location: string,
  password: string,
): Promise<void> {
  const backend = await openTarget(keys, target, location, false);
  try {
    await Repository.open(backend, { password });
  } finally {
    await backend.close();
  }
}

/**
 * Best effort: removes a repository this request created a moment ago (nothing else can have
 * written to it yet), so a failed plan creation leaves no orphan behind. Errors are the caller's
 * to log; the repository then stays, unused and harmless.
 */
export async function removeNewRepository(keys: ServerKeys, target: Target, location: string): Promise<void> {
  if (target.kind !== 's3') {
    await rm(location, { recursive: true, force: true });
    return;
  }
  const backend = await openTarget(keys, target, location, false);
  try {
    const names: string[] = [];
    for await (const o of backend.list('')) names.push(o.name);
    for (const name of names) await backend.delete(name);
  } finally {
    await backend.close();
  }
}
