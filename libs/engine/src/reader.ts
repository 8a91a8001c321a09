/** Reading blobs back: locate in the index, fetch from the pack, decrypt, decompress, verify. */
import { BlobType, openBlob } from './blob';
import type { BlobIndex, BlobLocation } from './blob-index';
import { corrupt } from './errors';
import { packName } from './pack';
import type { Repository } from './repository';
import { decodeTree, type Tree, type TreeNode } from './tree';

export function locate(index: BlobIndex, idHex: string, what: string): BlobLocation {
  const loc = index.get(Buffer.from(idHex, 'hex'));
  if (!loc) throw corrupt(`${what} references blob ${idHex}, which is in no index (missing data)`);
  return loc;
}

export function ephOf(index: BlobIndex, pack: string): string {
  const p = index.pack(pack);
  if (!p) throw corrupt(`pack ${pack} is not indexed`);
  return p.eph;
}

/** Reads one blob on this thread (trees and other small blobs). */
export async function readBlob(
  repo: Repository,
  index: BlobIndex,
  idHex: string,
  type: BlobType,
  what: string,
): Promise<Buffer> {
  const loc = locate(index, idHex, what);
  if (loc.type !== type) throw corrupt(`blob ${idHex} has the wrong type`);
  const sealed = await repo.backend.get(packName(loc.pack), { offset: loc.offset, length: loc.length });
  return openBlob(
    repo.readKey(ephOf(index, loc.pack)),
    repo.keys.idKey,
    type,
    Buffer.from(idHex, 'hex'),
    sealed,
    loc.rawLength,
  );
}

/**
 * A file node's content, chunk by chunk, each verified; fails (corrupt) when the chunks do not add
 * up to the size the tree records, so a consumer that announced the size never sends a wrong file.
 */
export async function* readFileContent(
  repo: Repository,
  index: BlobIndex,
  node: TreeNode,
): AsyncGenerator<Buffer, void, undefined> {
  let total = 0;
  for (const id of node.content ?? []) {
    const chunk = await readBlob(repo, index, id, BlobType.Data, `file ${node.name}`);
    total += chunk.length;
    yield chunk;
  }
  if (total !== (node.size ?? 0)) {
    throw corrupt(`file ${node.name}: its chunks hold ${total} bytes, the tree says ${node.size ?? 0}`);
  }
}

export async function readTree(repo: Repository, index: BlobIndex, idHex: string): Promise<Tree> {
  return decodeTree(await readBlob(repo, index, idHex, BlobType.Tree, `tree ${idHex}`), `tree ${idHex}`);
}

/**
 * Adds to `into` every blob reachable from the given root trees: the trees themselves and the
 * content of every file below them. Trees in `visited` are not walked again (share it between
 * calls to walk many snapshots once).
 */
export async function collectRefs(
  repo: Repository,
  index: BlobIndex,
  roots: readonly string[],
  into: Set<string>,
  visited = new Set<string>(),
): Promise<void> {
  const stack = [...roots];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (visited.has(id)) continue;
    visited.add(id);
    into.add(id);
    for (const n of (await readTree(repo, index, id)).nodes) {
      if (n.type === 'dir') stack.push(n.subtree!);
      else if (n.type === 'file') for (const c of n.content!) into.add(c);
    }
  }
}
