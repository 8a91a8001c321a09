/**
 * A service's dump sources (services.dumps, contracts' dumpSourceSchema): commands whose standard
 * output the engine stores as one file of the snapshot (`streams`), and the commands a restore
 * feeds those files to. Both run without a shell, as the hook identity (HOOK_UID/HOOK_GID), with a
 * timeout, and stop with the job's signal. Nothing is spooled to the worker's disk: the dump is
 * chunked as it is read, and a restore streams the file from the repository to the command.
 */
import { spawn } from 'node:child_process';
import { constants, createWriteStream, lstatSync, mkdirSync, openSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { DUMP_FOLDER, dumpSourcesSchema, type DumpSource } from '@vaultline/contracts';
import { openSnapshotPath, type Repository } from '@vaultline/engine';

import { WorkerError } from './errors';
import type { HookIdentity } from './hooks';

const DEFAULT_TIMEOUT_MS = 3_600_000;
const STDERR_KEEP = 4096;

/** The row's dump sources; a malformed row is a permanent DUMP_FAILED (a retry would not fix it). */
export function parseDumps(value: unknown): DumpSource[] {
  if (value === null || value === undefined) return [];
  const r = dumpSourcesSchema.safeParse(value);
  if (!r.success) {
    throw new WorkerError(
      'DUMP_FAILED',
      `dump sources are not valid: ${r.error.issues[0]?.message ?? ''}`,
      'permanent',
    );
  }
  return r.data;
}

/** Where a source's file sits in the snapshot. */
export const dumpPath = (d: DumpSource): string => `${DUMP_FOLDER}/${d.name}`;

interface RunOptions {
  signal?: AbortSignal;
  identity?: HookIdentity | null;
}

/** Last part of a command's stderr for the error message (one line, bounded). */
function tail(text: string): string {
  const line = text.trim().replace(/\s+/g, ' ');
  return line.length > 300 ? `…${line.slice(-300)}` : line;
}

/** Starts `argv` with its stdin/stdout as asked; resolves with why it failed, or null on exit 0. */
function start(argv: readonly string[], stdin: 'ignore' | 'pipe', ms: number, opts: RunOptions) {
  const [file, ...args] = argv as [string, ...string[]];
  const child = spawn(file, args, {
    stdio: [stdin, 'pipe', 'pipe'],
    ...(opts.signal ? { signal: opts.signal, killSignal: 'SIGKILL' as const } : {}),
    // libuv also drops the supplementary groups when it changes uid/gid (no root groups kept).
    ...(opts.identity ? { uid: opts.identity.uid, gid: opts.identity.gid } : {}),
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEEP);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, ms);
  const ended = new Promise<string | null>((resolve) => {
    child.once('error', (err) => resolve(`could not run ${file}: ${err.message}`));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const why = timedOut
        ? `timed out after ${ms} ms`
        : signal
          ? `was killed by ${signal}`
          : code !== 0
            ? `exited with code ${code}`
            : null;
      resolve(why && (stderr ? `${why}: ${tail(stderr)}` : why));
    });
  });
  return { child, ended };
}

/**
 * The dump's bytes as the command writes them. Throws DUMP_FAILED (transient: the database may be
 * back on the next attempt) when the command cannot start, exits non-zero, is killed or times out —
 * after its output ended, so the engine never stores a truncated dump as a success.
 */
export async function* dumpOutput(source: DumpSource, opts: RunOptions = {}): AsyncGenerator<Buffer> {
  const ms = source.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { child, ended } = start(source.argv, 'ignore', ms, opts);
  let finished = false;
  try {
    for await (const chunk of child.stdout!) yield chunk as Buffer;
    const why = await ended;
    finished = true;
    if (why)
      throw new WorkerError('DUMP_FAILED', `dump ${source.name}: ${source.argv[0]} ${why}`, 'transient');
  } finally {
    // The engine stopped reading (an error, a shutdown): the command must not outlive the job.
    if (!finished) child.kill('SIGKILL');
  }
}

/**
 * Runs the source's restore command with `content` as its standard input. Throws DUMP_RESTORE_FAILED
 * (permanent: a person should look at a database a restore command failed on).
 */
export async function runRestoreCommand(
  source: DumpSource & { restoreArgv: string[] },
  content: AsyncIterable<Buffer>,
  opts: RunOptions = {},
): Promise<void> {
  const ms = source.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { child, ended } = start(source.restoreArgv, 'pipe', ms, opts);
  child.stdout!.resume(); // its output is not kept
  const fail = (why: string, cause?: unknown): never => {
    throw new WorkerError(
      'DUMP_RESTORE_FAILED',
      `restore of dump ${source.name}: ${source.restoreArgv[0]} ${why}`,
      'permanent',
      { cause },
    );
  };
  // Should reading the file fail (a damaged pack), the command is killed before it sees the end of
  // its input: a database client must not apply a truncated dump as if it were whole.
  async function* guarded(): AsyncGenerator<Buffer> {
    try {
      yield* content;
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }
  // A command that exits early closes its stdin (EPIPE): its exit status says why.
  const fed = pipeline(Readable.from(guarded()), child.stdin!).catch((err: unknown) => err);
  const [why, feedError] = await Promise.all([ended, fed]);
  const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
  // EPIPE only means the command stopped reading: its exit status is the reason then.
  const epipe = (feedError as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
  if (feedError && !epipe) fail(`was stopped: the dump could not be read (${message(feedError)})`, feedError);
  if (why) fail(why);
  if (feedError) fail(`did not take its input: ${message(feedError)}`, feedError);
}

/**
 * After a restore of the data folder (which leaves DUMP_FOLDER out): each of the service's dump
 * sources gets its file back. Restoring into the service's own folder runs the source's restore
 * command with the file as its input (the database is put back); restoring elsewhere, or a source
 * without a restore command, writes the file to `<destination>/.vaultline-dumps/<name>` instead,
 * so nothing runs against a live database the user did not ask to overwrite. Returns warnings
 * (a source whose file this snapshot does not have).
 */
export async function restoreDumps(
  repo: Repository,
  snapshotId: string,
  sources: readonly DumpSource[],
  where: { destination: string; dataPath: string },
  opts: RunOptions = {},
): Promise<{ warnings: string[]; ran: number; written: number }> {
  const warnings: string[] = [];
  let ran = 0;
  let written = 0;
  const inPlace = posix.normalize(where.destination) === posix.normalize(where.dataPath);
  for (const source of sources) {
    const path = dumpPath(source);
    const entry = await openSnapshotPath(repo, snapshotId, path);
    if (entry.node?.type !== 'file') {
      warnings.push(
        `dump ${source.name}: not in snapshot ${snapshotId.slice(0, 8)} (added to the service later?)`,
      );
      continue;
    }
    const content = entry.read(entry.node, `dump ${source.name}`);
    if (inPlace && source.restoreArgv) {
      await runRestoreCommand({ ...source, restoreArgv: source.restoreArgv }, content, opts);
      ran++;
    } else {
      await writeInside(where.destination, path, content);
      written++;
    }
  }
  return { warnings, ran, written };
}

/**
 * Writes `rel` under `root` without following a symlink anywhere on the way: the destination's
 * content came from the snapshot (or was there), so `.vaultline-dumps` could be a link elsewhere.
 */
async function writeInside(root: string, rel: string, content: AsyncIterable<Buffer>): Promise<void> {
  const parts = rel.split('/');
  let dir = root;
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part);
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (!lstatSync(dir).isDirectory()) {
      throw new WorkerError(
        'UNSAFE_PATH',
        `${dir} is not a folder (a symlink?): dump not written`,
        'permanent',
      );
    }
  }
  const file = join(dir, parts[parts.length - 1]!);
  const fd = openSync(
    file,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o600,
  );
  await pipeline(Readable.from(content), createWriteStream('', { fd }));
}
