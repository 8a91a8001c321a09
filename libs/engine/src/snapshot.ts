import type { TreeNode } from './tree';

/**
 * Snapshot object `snapshots/<id>` (id = BLAKE3 of the file):
 *   { v, header: seal(metaKey, …), eph, body: seal(sessionKey, …) }
 * The header is what listing, retention and the fleet's catalog need (writer-readable); the body
 * holds the root tree id, the source paths and the unreadable-file list (private-key only). The
 * header carries the body's hash, binding the two halves together.
 */
export type Arch = 'x86_64' | 'arm64' | 'riscv64' | 'other';

export interface SnapshotStats {
  files: number;
  dirs: number;
  /** Bytes of file content in the snapshot (the source size). */
  totalBytes: number;
  /** Bytes read from the source this time (unchanged files are not read). */
  bytesRead: number;
  /** Bytes stored in the repository by this backup, after dedup, compression and encryption. */
  bytesAdded: number;
  blobsAdded: number;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  errors: number;
  durationMs: number;
}

export interface SnapshotHeader {
  time: string;
  host: string;
  service: string | null;
  plan: string | null;
  tags: string[];
  arch: Arch;
  parent: string | null;
  manifest: string;
  /** When the manifest is a delta: the manifests it builds on, nearest first (format 3). */
  manifestBases?: string[];
  /** Keyed fingerprint of the source folder's path: picks the parent without revealing the path. */
  sourceFp: string;
  /** Who wrote it: with the password, or with the writer key only. */
  writer: 'password' | 'writer-key';
  stats: SnapshotStats;
  bodyHash: string;
}

export interface SourceError {
  path: string;
  error: string;
}

export interface SnapshotBody {
  tree: string;
  /** Metadata of the source folder itself, restored onto the target folder. */
  root: TreeNode;
  paths: string[];
  errors: SourceError[];
}

/**
 * Version of what a snapshot references (docs/repository-format.md): 2 adds byte-exact names,
 * special files, hard links, sparse files and xattrs to trees; 3 adds manifests stored as deltas
 * of their parent's; 4 adds manifests in binary columns (format 2), whole or delta. Every new
 * snapshot is written as 4: its manifest is one that versions reading at most 3 cannot decode.
 * Versions 1–3 still read.
 */
export const SNAPSHOT_VERSION = 4;
export const SNAPSHOT_VERSIONS: readonly number[] = [1, 2, 3, 4];

export interface SnapshotFile {
  v: 1 | 2 | 3 | 4;
  header: string;
  eph: string;
  body: string;
}

export interface SnapshotInfo extends SnapshotHeader {
  id: string;
}

export function normalizeArch(arch: string): Arch {
  switch (arch) {
    case 'x64':
    case 'x86_64':
    case 'amd64':
      return 'x86_64';
    case 'arm64':
    case 'aarch64':
      return 'arm64';
    case 'riscv64':
      return 'riscv64';
    default:
      return 'other';
  }
}
