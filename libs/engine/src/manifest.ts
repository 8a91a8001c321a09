/**
 * Manifest `manifests/<id>`: the writer-readable side of a snapshot. For each file a keyed path
 * fingerprint with size, mtime, ctime, inode and chunk ids (change detection for the next
 * backup), and the ids of all trees. Together these are every blob the snapshot references, so
 * forget and prune work with the writer key alone. File names never appear in it.
 */
import { keyedHash } from './crypto';
import { corrupt } from './errors';
import { openJson, verifyContentName } from './meta';
import type { Repository } from './repository';
import { StorageError } from '@vaultline/storage';

/** [size, mtimeNs, ctimeNs, inode, chunk ids] */
export type ManifestFile = [number, string, string, string, string[]];

export interface Manifest {
  files: Record<string, ManifestFile>;
  trees: string[];
}

/** Of the path's bytes relative to the source folder (a string is taken as UTF-8). */
export function pathFingerprint(pathKey: Buffer, relPath: string | Buffer): string {
  const bytes = typeof relPath === 'string' ? Buffer.from(relPath, 'utf8') : relPath;
  return keyedHash(pathKey, bytes).subarray(0, 16).toString('base64url');
}

/** The stored manifests a snapshot needs: its own and, for a delta, its bases. */
export function manifestsOf(s: { manifest: string; manifestBases?: string[] }): string[] {
  return [s.manifest, ...(s.manifestBases ?? [])];
}

/** Every blob id (hex) a manifest references. */
export function* manifestRefs(m: Manifest): IterableIterator<string> {
  yield* m.trees;
  for (const f of Object.values(m.files)) yield* f[4];
}

/**
 * How a manifest is stored. Whole (no `base`), or as a delta: the entries new or changed since
 * the manifest `base` and the fingerprints `removed` since it, so a backup that changed 1 % of
 * 60 000 files stores ~1 % of a manifest, not all of it. `trees` is always whole (one id per
 * folder, small beside the files). Chains are at most `MAX_MANIFEST_CHAIN` long.
 */
export interface StoredManifest {
  base?: string;
  files: Record<string, ManifestFile>;
  removed?: string[];
  trees: string[];
}

/** A delta's chain of bases (nearest first) never grows past this; the next manifest is whole. */
export const MAX_MANIFEST_CHAIN = 16;

/** The delta of `next` against `parent`, or null when storing `next` whole is as good. */
export function manifestDelta(
  parent: Manifest,
  next: Manifest,
): Pick<StoredManifest, 'files' | 'removed'> | null {
  const files: Record<string, ManifestFile> = {};
  const removed: string[] = [];
  let changed = 0;
  for (const [fp, f] of Object.entries(next.files)) {
    const p = parent.files[fp];
    if (p && sameEntry(p, f)) continue;
    files[fp] = f;
    changed++;
  }
  for (const fp of Object.keys(parent.files)) if (!(fp in next.files)) removed.push(fp);
  // A delta touching a quarter of the files saves little and lengthens every later read.
  if ((changed + removed.length) * 4 > Object.keys(next.files).length) return null;
  return { files, removed };
}

export function sameEntry(x: ManifestFile, y: ManifestFile): boolean {
  if (x[0] !== y[0] || x[1] !== y[1] || x[2] !== y[2] || x[3] !== y[3] || x[4].length !== y[4].length)
    return false;
  for (let i = 0; i < x[4].length; i++) if (x[4][i] !== y[4][i]) return false;
  return true;
}

/** Same files and trees (key order aside: the stored bytes of a reused manifest are its own). */
export function sameManifests(a: Manifest, b: Manifest): boolean {
  if (a.trees.length !== b.trees.length || a.trees.some((t, i) => t !== b.trees[i])) return false;
  const ak = Object.keys(a.files);
  if (ak.length !== Object.keys(b.files).length) return false;
  for (const k of ak) {
    const y = b.files[k];
    if (!y || !sameEntry(a.files[k]!, y)) return false;
  }
  return true;
}

/** Checks a decrypted manifest's shape (a forged or damaged one is refused, not half-used). */
export function validStoredManifest(m: unknown): m is StoredManifest {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return false;
  const s = m as Record<string, unknown>;
  if (Object.keys(s).some((k) => !['base', 'files', 'removed', 'trees'].includes(k))) return false;
  if (s.base !== undefined && (typeof s.base !== 'string' || !/^[0-9a-f]{64}$/.test(s.base))) return false;
  if (s.removed !== undefined && (s.base === undefined || !isStringArray(s.removed))) return false;
  if (!isStringArray(s.trees)) return false;
  if (typeof s.files !== 'object' || s.files === null || Array.isArray(s.files)) return false;
  return Object.values(s.files).every(
    (f) =>
      Array.isArray(f) &&
      f.length === 5 &&
      typeof f[0] === 'number' &&
      typeof f[1] === 'string' &&
      typeof f[2] === 'string' &&
      typeof f[3] === 'string' &&
      isStringArray(f[4]),
  );
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** A manifest resolved whole, and the ids of the stored manifests it was built from (nearest base first). */
export interface LoadedManifest {
  manifest: Manifest;
  bases: string[];
}

/**
 * Reads manifest `id` and, when it is a delta, its chain of bases, and returns it whole. `cache`
 * (stored manifests by id) lets a caller reading many snapshots read each shared base once.
 */
export async function loadManifestChain(
  repo: Repository,
  id: string,
  cache?: Map<string, StoredManifest>,
): Promise<LoadedManifest> {
  const stored = [await readStoredManifest(repo, id, cache)];
  const bases: string[] = [];
  for (let m = stored[0]!; m.base !== undefined; m = stored[stored.length - 1]!) {
    if (bases.length >= MAX_MANIFEST_CHAIN)
      throw corrupt(`manifest ${id.slice(0, 8)}: its chain of bases is longer than ${MAX_MANIFEST_CHAIN}`);
    bases.push(m.base);
    stored.push(await readStoredManifest(repo, m.base, cache, id));
  }
  const root = stored[stored.length - 1]!;
  if (stored.length === 1) return { manifest: { files: root.files, trees: root.trees }, bases };
  // One copy (the root may be cached and shared), then every delta applied in place, oldest first.
  const files: Record<string, ManifestFile> = { ...root.files };
  for (let i = stored.length - 2; i >= 0; i--) {
    for (const fp of stored[i]!.removed ?? []) delete files[fp];
    Object.assign(files, stored[i]!.files);
  }
  const manifest: Manifest = { files, trees: stored[0]!.trees };
  return { manifest, bases };
}

export async function loadManifest(
  repo: Repository,
  id: string,
  cache?: Map<string, StoredManifest>,
): Promise<Manifest> {
  return (await loadManifestChain(repo, id, cache)).manifest;
}

async function readStoredManifest(
  repo: Repository,
  id: string,
  cache: Map<string, StoredManifest> | undefined,
  deltaOf?: string,
): Promise<StoredManifest> {
  // Only bases are cached: they are what several snapshots share, and whole manifests are large.
  const hit = deltaOf ? cache?.get(id) : undefined;
  if (hit) return hit;
  const name = `manifests/${id}`;
  let bytes: Buffer;
  try {
    bytes = await repo.backend.get(name);
  } catch (err) {
    if (deltaOf && err instanceof StorageError && err.code === 'NOT_FOUND')
      throw corrupt(`manifest ${deltaOf.slice(0, 8)}: its base manifest ${id.slice(0, 8)} is missing`, err);
    throw err;
  }
  verifyContentName(id, bytes, name);
  const m = openJson<unknown>(repo.keys.metaKey, 'manifest', bytes, name);
  if (!validStoredManifest(m)) throw corrupt(`${name} is not a valid manifest`);
  if (deltaOf) cache?.set(id, m);
  return m;
}
