/**
 * Creating a plan's repository on a target: the one moment the password is present. The fleet
 * keeps only what comes out of it — the repository id, its location and the writer key sealed
 * with the server secret — so the worker can add snapshots but never read one.
 */
import { rm } from 'node:fs/promises';
import type { Target } from '@vaultline/catalog';
import { exportWriterKey, type KdfParams, Repository } from '@vaultline/engine';
import { formatSealed, recordIds, sealWithServerKey, type ServerKeys } from '@vaultline/secrets';
import { openTargetStorage, planRepoLocation } from '@vaultline/targets';

/** Argon2id cost of the key file a new repository gets (the engine's default unless overridden). */
export type RepoKdf = Partial<Omit<KdfParams, 'salt' | 'algorithm'>>;

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
 * Whether `password` opens the plan's existing repository at `location` (a plan has one password:
 * a target added later gets a repository with the same one). Throws EngineError WRONG_PASSWORD.
 */
export async function checkPlanPassword(
  keys: ServerKeys,
  target: Target,
  location: string,
  password: string,
): Promise<void> {
  const backend = await openTargetStorage(keys, target, location, { create: false });
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
  const backend = await openTargetStorage(keys, target, location, { create: false });
  try {
    const names: string[] = [];
    for await (const o of backend.list('')) names.push(o.name);
    for (const name of names) await backend.delete(name);
  } finally {
    await backend.close();
  }
}

/** A plan's repository opened with its password, and the storage to close after use. */
export interface OpenedRepo {
  repo: Repository;
  close(): Promise<void>;
}

/**
 * Opens the plan's repository at `location` with the password (password change). Throws EngineError
 * WRONG_PASSWORD, or StorageError when the target cannot be reached.
 */
export async function openPlanRepository(
  keys: ServerKeys,
  target: Target,
  location: string,
  password: string,
): Promise<OpenedRepo> {
  const backend = await openTargetStorage(keys, target, location, { create: false });
  try {
    const repo = await Repository.open(backend, { password });
    return { repo, close: () => backend.close() };
  } catch (err) {
    await backend.close();
    throw err;
  }
}
