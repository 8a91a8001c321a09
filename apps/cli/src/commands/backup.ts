import { readFileSync } from 'node:fs';
import {
  EngineError,
  assertValidTags,
  backup,
  type BackupOptions,
  type BackupResult,
} from '@vaultline/engine';
import type { Context } from '../context';
import { CliError, usageError } from '../errors';
import { durationText, humanSize } from '../output';

export interface BackupCommandOptions {
  service?: string;
  plan?: string;
  tag?: string[];
  host?: string;
  arch?: string;
  exclude?: string[];
  excludeFile?: string[];
  parent?: string;
}

function readExcludeFile(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split(/\r?\n/);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new CliError(
      `cannot read exclude file ${file}: ${code === 'ENOENT' ? 'no such file' : code}`,
      1,
      'UNREADABLE_FILE',
      {
        cause: err,
      },
    );
  }
}

export async function backupCommand(
  ctx: Context,
  source: string,
  opts: BackupCommandOptions,
): Promise<number> {
  // Checked before the repository is opened (and a password asked for), naming the option.
  try {
    assertValidTags(opts.tag ?? []);
  } catch (err) {
    throw err instanceof EngineError ? usageError(`--tag: ${err.message}`) : err;
  }
  const excludes = [...(opts.exclude ?? [])];
  for (const f of opts.excludeFile ?? []) excludes.push(...readExcludeFile(f));
  const repo = await ctx.openRepo();
  const options: BackupOptions = { source, excludes, tags: opts.tag ?? [] };
  if (opts.service !== undefined) options.service = opts.service;
  if (opts.plan !== undefined) options.plan = opts.plan;
  if (opts.host !== undefined) options.host = opts.host;
  if (opts.arch !== undefined) options.arch = opts.arch;
  if (opts.parent !== undefined) options.parent = opts.parent;
  const onProgress = ctx.out.progress('backup');
  if (onProgress) options.onProgress = onProgress;
  let result: BackupResult;
  try {
    result = await backup(repo, options);
  } finally {
    ctx.out.clearProgress();
  }
  const { snapshot, errors } = result;
  const s = snapshot.stats;
  ctx.out.emitJson({ id: snapshot.id, shortId: snapshot.id.slice(0, 8), snapshot, unreadable: errors });
  for (const e of errors) ctx.out.warn(`${e.path}: ${e.error}`);
  ctx.out.info(`snapshot ${snapshot.id.slice(0, 8)} saved`);
  ctx.out.info(
    `  files: ${s.files} (${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnmodified} unmodified), dirs: ${s.dirs}`,
  );
  ctx.out.info(
    `  data:  ${humanSize(s.totalBytes)} in snapshot, ${humanSize(s.bytesRead)} read, ${humanSize(s.bytesAdded)} added`,
  );
  ctx.out.info(`  time:  ${durationText(s.durationMs)}`);
  if (errors.length > 0) {
    const line = `${errors.length} ${errors.length === 1 ? 'entry' : 'entries'} could not be read (recorded in the snapshot)`;
    if (ctx.out.quiet) ctx.out.warn(line);
    else ctx.out.info(`  warning: ${line}`);
  }
  return 0;
}
