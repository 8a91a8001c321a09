/**
 * The backup tools under comparison, each driven as child processes with the same operations:
 * init, backup (of the same source folder), restore of the latest snapshot into an empty folder.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runMeasured, type RssMethod, type RunResult } from './measure';

export interface OpResult {
  wallMs: number;
  /** Peak RSS of the process, measured from outside (GNU time or /proc polling), KiB. */
  peakRssKiB: number | null;
  /** How peakRssKiB was obtained. */
  rssSource: string;
  /** The tool's own account of the operation (parsed JSON summary). */
  details: unknown;
}

/** A tool's operation failed: carries everything needed to report it precisely. */
export class ToolFailure extends Error {
  constructor(
    readonly tool: string,
    readonly op: string,
    readonly run: RunResult,
    readonly detail: unknown,
  ) {
    super(`${tool} ${op} failed (exit ${run.code ?? `signal ${run.signal}`})`);
  }

  report(): string {
    const lines = [this.message, `  command: ${this.run.command}`];
    if (this.detail !== undefined)
      lines.push(`  error: ${JSON.stringify(this.detail, null, 2).replace(/\n/g, '\n  ')}`);
    const tail = (s: string): string => s.trim().split('\n').slice(-40).join('\n    ');
    if (this.run.stderr.trim()) lines.push(`  stderr (last lines):\n    ${tail(this.run.stderr)}`);
    if (this.detail === undefined && this.run.stdout.trim())
      lines.push(`  stdout (last lines):\n    ${tail(this.run.stdout)}`);
    return lines.join('\n');
  }
}

export interface Tool {
  readonly name: string;
  readonly repo: string;
  /** Compression and other settings worth stating next to the numbers. */
  readonly settings: string;
  init(): Promise<OpResult>;
  backup(source: string): Promise<OpResult>;
  restore(target: string): Promise<OpResult>;
  /** Where the backed-up folder's content lands below a restore target. */
  restoredRoot(target: string, source: string): string;
}

function lastJsonLine(text: string): unknown {
  const lines = text.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!.trim();
    if (!l.startsWith('{')) continue;
    try {
      return JSON.parse(l) as unknown;
    } catch {
      // not JSON after all
    }
  }
  return undefined;
}

function external(run: RunResult, rss: RssMethod): Pick<OpResult, 'wallMs' | 'peakRssKiB' | 'rssSource'> {
  return { wallMs: run.wallMs, peakRssKiB: run.peakRssKiB, rssSource: rss };
}

// ── Vaultline ───────────────────────────────────────────────────────────────────────────────────

/** The launcher the README's `npx vaultline …` runs (the CLI workspace's `bin`). */
const VAULTLINE_BIN = resolve(__dirname, '..', '..', 'node_modules', '.bin', 'vaultline');

/**
 * How the benchmark starts the `vaultline` command: the one place to change when the README's way
 * of running it changes. Default: `node_modules/.bin/vaultline`, the launcher the README puts on
 * PATH (it runs the project's Node 24 with the CLI's flags). `BENCH_VAULTLINE=<command>` runs
 * that command instead.
 */
export function vaultlineCommand(args: string[]): { cmd: string; args: string[] } {
  const override = process.env['BENCH_VAULTLINE'];
  if (override) return { cmd: override, args };
  return { cmd: VAULTLINE_BIN, args };
}

/** What `vaultline --json` prints on failure. */
interface CliError {
  error?: { code?: string; message?: string };
}

export class VaultlineTool implements Tool {
  readonly name = 'vaultline';
  readonly settings =
    'the `vaultline` command with default repository settings (zstd level 3, 1 MiB average chunks, 16 MiB packs, ' +
    'Argon2id 64 MiB/3 passes/4 lanes), `--password-file`, `--json --quiet`';

  constructor(
    readonly repo: string,
    private readonly passwordFile: string,
    private readonly rss: RssMethod,
  ) {}

  private async op(op: string, args: string[]): Promise<OpResult> {
    const { cmd, args: argv } = vaultlineCommand([
      '--repo',
      this.repo,
      '--password-file',
      this.passwordFile,
      '--json',
      '--quiet',
      ...args,
    ]);
    const env = { ...process.env };
    // The bench passes the password as a file, as the README recommends; nothing else may leak in.
    delete env['VAULTLINE_PASSWORD'];
    delete env['VAULTLINE_WRITER_KEY'];
    delete env['VAULTLINE_REPO'];
    const run = await runMeasured(cmd, argv, { rss: this.rss, env });
    const out = lastJsonLine(run.stdout) as (Record<string, unknown> & CliError) | undefined;
    if (run.code !== 0 || !out || out.error) throw new ToolFailure(this.name, op, run, out?.error ?? out);
    let details: unknown = out;
    if (op === 'backup') {
      const snap = out['snapshot'] as { stats?: unknown } | undefined;
      const unreadable = out['unreadable'] as unknown[] | undefined;
      details = { id: out['id'], stats: snap?.stats, unreadable: unreadable?.length ?? 0 };
    } else if (op === 'restore') {
      const { snapshot: _snapshot, ...rest } = out;
      details = rest;
    }
    return { ...external(run, this.rss), details };
  }

  init(): Promise<OpResult> {
    return this.op('init', ['init']);
  }

  backup(source: string): Promise<OpResult> {
    return this.op('backup', ['backup', source, '--service', 'bench']);
  }

  restore(target: string): Promise<OpResult> {
    return this.op('restore', ['restore', 'latest', '--target', target]);
  }

  restoredRoot(target: string): string {
    return target;
  }
}

// ── restic ──────────────────────────────────────────────────────────────────────────────────────

export class ResticTool implements Tool {
  readonly name = 'restic';
  readonly settings =
    'repository format 2, --compression auto (zstd), normal local cache in a per-run --cache-dir, `--password-file`';

  constructor(
    private readonly bin: string,
    readonly repo: string,
    private readonly cacheDir: string,
    private readonly passwordFile: string,
    private readonly rss: RssMethod,
  ) {}

  private async run(op: string, args: string[], json: boolean): Promise<OpResult> {
    const argv = [
      '-r',
      this.repo,
      '--cache-dir',
      this.cacheDir,
      '--password-file',
      this.passwordFile,
      ...args,
    ];
    const env: NodeJS.ProcessEnv = { ...process.env, RESTIC_PROGRESS_FPS: '0.2' };
    delete env['RESTIC_PASSWORD'];
    const run = await runMeasured(this.bin, argv, {
      rss: this.rss,
      env,
    });
    if (run.code !== 0) throw new ToolFailure(this.name, op, run, undefined);
    return {
      ...external(run, this.rss),
      details: json ? lastJsonLine(run.stdout) : run.stdout.trim().split('\n').slice(-3),
    };
  }

  init(): Promise<OpResult> {
    return this.run('init', ['init'], false);
  }

  backup(source: string): Promise<OpResult> {
    return this.run('backup', ['backup', '--json', source], true);
  }

  restore(target: string): Promise<OpResult> {
    return this.run('restore', ['restore', 'latest', '--target', target], false);
  }

  /** restic recreates the absolute source path below the target. */
  restoredRoot(target: string, source: string): string {
    const nested = join(target, source);
    return existsSync(nested) ? nested : target;
  }
}

// ── borg ────────────────────────────────────────────────────────────────────────────────────────

export class BorgTool implements Tool {
  readonly name = 'borg';
  readonly settings =
    'repokey-blake2, default lz4 compression, default buzhash chunker (2 MiB target), cache in a per-run BORG_BASE_DIR, BORG_PASSPHRASE';
  private archives = 0;

  constructor(
    private readonly bin: string,
    readonly repo: string,
    private readonly baseDir: string,
    private readonly password: string,
    private readonly rss: RssMethod,
  ) {}

  private async run(op: string, args: string[], cwd: string | undefined, json: boolean): Promise<OpResult> {
    mkdirSync(this.baseDir, { recursive: true });
    const run = await runMeasured(this.bin, args, {
      rss: this.rss,
      cwd,
      env: { ...process.env, BORG_PASSPHRASE: this.password, BORG_BASE_DIR: this.baseDir },
    });
    if (run.code !== 0) throw new ToolFailure(this.name, op, run, undefined);
    let details: unknown = run.stdout.trim().split('\n').slice(-3);
    if (json) {
      try {
        const j = JSON.parse(run.stdout) as {
          archive?: { name?: string; stats?: unknown; duration?: number };
        };
        details = { archive: j.archive?.name, duration: j.archive?.duration, stats: j.archive?.stats };
      } catch {
        // keep the raw lines
      }
    }
    return { ...external(run, this.rss), details };
  }

  init(): Promise<OpResult> {
    return this.run('init', ['init', '--encryption=repokey-blake2', this.repo], undefined, false);
  }

  /** Archives `.` from inside the source folder, so paths are stored relative to it. */
  backup(source: string): Promise<OpResult> {
    this.archives++;
    return this.run('backup', ['create', '--json', `${this.repo}::b${this.archives}`, '.'], source, true);
  }

  restore(target: string): Promise<OpResult> {
    mkdirSync(target, { recursive: true });
    return this.run('restore', ['extract', `${this.repo}::b${this.archives}`], target, false);
  }

  restoredRoot(target: string): string {
    return target;
  }
}
