/**
 * Tree blob: one directory's entries, sorted by name bytes, as JSON. Stored like any blob
 * (compressed, encrypted, id = keyed hash), so identical directories are stored once.
 *
 * Format 2 (see docs/repository-format.md) keeps every field of format 1 and adds what a restore
 * needs to put back exactly what was there: names that are not valid UTF-8 (`nameRaw`), special
 * files, hard links, sparse files and extended attributes. A format-1 tree is a valid format-2
 * tree, so old snapshots restore unchanged.
 */
import { isUtf8 } from 'node:buffer';
import { EngineError, corrupt } from './errors';

export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';

const NODE_TYPES: ReadonlySet<string> = new Set<NodeType>([
  'file',
  'dir',
  'symlink',
  'fifo',
  'chardev',
  'blockdev',
  'socket',
]);

export interface TreeNode {
  /**
   * The entry's name. When the name's bytes are not valid UTF-8 this is a lossy rendering for
   * display only and `nameRaw` holds the bytes; use `nodeNameBytes` to get the real name.
   */
  name: string;
  /** base64 of the name's bytes, present only when they are not valid UTF-8. */
  nameRaw?: string;
  type: NodeType;
  /** Permission bits (including setuid, setgid and sticky). */
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
  /** Target of a symlink (a lossy rendering when `targetRaw` is present). */
  target?: string;
  /** base64 of a symlink target's bytes, present only when they are not valid UTF-8. */
  targetRaw?: string;
  /** Device number (decimal string) of a character or block device. */
  rdev?: string;
  /**
   * Files with more than one link: the same value on every node of the snapshot that is the same
   * inode (`<device>:<inode>` of the source). Restore makes them hard links of one file.
   */
  hardlink?: string;
  /** The file had holes: restore leaves runs of zero blocks unwritten. */
  sparse?: boolean;
  /** Extended attributes (including POSIX ACLs and capabilities): [name, value], both base64. */
  xattrs?: [string, string][];
}

export interface Tree {
  nodes: TreeNode[];
}

export function encodeTree(tree: Tree): Buffer {
  return Buffer.from(JSON.stringify(tree));
}

/** `name` and, when the bytes are not UTF-8, `nameRaw` for a directory entry's bytes. */
export function nameFields(bytes: Buffer): { name: string; nameRaw?: string } {
  return isUtf8(bytes)
    ? { name: bytes.toString('utf8') }
    : { name: bytes.toString('utf8'), nameRaw: bytes.toString('base64') };
}

export function nodeNameBytes(node: TreeNode): Buffer {
  return node.nameRaw !== undefined ? Buffer.from(node.nameRaw, 'base64') : Buffer.from(node.name, 'utf8');
}

export function symlinkTargetBytes(node: TreeNode): Buffer {
  return node.targetRaw !== undefined
    ? Buffer.from(node.targetRaw, 'base64')
    : Buffer.from(node.target ?? '', 'utf8');
}

function printable(bytes: Buffer): string {
  return JSON.stringify(bytes.toString('latin1'));
}

/**
 * A name a restore may create: one path segment, not `.`/`..`, no `/` and no NUL — anything else
 * Linux allows, including `\`, control characters and bytes that are not UTF-8. Trees come from
 * the repository, which an attacker may have written (with a stolen writer key), so every name is
 * checked before it touches the disk.
 */
export function assertSafeName(name: Buffer | string): void {
  const bytes = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
  const dotty = bytes.length <= 2 && bytes.every((b) => b === 0x2e);
  if (bytes.length === 0 || dotty || bytes.includes(0x2f) || bytes.includes(0)) {
    throw new EngineError('UNSAFE_PATH', `refusing unsafe file name in snapshot: ${printable(bytes)}`);
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
const DECIMAL = /^\d+$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function validNode(n: TreeNode): boolean {
  if (typeof n.name !== 'string' || !NODE_TYPES.has(n.type)) return false;
  if (!Number.isInteger(n.mode) || typeof n.mtime !== 'string' || !DECIMAL.test(n.mtime)) return false;
  if (n.nameRaw !== undefined && (typeof n.nameRaw !== 'string' || !BASE64.test(n.nameRaw))) return false;
  if (n.hardlink !== undefined && typeof n.hardlink !== 'string') return false;
  if (n.sparse !== undefined && typeof n.sparse !== 'boolean') return false;
  if (
    n.xattrs !== undefined &&
    !(
      Array.isArray(n.xattrs) &&
      n.xattrs.every(
        (x) =>
          Array.isArray(x) &&
          x.length === 2 &&
          typeof x[0] === 'string' &&
          typeof x[1] === 'string' &&
          BASE64.test(x[0]) &&
          BASE64.test(x[1]),
      )
    )
  )
    return false;
  switch (n.type) {
    case 'file':
      return Array.isArray(n.content) && n.content.every((c) => typeof c === 'string' && HEX64.test(c));
    case 'dir':
      return typeof n.subtree === 'string' && HEX64.test(n.subtree);
    case 'symlink':
      return (
        typeof n.target === 'string' &&
        (n.targetRaw === undefined || (typeof n.targetRaw === 'string' && BASE64.test(n.targetRaw)))
      );
    case 'chardev':
    case 'blockdev':
      return typeof n.rdev === 'string' && DECIMAL.test(n.rdev);
    default:
      return true;
  }
}

export function decodeTree(bytes: Buffer, what: string): Tree {
  let tree: Tree;
  try {
    tree = JSON.parse(bytes.toString('utf8')) as Tree;
  } catch (err) {
    throw corrupt(`${what} is not valid`, err);
  }
  if (!tree || !Array.isArray(tree.nodes)) throw corrupt(`${what} is not a tree`);
  // Names are unique: a forged tree listing a directory and then a symlink of the same name
  // would otherwise redirect the writes meant for that directory's files.
  const seen = new Set<string>();
  for (const n of tree.nodes) {
    if (!n || typeof n !== 'object' || !validNode(n)) throw corrupt(`${what} has a malformed entry`);
    const name = nodeNameBytes(n);
    assertSafeName(name);
    const key = name.toString('latin1');
    if (seen.has(key)) throw corrupt(`${what} lists ${JSON.stringify(n.name)} twice`);
    seen.add(key);
  }
  return tree;
}
