/**
 * Manifest `manifests/<id>`: the writer-readable side of a snapshot. For each file a keyed path
 * fingerprint with size, mtime, ctime, inode and chunk ids (change detection for the next
 * backup), and the ids of all trees. Together these are every blob the snapshot references, so
 * forget and prune work with the writer key alone. File names never appear in it.
 */
import { keyedHash } from './crypto';

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

/** Every blob id (hex) a manifest references. */
export function* manifestRefs(m: Manifest): IterableIterator<string> {
  yield* m.trees;
  for (const f of Object.values(m.files)) yield* f[4];
}
