/**
 * `stats`: how big snapshots are. Two views, as restic's `stats`:
 *   - restore-size: what restoring them writes (files, folders, symlinks, bytes), counted per
 *     snapshot and summed — identical folders are summarised once and reused, so this is cheap.
 *   - raw-data: the unique blobs they reference (data and trees), their size before compression
 *     and encryption, and what they take up in the packs.
 * Both read trees, so they need the password.
 */
import { BlobType } from './blob';
import type { BlobIndex } from './blob-index';
import { collectRefs, readTree } from './reader';
import type { Repository } from './repository';

export type StatsMode = 'restore-size' | 'raw-data';

export interface RestoreSizeStats {
  mode: 'restore-size';
  snapshots: number;
  files: number;
  dirs: number;
  symlinks: number;
  /** Bytes of file content a restore of every snapshot writes. */
  bytes: number;
}

export interface RawDataStats {
  mode: 'raw-data';
  snapshots: number;
  /** Unique blobs referenced: data chunks and trees. */
  blobs: number;
  dataBlobs: number;
  treeBlobs: number;
  /** Their size uncompressed. */
  bytes: number;
  /** What they occupy in the packs (compressed, encrypted). */
  storedBytes: number;
}

export type Stats = RestoreSizeStats | RawDataStats;

interface TreeSummary {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

/** Files, folders, symlinks and bytes below a tree, with every tree summarised once. */
export async function summarizeTree(
  repo: Repository,
  index: BlobIndex,
  treeId: string,
  memo = new Map<string, Promise<TreeSummary>>(),
): Promise<TreeSummary> {
  let pending = memo.get(treeId);
  if (!pending) {
    pending = (async () => {
      const sum: TreeSummary = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
      for (const n of (await readTree(repo, index, treeId)).nodes) {
        if (n.type === 'file') {
          sum.files++;
          sum.bytes += n.size ?? 0;
        } else if (n.type === 'symlink') sum.symlinks++;
        else {
          sum.dirs++;
          const sub = await summarizeTree(repo, index, n.subtree!, memo);
          sum.files += sub.files;
          sum.dirs += sub.dirs;
          sum.symlinks += sub.symlinks;
          sum.bytes += sub.bytes;
        }
      }
      return sum;
    })();
    memo.set(treeId, pending);
  }
  return pending;
}

/** Stats of the given snapshots (ids as resolved by the caller). */
export async function snapshotStats(
  repo: Repository,
  snapshotIds: readonly string[],
  mode: StatsMode,
): Promise<Stats> {
  const { index } = await repo.loadIndex();
  const roots: string[] = [];
  for (const id of snapshotIds) roots.push((await repo.readSnapshotBody(id)).body.tree);
  if (mode === 'restore-size') {
    const memo = new Map<string, Promise<TreeSummary>>();
    const total: RestoreSizeStats = {
      mode,
      snapshots: roots.length,
      files: 0,
      dirs: 0,
      symlinks: 0,
      bytes: 0,
    };
    for (const root of roots) {
      const s = await summarizeTree(repo, index, root, memo);
      total.files += s.files;
      total.dirs += s.dirs;
      total.symlinks += s.symlinks;
      total.bytes += s.bytes;
    }
    return total;
  }
  const refs = new Set<string>();
  await collectRefs(repo, index, roots, refs);
  const raw: RawDataStats = {
    mode,
    snapshots: roots.length,
    blobs: 0,
    dataBlobs: 0,
    treeBlobs: 0,
    bytes: 0,
    storedBytes: 0,
  };
  for (const id of refs) {
    const loc = index.get(Buffer.from(id, 'hex'));
    if (!loc) continue; // missing data is check's business
    raw.blobs++;
    if (loc.type === BlobType.Tree) raw.treeBlobs++;
    else raw.dataBlobs++;
    raw.bytes += loc.rawLength;
    raw.storedBytes += loc.length;
  }
  return raw;
}
