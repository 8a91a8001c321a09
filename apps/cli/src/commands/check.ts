import { check, type CheckOptions } from '@vaultline/engine';
import type { Context } from '../context';
import { CliError, EXIT_FAILURE } from '../errors';

export interface CheckCommandOptions {
  /** `true` for a bare `--read-data` (100 %), else a percentage. */
  readData?: number | boolean;
}

export async function checkCommand(ctx: Context, opts: CheckCommandOptions): Promise<number> {
  const repo = await ctx.openRepo();
  const options: CheckOptions = { lockTiming: ctx.lockTiming };
  if (opts.readData === true) options.readData = 100;
  else if (typeof opts.readData === 'number') options.readData = opts.readData;
  const result = await check(repo, options);
  ctx.out.emitJson(result);
  for (const e of result.errors) ctx.out.print(`error: ${e}`);
  for (const w of result.warnings) ctx.out.print(`warning: ${w}`);
  const read =
    result.packsRead > 0
      ? `, ${result.packsRead} read (${result.contentsVerified ? 'contents verified' : 'hashes only: no password'})`
      : '';
  ctx.out.info(
    `checked ${result.snapshots} snapshots, ${result.packs} packs${read}, ${result.blobs} blobs, ${result.trees} trees`,
  );
  if (!result.ok) {
    const n = result.errors.length;
    // Exit 1, as restic's check. The one stderr line; the findings themselves are the report above (or in the JSON).
    throw new CliError(`check found ${n} error${n === 1 ? '' : 's'}`, EXIT_FAILURE, 'CHECK_FAILED');
  }
  ctx.out.info('no errors found');
  return 0;
}
