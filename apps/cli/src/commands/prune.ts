import {
  prune,
  type LockTiming,
  type PruneOptions,
  type PruneResult,
  type Repository,
} from '@vaultline/engine';
import type { Context } from '../context';
import { humanSize } from '../output';

export interface PruneCommandOptions {
  dryRun?: boolean;
  repackThreshold?: number;
  safetyMargin?: number;
}

export async function runPrune(
  repo: Repository,
  opts: PruneCommandOptions,
  lockTiming: LockTiming,
): Promise<PruneResult> {
  const options: PruneOptions = { dryRun: opts.dryRun === true, lockTiming };
  if (opts.repackThreshold !== undefined) options.repackThreshold = opts.repackThreshold;
  if (opts.safetyMargin !== undefined) options.safetyMarginMs = opts.safetyMargin;
  return prune(repo, options);
}

export function describePrune(r: PruneResult, dryRun: boolean): string[] {
  const verb = dryRun ? 'would delete' : 'deleted';
  const lines = [
    `${dryRun ? 'prune (dry run)' : 'prune'}: ${verb} ${r.packsDeleted} unused pack(s) and ` +
      `${r.unindexedPacksDeleted} unindexed pack(s), ${dryRun ? 'would repack' : 'repacked'} ${r.packsRepacked}; ` +
      `${r.blobsRemoved} blob(s), ${humanSize(r.bytesFreed)} ${dryRun ? 'to free' : 'freed'}`,
    `  index files rewritten: ${r.indexFilesRewritten}, orphan manifests deleted: ${r.orphanManifestsDeleted}`,
  ];
  if (r.tempFilesDeleted > 0)
    lines.push(`  temporary files of interrupted backups deleted: ${r.tempFilesDeleted}`);
  if (r.packsNeedingPassword > 0) {
    lines.push(`  ${r.packsNeedingPassword} partly used pack(s) kept: repacking them needs the password`);
  }
  return lines;
}

export async function pruneCommand(ctx: Context, opts: PruneCommandOptions): Promise<number> {
  const repo = await ctx.openRepo();
  const result = await runPrune(repo, opts, ctx.lockTiming);
  ctx.out.emitJson({ dryRun: opts.dryRun === true, ...result });
  for (const line of describePrune(result, opts.dryRun === true)) ctx.out.info(line);
  return 0;
}
