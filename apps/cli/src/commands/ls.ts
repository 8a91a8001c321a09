import { readTree, type BlobIndex, type Repository, type TreeNode } from '@vaultline/engine';
import type { Context } from '../context';
import { CliError, usageError } from '../errors';
import { humanSize, isoFromNs, modeString, table } from '../output';

export interface LsCommandOptions {
  recursive?: boolean;
  service?: string;
  plan?: string;
}

interface Entry {
  path: string;
  node: TreeNode;
}

function splitPath(p: string): string[] {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) throw usageError(`invalid path ${JSON.stringify(p)}: '..' is not allowed`);
  return parts;
}

function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

export async function lsCommand(
  ctx: Context,
  ref: string,
  inPath: string | undefined,
  opts: LsCommandOptions,
): Promise<number> {
  const parts = splitPath(inPath ?? '/');
  const repo = await ctx.openRepo();
  const info = await repo.resolveSnapshot(ref, { service: opts.service, plan: opts.plan });
  const { body } = await repo.readSnapshotBody(info.id);
  const { index } = await repo.loadIndex();

  // Walk down to the requested node.
  let node: TreeNode = body.root;
  let at = '/';
  for (const name of parts) {
    if (node.type !== 'dir' || !node.subtree) {
      throw new CliError(`${at} is not a directory in snapshot ${info.id.slice(0, 8)}`, 1, 'NOT_FOUND');
    }
    const child: TreeNode | undefined = (await readTree(repo, index, node.subtree)).nodes.find(
      (n) => n.name === name,
    );
    at = joinPath(at, name);
    if (!child) throw new CliError(`no ${at} in snapshot ${info.id.slice(0, 8)}`, 1, 'NOT_FOUND');
    node = child;
  }

  const entries: Entry[] = [];
  if (node.type === 'dir' && node.subtree) {
    await collect(repo, index, node.subtree, at, opts.recursive === true, entries);
  } else {
    entries.push({ path: at, node });
  }

  ctx.out.emitJson(
    entries.map(({ path, node: n }) => ({
      path,
      type: n.type,
      mode: n.mode,
      permissions: modeString(n.type, n.mode),
      size: n.type === 'file' ? (n.size ?? 0) : 0,
      mtime: isoFromNs(n.mtime),
      uid: n.uid,
      gid: n.gid,
      ...(n.type === 'symlink' ? { target: n.target ?? '' } : {}),
    })),
  );
  if (ctx.out.json) return 0;
  const base = at === '/' ? '/' : `${at}/`;
  const rows = entries.map(({ path, node: n }) => {
    const name =
      opts.recursive && path.startsWith(base) ? path.slice(base.length) : n.name === '.' ? path : n.name;
    const shown =
      n.type === 'symlink' ? `${name} -> ${n.target ?? ''}` : n.type === 'dir' ? `${name}/` : name;
    return [
      modeString(n.type, n.mode),
      n.type === 'file' ? humanSize(n.size ?? 0) : '-',
      isoFromNs(n.mtime),
      shown,
    ];
  });
  if (rows.length === 0) {
    ctx.out.info('(empty directory)');
    return 0;
  }
  // No header: the columns speak for themselves, like ls -l.
  for (const line of table(['', '', '', ''], rows, ['left', 'right', 'left', 'left']).slice(1))
    ctx.out.print(line);
  return 0;
}

async function collect(
  repo: Repository,
  index: BlobIndex,
  treeId: string,
  dirPath: string,
  recursive: boolean,
  out: Entry[],
): Promise<void> {
  const tree = await readTree(repo, index, treeId);
  for (const n of tree.nodes) {
    const path = joinPath(dirPath, n.name);
    out.push({ path, node: n });
    if (recursive && n.type === 'dir' && n.subtree) await collect(repo, index, n.subtree, path, true, out);
  }
}
