/**
 * Reading single entries of a snapshot without restoring it: the worker feeds a database dump
 * stored by a backup's `streams` to its restore command this way, straight from the repository
 * to the command's standard input, nothing written to the worker's disk.
 */
import { BlobType } from './blob';
import type { BlobIndex } from './blob-index';
import { corrupt, EngineError } from './errors';
import { readBlob, readTree } from './reader';
import type { Repository } from './repository';
import { nodeNameBytes, type TreeNode } from './tree';

export interface SnapshotEntries {
  /** The snapshot's full id. */
  id: string;
  /** The node at `path` (`/`-separated, '' for the root), or null when there is none. */
  node: TreeNode | null;
  /** The entries of that folder (empty for a file or nothing). */
  children: TreeNode[];
  /** A file's content, chunk by chunk, each chunk verified; the total checked against its size. */
  read(file: TreeNode, what: string): AsyncGenerator<Buffer, void, undefined>;
}

/** Looks up `path` in snapshot `snapshot` (an id, prefix or 'latest'). Needs the password. */
export async function openSnapshotPath(
  repo: Repository,
  snapshot: string,
  path: string,
): Promise<SnapshotEntries> {
  repo.requirePrivateKey('read a snapshot');
  const info = await repo.resolveSnapshot(snapshot, {});
  const { body } = await repo.readSnapshotBody(info.id);
  const { index } = await repo.loadIndex();
  let node: TreeNode | null = body.root;
  for (const part of path.split('/').filter((p) => p !== '')) {
    if (node?.type !== 'dir') {
      node = null;
      break;
    }
    const tree = await readTree(repo, index, node.subtree!);
    const want = Buffer.from(part);
    node = tree.nodes.find((n) => nodeNameBytes(n).equals(want)) ?? null;
  }
  const children = node?.type === 'dir' ? (await readTree(repo, index, node.subtree!)).nodes : [];
  return { id: info.id, node, children, read: (file, what) => readContent(repo, index, file, what) };
}

async function* readContent(
  repo: Repository,
  index: BlobIndex,
  file: TreeNode,
  what: string,
): AsyncGenerator<Buffer, void, undefined> {
  if (file.type !== 'file') throw new EngineError('INVALID_ARGUMENT', `${what} is not a file`);
  let total = 0;
  for (const id of file.content ?? []) {
    const chunk = await readBlob(repo, index, id, BlobType.Data, what);
    total += chunk.length;
    yield chunk;
  }
  if (total !== (file.size ?? 0)) {
    throw corrupt(`${what}: its chunks hold ${total} bytes, the tree says ${file.size ?? 0}`);
  }
}
