/**
 * Tree blob: one directory's entries, sorted by name, as JSON. Stored like any blob (compressed,
 * encrypted, id = keyed hash), so identical directories are stored once.
 */
import { EngineError, corrupt } from './errors';

export type NodeType = 'file' | 'dir' | 'symlink';

export interface TreeNode {
  name: string;
  type: NodeType;
  mode: number;
  /** Modification time in nanoseconds since the epoch, as a decimal string (exceeds 2^53). */
  mtime: string;
  uid: number;
  gid: number;
  size?: number;
  /** Chunk ids (hex) of a file's content, in order. */
  content?: string[];
  /** Tree id (hex) of a directory. */
  subtree?: string;
  /** Target of a symlink. */
  target?: string;
}

export interface Tree {
  nodes: TreeNode[];
}

export function encodeTree(tree: Tree): Buffer {
  return Buffer.from(JSON.stringify(tree));
}

/**
 * A name a restore may create: one path segment, not `.`/`..`, no separator and no NUL. Trees come
 * from the repository, which an attacker may have written (with a stolen writer key), so every
 * name is checked before it touches the disk.
 */
export function assertSafeName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new EngineError('UNSAFE_PATH', `refusing unsafe file name in snapshot: ${JSON.stringify(name)}`);
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

export function decodeTree(bytes: Buffer, what: string): Tree {
  let tree: Tree;
  try {
    tree = JSON.parse(bytes.toString('utf8')) as Tree;
  } catch (err) {
    throw corrupt(`${what} is not valid`, err);
  }
  if (!tree || !Array.isArray(tree.nodes)) throw corrupt(`${what} is not a tree`);
  for (const n of tree.nodes) {
    assertSafeName(n.name);
    const ok =
      (n.type === 'file' && Array.isArray(n.content) && n.content.every((c) => HEX64.test(c))) ||
      (n.type === 'dir' && typeof n.subtree === 'string' && HEX64.test(n.subtree)) ||
      (n.type === 'symlink' && typeof n.target === 'string');
    if (!ok || !Number.isInteger(n.mode) || !/^\d+$/.test(n.mtime))
      throw corrupt(`${what} has a malformed entry`);
  }
  return tree;
}
