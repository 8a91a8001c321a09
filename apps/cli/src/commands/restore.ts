import { resolve } from 'node:path';
import {
  RESTORE_WORKERS,
  WorkerPool,
  restore,
  type Repository,
  type RestoreOptions,
  type RestoreResult,
} from '@vaultline/engine';
import type { Context } from '../context';
import { humanSize } from '../output';

export interface RestoreCommandOptions {
  target: string;
  include?: string;
  verify?: boolean;
  service?: string;
  plan?: string;
}

export async function restoreCommand(
  ctx: Context,
  ref: string,
  opts: RestoreCommandOptions,
): Promise<number> {
  // Booting while the password's key derivation runs (as for backup).
  const pool = new WorkerPool(RESTORE_WORKERS);
  try {
    return await runRestore(ctx, await ctx.openRepo(), pool, ref, opts);
  } finally {
    await pool.close();
  }
}

async function runRestore(
  ctx: Context,
  repo: Repository,
  pool: WorkerPool,
  ref: string,
  opts: RestoreCommandOptions,
): Promise<number> {
  const options: RestoreOptions = {
    snapshot: ref,
    target: opts.target,
    verify: opts.verify === true,
    signal: ctx.signal,
    pool,
    lockTiming: ctx.lockTiming,
  };
  if (opts.include !== undefined) options.include = opts.include;
  if (opts.service !== undefined) options.service = opts.service;
  if (opts.plan !== undefined) options.plan = opts.plan;
  const onProgress = ctx.out.progress('restore');
  if (onProgress) options.onProgress = onProgress;
  let result: RestoreResult;
  try {
    result = await restore(repo, options);
  } finally {
    ctx.out.clearProgress();
  }
  const { snapshot, ...summary } = result;
  const target = resolve(opts.target);
  ctx.out.emitJson({
    id: snapshot.id,
    shortId: snapshot.id.slice(0, 8),
    target: opts.target,
    ...summary,
    snapshot,
  });
  // Metadata the target could not take: the data is restored, the user must know what is missing.
  for (const w of summary.warnings) ctx.out.warn(w);
  const extra = [
    summary.hardlinks ? `${summary.hardlinks} hard links` : '',
    summary.special ? `${summary.special} special files` : '',
  ].filter((x) => x !== '');
  ctx.out.info(
    `restored snapshot ${snapshot.id.slice(0, 8)} to ${target}: ${summary.files} files, ${summary.dirs} dirs, ` +
      `${summary.symlinks} symlinks${extra.length ? `, ${extra.join(', ')}` : ''}, ${humanSize(summary.bytes)}` +
      `${summary.verified ? ' (verified)' : ''}`,
  );
  return 0;
}
