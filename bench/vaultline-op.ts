/**
 * One Vaultline operation per process, so the benchmark sees this operation's own peak RSS:
 *
 *   VAULTLINE_PASSWORD=… node dist/bench/vaultline-op.js <init|backup|restore> <repo> <path>
 *
 * `path` is the source folder for `backup`, the (empty) target folder for `restore`, and unused for
 * `init`. Prints exactly one JSON line on stdout; exits 1 (still printing a JSON line) on failure.
 */
import { FsBackend } from '@vaultline/storage';
import { Repository, backup, restore } from '@vaultline/engine';

export interface OpErrorInfo {
  name: string;
  code: string | null;
  message: string;
  stack: string | null;
  cause: string | null;
}

export interface OpOutput {
  tool: 'vaultline';
  op: string;
  ok: boolean;
  /** Time spent in the engine call(s), including opening the repository (Argon2). */
  ms: number;
  /** process.resourceUsage().maxRSS: peak resident set of this process, in KiB. */
  maxRSSKiB: number;
  result?: Record<string, unknown>;
  error?: OpErrorInfo;
}

const SERVICE = 'bench';

function causeText(c: unknown): string {
  if (c instanceof Error) return `${c.name}: ${c.message}`;
  try {
    return JSON.stringify(c) ?? typeof c;
  } catch {
    return typeof c;
  }
}

function describeError(err: unknown): OpErrorInfo {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = err.cause === undefined ? undefined : causeText(err.cause);
    return {
      name: err.name,
      code: typeof code === 'string' ? code : null,
      message: err.message,
      stack: err.stack ?? null,
      cause: cause ?? null,
    };
  }
  return { name: 'non-Error', code: null, message: String(err), stack: null, cause: null };
}

async function run(op: string, repoDir: string, path: string | undefined, password: string) {
  switch (op) {
    case 'init': {
      const backend = await FsBackend.open(repoDir, { create: true });
      const repo = await Repository.init(backend, { password });
      return { repoId: repo.config.id, config: repo.config };
    }
    case 'backup': {
      if (!path) throw new Error('backup needs a source folder');
      const backend = await FsBackend.open(repoDir);
      const repo = await Repository.open(backend, { password });
      const r = await backup(repo, { source: path, service: SERVICE });
      return {
        snapshot: r.snapshot.id,
        parent: r.snapshot.parent,
        stats: r.snapshot.stats,
        errors: r.errors.length,
        firstErrors: r.errors.slice(0, 5),
      };
    }
    case 'restore': {
      if (!path) throw new Error('restore needs a target folder');
      const backend = await FsBackend.open(repoDir);
      const repo = await Repository.open(backend, { password });
      const r = await restore(repo, { snapshot: 'latest', target: path });
      return {
        snapshot: r.snapshot.id,
        files: r.files,
        dirs: r.dirs,
        symlinks: r.symlinks,
        bytes: r.bytes,
        verified: r.verified,
      };
    }
    default:
      throw new Error(`unknown operation ${JSON.stringify(op)} (want init, backup or restore)`);
  }
}

async function main(): Promise<void> {
  const [op = '', repoDir, path] = process.argv.slice(2);
  const password = process.env['VAULTLINE_PASSWORD'];
  const started = process.hrtime.bigint();
  const out: OpOutput = { tool: 'vaultline', op, ok: false, ms: 0, maxRSSKiB: 0 };
  try {
    if (!repoDir) throw new Error('usage: vaultline-op <init|backup|restore> <repo> [path]');
    if (!password) throw new Error('set VAULTLINE_PASSWORD');
    out.result = await run(op, repoDir, path, password);
    out.ok = true;
  } catch (err) {
    out.error = describeError(err);
    process.exitCode = 1;
  }
  out.ms = Number(process.hrtime.bigint() - started) / 1e6;
  out.maxRSSKiB = process.resourceUsage().maxRSS;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

void main();
