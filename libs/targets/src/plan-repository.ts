/**
 * A plan's repository on a target, in the three ways the fleet opens one:
 * - created with the owner's password, the one moment it is present; the fleet keeps only what
 *   comes out of it (the repository id, its location, the writer key sealed with the server secret);
 * - opened with that writer key, which adds (and forgets) snapshots but never decrypts one;
 * - opened with the owner's password for a restore or a password change, brought by the request.
 * Passwords are handed to the engine only: never logged, never kept.
 */
import { rm } from 'node:fs/promises';
import {
  exportWriterKey,
  parseWriterKey,
  Repository,
  type Credentials,
  type KdfParams,
} from '@vaultline/engine';
import {
  formatSealed,
  openWithServerKey,
  parseSealed,
  recordIds,
  sealWithServerKey,
  type ServerKeys,
} from '@vaultline/secrets';
import type { StorageBackend } from '@vaultline/storage';

import { openTargetStorage, planRepoLocation, type TargetRow } from './target-storage';

/** Argon2id cost of the key file a new repository gets (the engine's default unless overridden). */
export type RepoKdf = Partial<Omit<KdfParams, 'salt' | 'algorithm'>>;

/** The columns of a `plan_targets` row the writer key opens with (structural, as TargetRow). */
export interface PlanTargetRow {
  planId: string;
  targetId: string;
  repoLocation: string;
  writerKeyEnc: string;
}

export interface CreatedRepo {
  repoId: string;
  repoLocation: string;
  writerKeyEnc: string;
}

export interface OpenRepoOptions {
  /**
   * What a failure to open the target's storage becomes (not one of the repository itself): the
   * worker tells a missing folder of a local target as an unreachable drive, to be retried.
   */
  storageError?: (err: unknown) => unknown;
}

/** Initialises the plan's repository on the target and returns what plan_targets stores. */
export async function createPlanRepository(
  keys: ServerKeys,
  target: TargetRow,
  planId: string,
  password: string,
  kdf: RepoKdf | undefined,
): Promise<CreatedRepo> {
  const repoLocation = planRepoLocation(target, planId);
  const backend = await openTargetStorage(keys, target, repoLocation, { create: true });
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
 * Best effort: removes a repository created a moment ago (nothing else can have written to it
 * yet), so a failed plan creation leaves no orphan behind. Errors are the caller's to log; the
 * repository then stays, unused and harmless.
 */
export async function removeNewRepository(
  keys: ServerKeys,
  target: TargetRow,
  location: string,
): Promise<void> {
  if (target.kind !== 's3') {
    await rm(location, { recursive: true, force: true });
    return;
  }
  const backend = await openTargetStorage(keys, target, location, { create: false });
  try {
    const names: string[] = [];
    for await (const o of backend.list('')) names.push(o.name);
    for (const name of names) await backend.delete(name);
  } finally {
    await backend.close();
  }
}

/** The target's storage for an existing repository: nothing is created. */
async function openExisting(
  keys: ServerKeys,
  target: TargetRow,
  location: string,
  opts: OpenRepoOptions,
): Promise<StorageBackend> {
  try {
    return await openTargetStorage(keys, target, location, { create: false });
  } catch (err) {
    throw opts.storageError ? opts.storageError(err) : err;
  }
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

/** The plan's repository on the target, opened with its sealed writer key (write-only). */
export async function openPlanRepositoryWithWriterKey(
  keys: ServerKeys,
  target: TargetRow,
  planTarget: PlanTargetRow,
  opts: OpenRepoOptions = {},
): Promise<Repository> {
  const writerKey = parseWriterKey(
    openWithServerKey(
      keys,
      'writer-key',
      recordIds.writerKey(planTarget.planId, planTarget.targetId),
      parseSealed(planTarget.writerKeyEnc),
    ).toString('utf8'),
  );
  return openOrClose(await openExisting(keys, target, planTarget.repoLocation, opts), { writerKey });
}

/**
 * The plan's repository at `location` opened with the owner's password (a plan has one password:
 * a target added later gets a repository with the same one). A wrong password fails here
 * (EngineError WRONG_PASSWORD) before anything is read or written.
 */
export async function openPlanRepositoryWithPassword(
  keys: ServerKeys,
  target: TargetRow,
  location: string,
  password: string,
  opts: OpenRepoOptions = {},
): Promise<Repository> {
  return openOrClose(await openExisting(keys, target, location, opts), { password });
}

/** Closes the repository's storage (an S3 client's own sockets); never fails. */
export async function closeRepository(repo: Repository | undefined): Promise<void> {
  await repo?.backend.close().catch(() => undefined);
}
