import {
  EngineError,
  forget,
  parseKeepWithin,
  type ForgetOptions,
  type GroupField,
  type PruneResult,
  type ForgetPolicy,
} from '@vaultline/engine';
import type { Context } from '../context';
import { usageError } from '../errors';
import { isoTime, table } from '../output';
import { describePrune, runPrune } from './prune';

export interface ForgetCommandOptions {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepTag?: string[];
  keepWithin?: string;
  groupBy?: GroupField[];
  service?: string;
  plan?: string;
  all?: boolean;
  dryRun?: boolean;
  prune?: boolean;
  repackThreshold?: number;
  safetyMargin?: number;
}

function policyOf(opts: ForgetCommandOptions): ForgetPolicy | undefined {
  const policy: ForgetPolicy = {};
  if (opts.keepLast !== undefined) policy.keepLast = opts.keepLast;
  if (opts.keepHourly !== undefined) policy.keepHourly = opts.keepHourly;
  if (opts.keepDaily !== undefined) policy.keepDaily = opts.keepDaily;
  if (opts.keepWeekly !== undefined) policy.keepWeekly = opts.keepWeekly;
  if (opts.keepMonthly !== undefined) policy.keepMonthly = opts.keepMonthly;
  if (opts.keepYearly !== undefined) policy.keepYearly = opts.keepYearly;
  if (opts.keepTag?.length) policy.keepTags = opts.keepTag;
  if (opts.keepWithin !== undefined) policy.keepWithin = opts.keepWithin;
  return Object.keys(policy).length > 0 ? policy : undefined;
}

export async function forgetCommand(
  ctx: Context,
  ids: string[],
  opts: ForgetCommandOptions,
): Promise<number> {
  const policy = policyOf(opts);
  const modes = [policy !== undefined, ids.length > 0, opts.all === true].filter(Boolean).length;
  if (modes !== 1) {
    throw usageError('forget needs exactly one of: --keep-* options, snapshot ids, or --all');
  }
  if (opts.all && opts.service === undefined && opts.plan === undefined) {
    throw usageError('forget --all needs --service or --plan (it will not empty the whole repository)');
  }
  if (policy) {
    let within;
    try {
      within = policy.keepWithin !== undefined ? parseKeepWithin(policy.keepWithin) : undefined;
    } catch (err) {
      throw err instanceof EngineError ? usageError(`--keep-within: ${err.message}`) : err;
    }
    const keepsSomething =
      Object.values(policy).some((v) => typeof v === 'number' && v > 0) ||
      (policy.keepTags?.length ?? 0) > 0 ||
      (within !== undefined && Object.values(within).some((v) => v > 0));
    if (!keepsSomething)
      throw usageError('a retention policy must keep something (refusing to forget every snapshot)');
  }
  const repo = await ctx.openRepo();
  const options: ForgetOptions = { dryRun: opts.dryRun === true, lockTiming: ctx.lockTiming };
  if (policy) options.policy = policy;
  if (ids.length) options.ids = ids;
  if (opts.all) options.all = true;
  if (opts.service !== undefined) options.service = opts.service;
  if (opts.plan !== undefined) options.plan = opts.plan;
  if (opts.groupBy !== undefined) options.groupBy = opts.groupBy;
  const decisions = await forget(repo, options);
  const removed = decisions.filter((d) => !d.keep);
  let pruned: PruneResult | undefined;
  if (opts.prune) pruned = await runPrune(repo, opts, ctx.lockTiming);

  ctx.out.emitJson({
    dryRun: opts.dryRun === true,
    kept: decisions
      .filter((d) => d.keep)
      .map((d) => ({ id: d.snapshot.id, reasons: d.reasons, snapshot: d.snapshot })),
    removed: removed.map((d) => ({ id: d.snapshot.id, snapshot: d.snapshot })),
    ...(pruned ? { prune: pruned } : {}),
  });
  if (decisions.length > 0) {
    const rows = decisions.map((d) => [
      d.keep ? 'keep' : opts.dryRun ? 'would remove' : 'remove',
      d.snapshot.id.slice(0, 8),
      isoTime(d.snapshot.time),
      d.snapshot.service ?? '-',
      d.snapshot.plan ?? '-',
      d.snapshot.tags.join(',') || '-',
      d.keep ? d.reasons.join(', ') : '',
    ]);
    for (const line of table(['ACTION', 'ID', 'TIME', 'SERVICE', 'PLAN', 'TAGS', 'REASONS'], rows))
      ctx.out.info(line);
  }
  ctx.out.info(
    `${decisions.length - removed.length} kept, ${removed.length} ${opts.dryRun ? 'would be removed (dry run)' : 'removed'}`,
  );
  if (pruned) for (const line of describePrune(pruned, opts.dryRun === true)) ctx.out.info(line);
  return 0;
}
