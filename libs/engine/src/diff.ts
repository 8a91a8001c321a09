/**
 * `diff`: what changed between two snapshots, with restic's markers:
 *   +  added      -  removed     M  content changed (a file's chunks, a symlink's target)
 *   T  type changed (e.g. file → folder)   U  metadata only (mode, mtime, owner)
 * Folders whose tree ids are equal are identical and skipped without being read. Everything
 * below an added or removed folder is listed. The summary also counts the blobs only one side
 * references (what forgetting `a` could free, what `b` added).
 */
import { BlobType } from './blob';
import type { BlobIndex } from './blob-index';
import { collectRefs, readTree } from './reader';
import type { Repository } from './repository';
import type { NodeType, TreeNode } from './tree';

export type ChangeKind = '+' | '-' | 'M' | 'T' | 'U';

export interface DiffChange {
  kind: ChangeKind;
  /** Absolute path in the snapshot; folders end with `/`. */
  path: string;
  type: NodeType;
  /** For `T`: the type in the first snapshot. */
  fromType?: NodeType;
}

export interface AddedRemoved {
  added: number;
  removed: number;
}

export interface DiffSummary {
  files: AddedRemoved & { changed: number };
  dirs: AddedRemoved;
  /** Symlinks. */
  others: AddedRemoved;
  /** Entries whose type changed, and whose metadata alone changed. */
  typeChanged: number;
  metadataChanged: number;
  dataBlobs: AddedRemoved;
  treeBlobs: AddedRemoved;
  /** Stored bytes of the blobs only `b` (added) or only `a` (removed) references. */
  bytesAdded: number;
  bytesRemoved: number;
}

export interface DiffResult {
  changes: DiffChange[];
  summary: DiffSummary;
}

function sameMetadata(a: TreeNode, b: TreeNode): boolean {
  return a.mode === b.mode && a.mtime === b.mtime && a.uid === b.uid && a.gid === b.gid;
}

function sameContent(a: TreeNode, b: TreeNode): boolean {
  if (a.type === 'file') {
    const ac = a.content ?? [];
    const bc = b.content ?? [];
    return a.size === b.size && ac.length === bc.length && ac.every((c, i) => c === bc[i]);
  }
  if (a.type === 'symlink') return a.target === b.target;
  return true;
}

const shown = (path: string, type: NodeType): string => (type === 'dir' ? `${path}/` : path);

/** Compares two trees by id. */
export async function diffTrees(
  repo: Repository,
  index: BlobIndex,
  a: string,
  b: string,
): Promise<DiffResult> {
  const changes: DiffChange[] = [];
  const summary: DiffSummary = {
    files: { added: 0, removed: 0, changed: 0 },
    dirs: { added: 0, removed: 0 },
    others: { added: 0, removed: 0 },
    typeChanged: 0,
    metadataChanged: 0,
    dataBlobs: { added: 0, removed: 0 },
    treeBlobs: { added: 0, removed: 0 },
    bytesAdded: 0,
    bytesRemoved: 0,
  };
  const count = (node: TreeNode, side: 'added' | 'removed'): void => {
    const bucket = node.type === 'file' ? summary.files : node.type === 'dir' ? summary.dirs : summary.others;
    bucket[side]++;
  };
  /** Lists `node` and (for a folder) everything below it as added or removed. */
  const whole = async (node: TreeNode, path: string, kind: '+' | '-'): Promise<void> => {
    changes.push({ kind, path: shown(path, node.type), type: node.type });
    count(node, kind === '+' ? 'added' : 'removed');
    if (node.type === 'dir' && node.subtree) {
      for (const child of (await readTree(repo, index, node.subtree)).nodes) {
        await whole(child, `${path}/${child.name}`, kind);
      }
    }
  };
  const walk = async (aTree: string, bTree: string, dir: string): Promise<void> => {
    if (aTree === bTree) return;
    const [an, bn] = await Promise.all([readTree(repo, index, aTree), readTree(repo, index, bTree)]);
    const left = new Map(an.nodes.map((n) => [n.name, n]));
    const right = new Map(bn.nodes.map((n) => [n.name, n]));
    const names = [...new Set([...left.keys(), ...right.keys()])].sort((x, y) =>
      x < y ? -1 : x > y ? 1 : 0,
    );
    for (const name of names) {
      const path = `${dir}/${name}`;
      const l = left.get(name);
      const r = right.get(name);
      if (!l) await whole(r!, path, '+');
      else if (!r) await whole(l, path, '-');
      else if (l.type !== r.type) {
        changes.push({ kind: 'T', path: shown(path, r.type), type: r.type, fromType: l.type });
        summary.typeChanged++;
        // What was below a folder is gone, what is below the new one is new.
        if (l.type === 'dir' && l.subtree) {
          for (const c of (await readTree(repo, index, l.subtree)).nodes)
            await whole(c, `${path}/${c.name}`, '-');
        }
        if (r.type === 'dir' && r.subtree) {
          for (const c of (await readTree(repo, index, r.subtree)).nodes)
            await whole(c, `${path}/${c.name}`, '+');
        }
      } else if (!sameContent(l, r)) {
        changes.push({ kind: 'M', path: shown(path, r.type), type: r.type });
        if (r.type === 'file') summary.files.changed++;
      } else if (!sameMetadata(l, r)) {
        changes.push({ kind: 'U', path: shown(path, r.type), type: r.type });
        summary.metadataChanged++;
      }
      if (l && r && l.type === 'dir' && r.type === 'dir') await walk(l.subtree!, r.subtree!, path);
    }
  };
  await walk(a, b, '');

  const aRefs = new Set<string>();
  const bRefs = new Set<string>();
  await collectRefs(repo, index, [a], aRefs);
  await collectRefs(repo, index, [b], bRefs);
  const tally = (from: Set<string>, other: Set<string>, side: 'added' | 'removed'): number => {
    let bytes = 0;
    for (const id of from) {
      if (other.has(id)) continue;
      const loc = index.get(Buffer.from(id, 'hex'));
      if (!loc) continue;
      (loc.type === BlobType.Tree ? summary.treeBlobs : summary.dataBlobs)[side]++;
      bytes += loc.length;
    }
    return bytes;
  };
  summary.bytesAdded = tally(bRefs, aRefs, 'added');
  summary.bytesRemoved = tally(aRefs, bRefs, 'removed');
  return { changes, summary };
}

/** Compares two snapshots (ids as resolved by the caller). */
export async function diffSnapshots(repo: Repository, a: string, b: string): Promise<DiffResult> {
  const { index } = await repo.loadIndex();
  const [ta, tb] = await Promise.all([repo.readSnapshotBody(a), repo.readSnapshotBody(b)]);
  return diffTrees(repo, index, ta.body.tree, tb.body.tree);
}
