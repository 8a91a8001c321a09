import { diffSnapshots } from '@vaultline/engine';
import type { Context } from '../context';
import { humanSize } from '../output';

export interface DiffCommandOptions {
  metadata?: boolean;
}

/** `diff <a> <b>`: one line per change (restic's markers), then a summary. */
export async function diffCommand(
  ctx: Context,
  refA: string,
  refB: string,
  opts: DiffCommandOptions,
): Promise<number> {
  const repo = await ctx.openRepo();
  const [a, b] = await Promise.all([repo.resolveSnapshot(refA), repo.resolveSnapshot(refB)]);
  const { changes, summary } = await diffSnapshots(repo, a.id, b.id);
  const listed = opts.metadata ? changes : changes.filter((c) => c.kind !== 'U');
  ctx.out.emitJson({ a: a.id, b: b.id, changes: listed, summary });
  ctx.out.info(`comparing snapshot ${a.id.slice(0, 8)} to ${b.id.slice(0, 8)}:`);
  ctx.out.info('');
  for (const c of listed) ctx.out.print(`${c.kind.padEnd(5)}${c.path}`);
  const s = summary;
  ctx.out.info('');
  ctx.out.info(`Files:      ${s.files.added} new, ${s.files.removed} removed, ${s.files.changed} changed`);
  ctx.out.info(`Dirs:       ${s.dirs.added} new, ${s.dirs.removed} removed`);
  ctx.out.info(`Others:     ${s.others.added} new, ${s.others.removed} removed`);
  ctx.out.info(`Type:       ${s.typeChanged} changed; metadata only: ${s.metadataChanged}`);
  ctx.out.info(`Data blobs: ${s.dataBlobs.added} new, ${s.dataBlobs.removed} removed`);
  ctx.out.info(`Tree blobs: ${s.treeBlobs.added} new, ${s.treeBlobs.removed} removed`);
  ctx.out.info(`  Added:   ${humanSize(s.bytesAdded)}`);
  ctx.out.info(`  Removed: ${humanSize(s.bytesRemoved)}`);
  return 0;
}
