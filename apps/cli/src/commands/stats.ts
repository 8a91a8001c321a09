import { snapshotStats, type StatsMode } from '@vaultline/engine';
import type { Context } from '../context';
import { humanSize } from '../output';

export interface StatsCommandOptions {
  mode?: StatsMode;
  service?: string;
  plan?: string;
}

/** `stats [snapshot…]`: restore size (default) or unique raw data of the snapshots (default all). */
export async function statsCommand(ctx: Context, refs: string[], opts: StatsCommandOptions): Promise<number> {
  const repo = await ctx.openRepo();
  const filter = { service: opts.service, plan: opts.plan };
  const ids =
    refs.length > 0
      ? [...new Set(await Promise.all(refs.map(async (r) => (await repo.resolveSnapshot(r, filter)).id)))]
      : (await repo.listSnapshots())
          .filter(
            (s) => (!opts.service || s.service === opts.service) && (!opts.plan || s.plan === opts.plan),
          )
          .map((s) => s.id);
  const stats = await snapshotStats(repo, ids, opts.mode ?? 'restore-size');
  ctx.out.emitJson(stats);
  ctx.out.print(`stats in ${stats.mode} mode:`);
  ctx.out.print(`  snapshots:   ${stats.snapshots}`);
  if (stats.mode === 'restore-size') {
    ctx.out.print(`  files:       ${stats.files}`);
    ctx.out.print(`  folders:     ${stats.dirs}`);
    ctx.out.print(`  symlinks:    ${stats.symlinks}`);
    ctx.out.print(`  total size:  ${humanSize(stats.bytes)} (${stats.bytes} bytes)`);
  } else {
    ctx.out.print(`  blobs:       ${stats.blobs} (${stats.dataBlobs} data, ${stats.treeBlobs} trees)`);
    ctx.out.print(`  raw size:    ${humanSize(stats.bytes)} (${stats.bytes} bytes, uncompressed)`);
    const ratio =
      stats.storedBytes > 0 ? ` (${(stats.bytes / stats.storedBytes).toFixed(2)}× smaller than raw)` : '';
    ctx.out.print(`  stored size: ${humanSize(stats.storedBytes)} (${stats.storedBytes} bytes)${ratio}`);
  }
  return 0;
}
