import { compilePatterns, findInTree, type FindMatch } from '@vaultline/engine';
import type { Context } from '../context';
import { humanSize, isoFromNs, isoTime, table } from '../output';

export interface FindCommandOptions {
  snapshot?: string[];
  service?: string;
  plan?: string;
  ignoreCase?: boolean;
}

/** `find <pattern…>`: matching entries in every (chosen) snapshot, newest snapshot first. */
export async function findCommand(
  ctx: Context,
  patterns: string[],
  opts: FindCommandOptions,
): Promise<number> {
  const match = compilePatterns(patterns, opts.ignoreCase === true);
  const repo = await ctx.openRepo();
  const filter = { service: opts.service, plan: opts.plan };
  const snapshots = opts.snapshot?.length
    ? await Promise.all(opts.snapshot.map((r) => repo.resolveSnapshot(r, filter)))
    : (await repo.listSnapshots()).filter(
        (s) => (!opts.service || s.service === opts.service) && (!opts.plan || s.plan === opts.plan),
      );
  const { index } = await repo.loadIndex();
  const memo = new Map<string, Promise<FindMatch[]>>();
  const found: { snapshot: (typeof snapshots)[number]; matches: FindMatch[] }[] = [];
  for (const snapshot of snapshots) {
    const { body } = await repo.readSnapshotBody(snapshot.id);
    const matches = await findInTree(repo, index, body.tree, match, '/', memo);
    if (matches.length > 0) found.push({ snapshot, matches });
  }
  ctx.out.emitJson(
    found.flatMap(({ snapshot, matches }) =>
      matches.map(({ path, node }) => ({
        snapshot: snapshot.id,
        time: snapshot.time,
        path,
        type: node.type,
        size: node.type === 'file' ? (node.size ?? 0) : 0,
        mtime: isoFromNs(node.mtime),
      })),
    ),
  );
  const rows = found.flatMap(({ snapshot, matches }) =>
    matches.map(({ path, node }) => [
      snapshot.id.slice(0, 8),
      node.type === 'dir' ? `${path}/` : path,
      node.type === 'file' ? humanSize(node.size ?? 0) : '-',
      isoFromNs(node.mtime),
    ]),
  );
  if (rows.length > 0) {
    for (const line of table(['SNAPSHOT', 'PATH', 'SIZE', 'MTIME'], rows, [
      'left',
      'left',
      'right',
      'left',
    ])) {
      ctx.out.print(line);
    }
  }
  const n = rows.length;
  ctx.out.info(
    `${n} match${n === 1 ? '' : 'es'} in ${found.length} of ${snapshots.length} snapshot${snapshots.length === 1 ? '' : 's'}` +
      (found.length > 0 ? ` (newest: ${isoTime(found[0]!.snapshot.time)})` : ''),
  );
  return 0;
}
