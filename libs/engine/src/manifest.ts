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

export function pathFingerprint(pathKey: Buffer, relPath: string): string {
  return keyedHash(pathKey, Buffer.from(relPath, 'utf8')).subarray(0, 16).toString('base64url');
}

/** Every blob id (hex) a manifest references. */
export function* manifestRefs(m: Manifest): IterableIterator<string> {
  yield* m.trees;
  for (const f of Object.values(m.files)) yield* f[4];
}
