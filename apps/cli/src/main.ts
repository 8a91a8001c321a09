/**
 * The `vaultline` command line. `main` parses argv, runs one command and resolves to its exit code
 * (the table is EXIT_CODES in errors.ts). On failure exactly one line `vaultline: <message>` goes
 * to stderr (plus a stack trace when VAULTLINE_DEBUG=1). It never calls process.exit, except on a
 * Ctrl-C the running command cannot handle: the launcher sets process.exitCode.
 *
 * Start-up is kept short: the command tree needs only commander; each command's module (and with
 * it the engine and storage) is loaded when that command runs.
 */
import { Command, CommanderError, Option } from 'commander';
import type * as BackupModule from './commands/backup';
import type * as CheckModule from './commands/check';
import type * as DiffModule from './commands/diff';
import type * as FindModule from './commands/find';
import type * as ForgetModule from './commands/forget';
import type * as InitModule from './commands/init';
import type * as KeyModule from './commands/key';
import type * as LsModule from './commands/ls';
import type * as PruneModule from './commands/prune';
import type * as RestoreModule from './commands/restore';
import type * as SnapshotsModule from './commands/snapshots';
import type * as StatsModule from './commands/stats';
import type * as UnlockModule from './commands/unlock';
import type * as CompletionModule from './completion';
import type * as ContextModule from './context';
import type { Context, GlobalOptions } from './context';
import type { Env } from './credentials';
import {
  EXIT_INTERRUPTED,
  EXIT_USAGE,
  errorCodeOf,
  errorMessageOf,
  exitCodeHelp,
  exitCodeOf,
  interrupted,
  usageError,
} from './errors';
import { Output } from './output';
import {
  byteSize,
  collect,
  duration,
  fraction,
  groupBy,
  keepDuration,
  percentage,
  wholeNumber,
} from './parsers';
import { VERSION } from './version';

export { VERSION };

type Run = (ctx: Context) => Promise<number>;

/**
 * Loads a module of this CLI when its command runs. `require`, not `import()`: a dynamic import
 * starts Node's ESM loader, which costs more than the CommonJS modules it would load.
 */
function load<T>(id: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(id) as T;
}

const ENV_HELP = `
Environment:
  VAULTLINE_REPO              repository location (instead of --repo)
  VAULTLINE_PASSWORD_FILE     file whose first line is the password (instead of --password-file)
  VAULTLINE_PASSWORD_COMMAND  command printing the password (instead of --password-command)
  VAULTLINE_PASSWORD          the repository password itself
  VAULTLINE_WRITER_KEY        writer-only key, vlwk1.… (instead of --writer-key-file)
  VAULTLINE_S3_ENDPOINT, VAULTLINE_S3_REGION, VAULTLINE_S3_ACCESS_KEY, VAULTLINE_S3_SECRET_KEY
                              S3 settings for s3://bucket/prefix locations
  VAULTLINE_DEBUG=1           print stack traces of unexpected errors

Password: the first of --password-file / --password-command, VAULTLINE_PASSWORD_FILE /
VAULTLINE_PASSWORD_COMMAND, VAULTLINE_PASSWORD, the writer key, a prompt (two at one level: error).

Exit codes:
${exitCodeHelp()}`;

const KDF_HELP = `
Key derivation (testing / low-memory machines only):
  VAULTLINE_KDF_MEMORY_KIB  Argon2id memory in KiB for the new key file (default 65536)
  VAULTLINE_KDF_PASSES      Argon2id passes for the new key file (default 3)
  Lower values make the password easier to brute-force; also read by key add and key passwd.`;

function buildProgram(
  setRun: (run: Run) => void,
  writeOut: (s: string) => void,
  writeErr: (s: string) => void,
): Command {
  const program = new Command();
  program
    .name('vaultline')
    .description('Encrypted, deduplicated backups of self-hosted services.')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({
      writeOut,
      writeErr,
      // main() prints the one error line itself.
      outputError: () => undefined,
    })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .option('--repo <location>', 'repository: a path or s3://bucket/prefix (env VAULTLINE_REPO)')
    .option(
      '--password-file <file>',
      'read the password from the first line of <file> (env VAULTLINE_PASSWORD_FILE)',
    )
    .option(
      '--password-command <cmd>',
      'run <cmd> with sh -c; its first line of output is the password (env VAULTLINE_PASSWORD_COMMAND)',
    )
    .option('--writer-key-file <file>', 'read the writer-only key from <file> (env VAULTLINE_WRITER_KEY)')
    .addOption(
      new Option(
        '--retry-lock <duration>',
        'when another process holds the repository lock, keep trying for <duration> (e.g. 5m) instead of failing at once',
      ).argParser(duration),
    )
    .option('--json', 'machine output: exactly one JSON document on stdout')
    .option('-q, --quiet', 'only essential output; no progress')
    .addHelpText('after', ENV_HELP);

  // commander passes (...positionals, options, command); each command picks what it needs.
  const opts = <T>(cmd: Command): T => cmd.opts<T & Record<string, unknown>>();

  program
    .command('init')
    .description('create a new repository (prints its id)')
    .addOption(new Option('--chunk-min <bytes>', 'minimum chunk size').argParser(byteSize(64)))
    .addOption(
      new Option('--chunk-avg <bytes>', 'average chunk size (a power of two)').argParser(byteSize(64)),
    )
    .addOption(new Option('--chunk-max <bytes>', 'maximum chunk size').argParser(byteSize(64)))
    .addOption(
      new Option('--pack-size <bytes>', 'target pack file size (64 KiB to 512 MiB)').argParser(byteSize(1)),
    )
    .addOption(
      new Option('--compression-level <n>', 'zstd level, 0 (off) to 19').argParser(wholeNumber(0, 19)),
    )
    .addHelpText('after', KDF_HELP)
    .action((_o: unknown, cmd: Command) =>
      setRun(async (ctx) => load<typeof InitModule>('./commands/init').initCommand(ctx, opts(cmd))),
    );

  program
    .command('backup')
    .description('back up a folder (or stdin) into a new snapshot (works with the writer key alone)')
    .argument('[dir]', 'folder to back up (none with --stdin)')
    .option('--service <name>', 'service the data belongs to')
    .option('--plan <name>', 'backup plan name')
    .option('--tag <tag>', 'tag the snapshot (repeatable)', collect)
    .option('--host <name>', 'host name to record (default: this machine)')
    .option('--arch <arch>', 'source architecture to record (default: this machine)')
    .option('--exclude <pattern>', 'gitignore-style pattern relative to <dir> (repeatable)', collect)
    .option('--exclude-file <file>', 'read exclude patterns from <file>, one per line (repeatable)', collect)
    .option(
      '--files-from <file>',
      'back up only the paths listed in <file>, one per line, relative to or inside <dir> (repeatable)',
      collect,
    )
    .option('-x, --one-file-system', 'do not cross into other file systems (mount points)')
    .option('--stdin', 'back up what is read from stdin as one file (no <dir>)')
    .option('--stdin-filename <name>', 'file name for --stdin (default: stdin)')
    .option('--parent <id|none>', "parent snapshot for change detection ('none' reads everything)")
    .option('-n, --dry-run', 'only show what would be added; nothing is written')
    .addHelpText(
      'after',
      `\nExit code 3: the snapshot was saved, but some files could not be read (they are listed).`,
    )
    .action((dir: string | undefined, _o: unknown, cmd: Command) =>
      setRun(async (ctx) =>
        load<typeof BackupModule>('./commands/backup').backupCommand(ctx, dir, opts(cmd)),
      ),
    );

  program
    .command('snapshots')
    .description('list snapshots, oldest first')
    .option('--service <name>', 'only this service')
    .option('--plan <name>', 'only this plan')
    .option('--tag <tag>', 'only snapshots with this tag (repeatable: all must match)', collect)
    .option('--host <name>', 'only snapshots from this host')
    .action((_o: unknown, cmd: Command) =>
      setRun(async (ctx) =>
        load<typeof SnapshotsModule>('./commands/snapshots').snapshotsCommand(ctx, opts(cmd)),
      ),
    );

  program
    .command('ls')
    .description('list a directory of a snapshot (needs the password)')
    .argument('<snapshot>', "snapshot id, unique prefix or 'latest'")
    .argument('[path]', 'directory (or file) inside the snapshot', '/')
    .option('-r, --recursive', 'list the whole subtree')
    .option('--service <name>', "narrow 'latest' to this service")
    .option('--plan <name>', "narrow 'latest' to this plan")
    .action((ref: string, p: string, _o: unknown, cmd: Command) =>
      setRun(async (ctx) => load<typeof LsModule>('./commands/ls').lsCommand(ctx, ref, p, opts(cmd))),
    );

  program
    .command('restore')
    .description('restore a snapshot into a folder (needs the password)')
    .argument('<snapshot>', "snapshot id, unique prefix or 'latest'")
    .requiredOption('--target <dir>', 'folder to restore into (created if missing)')
    .option('--include <path>', 'restore only this path of the snapshot')
    .option('--verify', 're-read restored files and compare them with the snapshot')
    .option('--service <name>', "narrow 'latest' to this service")
    .option('--plan <name>', "narrow 'latest' to this plan")
    .action((ref: string, _o: unknown, cmd: Command) =>
      setRun(async (ctx) =>
        load<typeof RestoreModule>('./commands/restore').restoreCommand(ctx, ref, opts(cmd)),
      ),
    );

  program
    .command('check')
    .description(
      'verify the repository structure, and with --read-data the stored contents (exit 1 on problems)',
    )
    .addOption(
      new Option(
        '--read-data [percent]',
        'also read and verify this percentage of packs (alone: 100)',
      ).argParser(percentage),
    )
    .action((_o: unknown, cmd: Command) =>
      setRun(async (ctx) => load<typeof CheckModule>('./commands/check').checkCommand(ctx, opts(cmd))),
    );

  const keep = (cmd: Command, name: string, what: string): Command =>
    cmd.addOption(new Option(`--keep-${name} <n>`, what).argParser(wholeNumber(0)));
  const pruneOptions = (cmd: Command): Command =>
    cmd
      .addOption(
        new Option(
          '--repack-threshold <fraction>',
          'repack packs with at least this unused fraction (default 0.3)',
        ).argParser(fraction),
      )
      .addOption(
        new Option(
          '--safety-margin <duration>',
          'never delete data younger than this, e.g. 0s, 30m, 1h (default 1h)',
        ).argParser(duration),
      );

  const forgetCmd = program
    .command('forget')
    .description('remove snapshots by retention policy, by id, or --all of a service/plan')
    .argument('[ids...]', 'snapshot ids (or unique prefixes) to forget');
  keep(forgetCmd, 'last', 'keep the N newest snapshots');
  keep(forgetCmd, 'hourly', 'keep the newest snapshot of each of the last N hours that have one');
  keep(forgetCmd, 'daily', 'keep one per day for N days');
  keep(forgetCmd, 'weekly', 'keep one per ISO week for N weeks');
  keep(forgetCmd, 'monthly', 'keep one per month for N months');
  keep(forgetCmd, 'yearly', 'keep one per year for N years');
  forgetCmd
    .addOption(
      new Option(
        '--keep-within <duration>',
        'keep every snapshot newer than the latest one minus <duration>, e.g. 36h, 7d, 2w, 1y2m',
      ).argParser(keepDuration),
    )
    .option('--keep-tag <tag>', 'always keep snapshots with this tag (repeatable)', collect)
    .option('--service <name>', 'only snapshots of this service')
    .option('--plan <name>', 'only snapshots of this plan')
    .addOption(
      new Option(
        '--group-by <fields>',
        "apply the policy per group of: host, service, plan, tags (comma-separated; '' for one group)",
      )
        .default(['service', 'plan'], 'service,plan')
        .argParser(groupBy),
    )
    .option('--all', 'forget every snapshot of --service / --plan')
    .option('--dry-run', 'only show what would be removed')
    .option('--prune', 'run prune afterwards');
  pruneOptions(forgetCmd).action((ids: string[], _o: unknown, cmd: Command) =>
    setRun(async (ctx) => load<typeof ForgetModule>('./commands/forget').forgetCommand(ctx, ids, opts(cmd))),
  );

  pruneOptions(
    program
      .command('prune')
      .description('delete unreferenced data and repack mostly unused packs')
      .option('--dry-run', 'only show what would be done'),
  ).action((_o: unknown, cmd: Command) =>
    setRun(async (ctx) => load<typeof PruneModule>('./commands/prune').pruneCommand(ctx, opts(cmd))),
  );

  program
    .command('stats')
    .description('sizes of snapshots: what a restore writes, or the unique data they reference')
    .argument('[snapshots...]', "snapshot ids, prefixes or 'latest' (default: all)")
    .addOption(
      new Option('--mode <mode>', 'restore-size: files and bytes as restored; raw-data: unique blobs')
        .choices(['restore-size', 'raw-data'])
        .default('restore-size'),
    )
    .option('--service <name>', 'only snapshots of this service')
    .option('--plan <name>', 'only snapshots of this plan')
    .action((refs: string[], _o: unknown, cmd: Command) =>
      setRun(async (ctx) => load<typeof StatsModule>('./commands/stats').statsCommand(ctx, refs, opts(cmd))),
    );

  program
    .command('diff')
    .description(
      'show what changed between two snapshots (+ added, - removed, M modified, T type, U metadata)',
    )
    .argument('<a>', "first snapshot: id, prefix or 'latest'")
    .argument('<b>', 'second snapshot')
    .option('--metadata', 'also list entries whose metadata only changed (U)')
    .action((a: string, b: string, _o: unknown, cmd: Command) =>
      setRun(async (ctx) => load<typeof DiffModule>('./commands/diff').diffCommand(ctx, a, b, opts(cmd))),
    );

  program
    .command('find')
    .description('find files by name or path glob across snapshots')
    .argument('<pattern...>', "glob on names (*.log) or, with a '/', on full paths (/var/**/*.log)")
    .option('--snapshot <id>', 'only this snapshot (repeatable)', collect)
    .option('--service <name>', 'only snapshots of this service')
    .option('--plan <name>', 'only snapshots of this plan')
    .option('-i, --ignore-case', 'ignore case when matching')
    .action((patterns: string[], _o: unknown, cmd: Command) =>
      setRun(async (ctx) => load<typeof FindModule>('./commands/find').findCommand(ctx, patterns, opts(cmd))),
    );

  program
    .command('unlock')
    .description('remove stale locks (left by killed processes); --remove-all removes every lock')
    .option('--remove-all', 'also remove locks that are still being refreshed')
    .action((_o: unknown, cmd: Command) =>
      setRun(async (ctx) => load<typeof UnlockModule>('./commands/unlock').unlockCommand(ctx, opts(cmd))),
    );

  program
    .command('completion')
    .description('print a shell completion script')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText(
      'after',
      `
Install:
  bash  vaultline completion bash > ~/.local/share/bash-completion/completions/vaultline
  zsh   vaultline completion zsh > "\${fpath[1]}/_vaultline"
  fish  vaultline completion fish > ~/.config/fish/completions/vaultline.fish`,
    )
    .action((shell: string) =>
      setRun(async (ctx) =>
        load<typeof CompletionModule>('./completion').completionCommand(ctx, program, shell),
      ),
    );

  const key = program.command('key').description('manage passwords (key files) and the writer key');
  key
    .command('list')
    .description('list key files (* marks the one that opened the repository)')
    .action(() => setRun(async (ctx) => load<typeof KeyModule>('./commands/key').keyListCommand(ctx)));
  key
    .command('add')
    .description('add a password')
    .option('--new-password-file <file>', 'read the new password from <file> (default: prompt)')
    .addHelpText('after', KDF_HELP)
    .action((_o: unknown, cmd: Command) =>
      setRun(async (ctx) => load<typeof KeyModule>('./commands/key').keyAddCommand(ctx, opts(cmd))),
    );
  key
    .command('remove')
    .description('remove a key file (its password stops working)')
    .argument('<id>', 'key id (or unique prefix)')
    .action((id: string) =>
      setRun(async (ctx) => load<typeof KeyModule>('./commands/key').keyRemoveCommand(ctx, id)),
    );
  key
    .command('passwd')
    .description('change the password used to open (adds a new key, removes the current one)')
    .option('--new-password-file <file>', 'read the new password from <file> (default: prompt)')
    .addHelpText('after', KDF_HELP)
    .action((_o: unknown, cmd: Command) =>
      setRun(async (ctx) => load<typeof KeyModule>('./commands/key').keyPasswdCommand(ctx, opts(cmd))),
    );
  key
    .command('export-writer')
    .description('print the writer-only key for scheduled backups (needs the password)')
    .action(() =>
      setRun(async (ctx) => load<typeof KeyModule>('./commands/key').keyExportWriterCommand(ctx)),
    );

  return program;
}

let stdoutGuarded = false;

/** A closed pipe (`vaultline ls … | head`) is not an error worth a stack trace. */
function guardStdout(): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

export async function main(argv: string[], env: Env = process.env): Promise<number> {
  guardStdout();
  const debug = env.VAULTLINE_DEBUG === '1';
  let run: Run | undefined;
  let errText = '';
  const program = buildProgram(
    (r) => {
      run = r;
    },
    (s) => process.stdout.write(s),
    (s) => {
      errText += s;
    },
  );
  // Usage errors happen before options are known: decide on --json from argv.
  const early = new Output(wantsJson(argv.slice(2)), false);
  const fail = (out: Output, err: unknown, code: number): number => {
    const message = errorMessageOf(err);
    out.error(message);
    if (debug && err instanceof Error && err.stack) out.debug(err.stack);
    if (out.json && !out.jsonEmitted) out.emitJson({ error: { code: errorCodeOf(err), message } });
    return code;
  };

  try {
    await program.parseAsync(argv, { from: 'node' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      let message = err.message.replace(/^error: /, '');
      if (err.code === 'commander.help' || message === '(outputHelp)') {
        const usage = /^Usage: (.*)$/m.exec(errText)?.[1];
        message = `missing command${usage ? ` (usage: ${usage}; see --help)` : ''}`;
      }
      return fail(early, usageError(message), EXIT_USAGE);
    }
    return fail(early, err, exitCodeOf(err));
  }
  if (!run) return 0;

  const globals = program.opts<GlobalOptions & Record<string, unknown>>();
  const out = new Output(globals.json === true, globals.quiet === true);
  const abort = new AbortController();
  let ctx: Context | undefined;
  // Ctrl-C: a command that passed ctx.signal on stops at its next safe point (releasing its
  // lock) and exits 130; otherwise, or on a second Ctrl-C, the process ends at once with 130.
  const onSigint = (): void => {
    if (abort.signal.aborted || !ctx?.handlesInterrupt) {
      fail(out, interrupted(), EXIT_INTERRUPTED);
      process.exit(EXIT_INTERRUPTED);
    }
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const { Context: ContextClass } = load<typeof ContextModule>('./context');
    ctx = new ContextClass(globals, env, out, abort.signal);
    ctx.credentials.validate();
    return await run(ctx);
  } catch (err) {
    if (abort.signal.aborted) return fail(out, interrupted(), EXIT_INTERRUPTED);
    return fail(out, err, exitCodeOf(err));
  } finally {
    process.off('SIGINT', onSigint);
  }
}
