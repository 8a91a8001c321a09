import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  EngineError,
  WorkerPool,
  assertValidTags,
  backup,
  type BackupOptions,
  type BackupResult,
  type Repository,
} from '@vaultline/engine';
import type { Context } from '../context';
import { CliError, EXIT_OK, EXIT_PARTIAL, usageError } from '../errors';
import { durationText, humanSize } from '../output';

export interface BackupCommandOptions {
  service?: string;
  plan?: string;
  tag?: string[];
  host?: string;
  arch?: string;
  exclude?: string[];
  excludeFile?: string[];
  filesFrom?: string[];
  oneFileSystem?: boolean;
  stdin?: boolean;
  stdinFilename?: string;
  parent?: string;
  dryRun?: boolean;
}

/** What the command line adds to the engine's options beyond a folder. */
type EngineBackupExtras = Pick<BackupOptions, 'dryRun' | 'oneFileSystem' | 'only' | 'stdin'>;

function readListFile(file: string, what: string): string[] {
  try {
    return readFileSync(file, 'utf8').split(/\r?\n/);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new CliError(
      `cannot read ${what} ${file}: ${code === 'ENOENT' ? 'no such file' : code}`,
      1,
      'UNREADABLE_FILE',
      { cause: err },
    );
  }
}

/**
 * `--files-from`: one path per line, relative to <dir> or absolute inside it; blank lines and
 * `#` comments are skipped. Returns the paths relative to <dir>, `/`-separated, without repeats.
 */
export function filesFromPaths(source: string, files: readonly string[], read = readListFile): string[] {
  const root = path.resolve(source);
  const out = new Set<string>();
  for (const file of files) {
    for (const line of read(file, 'files-from file')) {
      if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
      const rel = path.relative(root, path.resolve(root, line));
      if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
        throw usageError(
          rel === ''
            ? `--files-from ${file}: ${JSON.stringify(line)} is <dir> itself (leave --files-from out to back up all of it)`
            : `--files-from ${file}: ${JSON.stringify(line)} is outside ${source}`,
        );
      }
      out.add(rel.split(path.sep).join('/'));
    }
  }
  if (out.size === 0) throw usageError(`--files-from: no paths listed in ${files.join(', ')}`);
  return [...out];
}

function checkStdinName(name: string): string {
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw usageError(`--stdin-filename: ${JSON.stringify(name)} must be a plain file name (no '/')`);
  }
  return name;
}

/** The engine options for the command line, checked before the repository is opened. */
export function backupExtras(
  dir: string | undefined,
  opts: BackupCommandOptions,
  stdin: NodeJS.ReadableStream = process.stdin,
): { source: string; extras: EngineBackupExtras } {
  const extras: EngineBackupExtras = {};
  if (opts.dryRun) extras.dryRun = true;
  if (opts.stdin) {
    if (dir !== undefined) throw usageError('--stdin backs up stdin: give no <dir>');
    for (const [set, flag] of [
      [opts.filesFrom?.length, '--files-from'],
      [opts.exclude?.length || opts.excludeFile?.length, '--exclude/--exclude-file'],
      [opts.oneFileSystem, '--one-file-system'],
    ] as const) {
      if (set) throw usageError(`${flag} cannot be used with --stdin`);
    }
    extras.stdin = { stream: stdin, name: checkStdinName(opts.stdinFilename ?? 'stdin') };
    // Not read with stdin: the engine names the source `stdin:<name>` (the parent is chosen by it).
    return { source: '-', extras };
  }
  if (opts.stdinFilename !== undefined) throw usageError('--stdin-filename needs --stdin');
  if (dir === undefined) throw usageError("missing required argument 'dir'");
  if (opts.oneFileSystem) extras.oneFileSystem = true;
  if (opts.filesFrom?.length) extras.only = filesFromPaths(dir, opts.filesFrom);
  return { source: dir, extras };
}

export async function backupCommand(
  ctx: Context,
  dir: string | undefined,
  opts: BackupCommandOptions,
): Promise<number> {
  // Checked before the repository is opened (and a password asked for), naming the option.
  try {
    assertValidTags(opts.tag ?? []);
  } catch (err) {
    throw err instanceof EngineError ? usageError(`--tag: ${err.message}`) : err;
  }
  const { source, extras } = backupExtras(dir, opts);
  const excludes = [...(opts.exclude ?? [])];
  for (const f of opts.excludeFile ?? []) excludes.push(...readListFile(f, 'exclude file'));
  // Started before the repository is opened: the workers boot (~0.25 s each, loading Node's
  // internals and the engine) while the password's key derivation runs on libuv's pool.
  const pool = new WorkerPool();
  try {
    return await runBackup(ctx, await ctx.openRepo(), pool, source, excludes, extras, opts);
  } finally {
    await pool.close();
  }
}

async function runBackup(
  ctx: Context,
  repo: Repository,
  pool: WorkerPool,
  source: string,
  excludes: string[],
  extras: EngineBackupExtras,
  opts: BackupCommandOptions,
): Promise<number> {
  const options: BackupOptions = {
    source,
    excludes,
    tags: opts.tag ?? [],
    signal: ctx.signal,
    pool,
    lockTiming: ctx.lockTiming,
  };
  if (opts.service !== undefined) options.service = opts.service;
  if (opts.plan !== undefined) options.plan = opts.plan;
  if (opts.host !== undefined) options.host = opts.host;
  if (opts.arch !== undefined) options.arch = opts.arch;
  if (opts.parent !== undefined) options.parent = opts.parent;
  const onProgress = ctx.out.progress('backup');
  if (onProgress) options.onProgress = onProgress;
  let result: BackupResult;
  try {
    result = await backup(repo, { ...options, ...extras });
  } finally {
    ctx.out.clearProgress();
  }
  const { snapshot, errors } = result;
  const s = snapshot.stats;
  const dryRun = result.dryRun;
  ctx.out.emitJson({
    ...(dryRun ? { dryRun: true } : {}),
    id: snapshot.id,
    shortId: snapshot.id.slice(0, 8),
    snapshot,
    unreadable: errors,
  });
  for (const e of errors) ctx.out.warn(`${e.path}: ${e.error}`);
  ctx.out.info(
    dryRun
      ? 'dry run: nothing was written; the backup would add'
      : `snapshot ${snapshot.id.slice(0, 8)} saved`,
  );
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
    // Exit 3, as restic: the snapshot exists but is incomplete.
    return EXIT_PARTIAL;
  }
  return EXIT_OK;
}
