/**
 * The `vaultline` command line. `main` parses argv, runs one command and resolves to its exit code:
 * 0 ok, 1 operation failed, 2 usage error, 3 `check` found problems. On failure exactly one line
 * `vaultline: <message>` goes to stderr (plus a stack trace when VAULTLINE_DEBUG=1). It never calls
 * process.exit: the launcher sets process.exitCode.
 */
import { Command, CommanderError, Option } from 'commander';
import { backupCommand } from './commands/backup';
import { checkCommand } from './commands/check';
import { forgetCommand } from './commands/forget';
import { initCommand } from './commands/init';
import {
  keyAddCommand,
  keyExportWriterCommand,
  keyListCommand,
  keyPasswdCommand,
  keyRemoveCommand,
} from './commands/key';
import { lsCommand } from './commands/ls';
import { pruneCommand } from './commands/prune';
import { restoreCommand } from './commands/restore';
import { snapshotsCommand } from './commands/snapshots';
import { Context, type GlobalOptions } from './context';
import type { Env } from './credentials';
import { EXIT_USAGE, errorCodeOf, errorMessageOf, exitCodeOf, usageError } from './errors';
import { Output } from './output';
import { byteSize, collect, duration, fraction, percentage, wholeNumber } from './parsers';

export const VERSION = '0.1.0';

type Run = (ctx: Context) => Promise<number>;

const ENV_HELP = `
Environment:
  VAULTLINE_REPO            repository location (instead of --repo)
  VAULTLINE_PASSWORD        repository password (instead of --password-file)
  VAULTLINE_WRITER_KEY      writer-only key, vlwk1.… (instead of --writer-key-file)
  VAULTLINE_S3_ENDPOINT, VAULTLINE_S3_REGION, VAULTLINE_S3_ACCESS_KEY, VAULTLINE_S3_SECRET_KEY
                            S3 settings for s3://bucket/prefix locations
  VAULTLINE_DEBUG=1         print stack traces of unexpected errors

Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 check found problems.`;

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
      'read the password from the first line of <file> (env VAULTLINE_PASSWORD)',
    )
    .option('--writer-key-file <file>', 'read the writer-only key from <file> (env VAULTLINE_WRITER_KEY)')
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
    .action((_o: unknown, cmd: Command) => setRun((ctx) => initCommand(ctx, opts(cmd))));

  program
    .command('backup')
    .description('back up a folder into a new snapshot (works with the writer key alone)')
    .argument('<dir>', 'folder to back up')
    .option('--service <name>', 'service the data belongs to')
    .option('--plan <name>', 'backup plan name')
    .option('--tag <tag>', 'tag the snapshot (repeatable)', collect)
    .option('--host <name>', 'host name to record (default: this machine)')
    .option('--arch <arch>', 'source architecture to record (default: this machine)')
    .option('--exclude <pattern>', 'gitignore-style pattern relative to <dir> (repeatable)', collect)
    .option('--exclude-file <file>', 'read exclude patterns from <file>, one per line (repeatable)', collect)
    .option('--parent <id|none>', "parent snapshot for change detection ('none' reads everything)")
    .action((dir: string, _o: unknown, cmd: Command) => setRun((ctx) => backupCommand(ctx, dir, opts(cmd))));

  program
    .command('snapshots')
    .description('list snapshots, oldest first')
    .option('--service <name>', 'only this service')
    .option('--plan <name>', 'only this plan')
    .option('--tag <tag>', 'only snapshots with this tag (repeatable: all must match)', collect)
    .option('--host <name>', 'only snapshots from this host')
    .action((_o: unknown, cmd: Command) => setRun((ctx) => snapshotsCommand(ctx, opts(cmd))));

  program
    .command('ls')
    .description('list a directory of a snapshot (needs the password)')
    .argument('<snapshot>', "snapshot id, unique prefix or 'latest'")
    .argument('[path]', 'directory (or file) inside the snapshot', '/')
    .option('-r, --recursive', 'list the whole subtree')
    .option('--service <name>', "narrow 'latest' to this service")
    .option('--plan <name>', "narrow 'latest' to this plan")
    .action((ref: string, p: string, _o: unknown, cmd: Command) =>
      setRun((ctx) => lsCommand(ctx, ref, p, opts(cmd))),
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
    .action((ref: string, _o: unknown, cmd: Command) => setRun((ctx) => restoreCommand(ctx, ref, opts(cmd))));

  program
    .command('check')
    .description(
      'verify the repository structure, and with --read-data the stored contents (exit 3 on problems)',
    )
    .addOption(
      new Option(
        '--read-data [percent]',
        'also read and verify this percentage of packs (alone: 100)',
      ).argParser(percentage),
    )
    .action((_o: unknown, cmd: Command) => setRun((ctx) => checkCommand(ctx, opts(cmd))));

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
    .option('--keep-tag <tag>', 'always keep snapshots with this tag (repeatable)', collect)
    .option('--service <name>', 'only snapshots of this service')
    .option('--plan <name>', 'only snapshots of this plan')
    .option('--all', 'forget every snapshot of --service / --plan')
    .option('--dry-run', 'only show what would be removed')
    .option('--prune', 'run prune afterwards');
  pruneOptions(forgetCmd).action((ids: string[], _o: unknown, cmd: Command) =>
    setRun((ctx) => forgetCommand(ctx, ids, opts(cmd))),
  );

  pruneOptions(
    program
      .command('prune')
      .description('delete unreferenced data and repack mostly unused packs')
      .option('--dry-run', 'only show what would be done'),
  ).action((_o: unknown, cmd: Command) => setRun((ctx) => pruneCommand(ctx, opts(cmd))));

  const key = program.command('key').description('manage passwords (key files) and the writer key');
  key
    .command('list')
    .description('list key files (* marks the one that opened the repository)')
    .action(() => setRun(keyListCommand));
  key
    .command('add')
    .description('add a password')
    .option('--new-password-file <file>', 'read the new password from <file> (default: prompt)')
    .addHelpText('after', KDF_HELP)
    .action((_o: unknown, cmd: Command) => setRun((ctx) => keyAddCommand(ctx, opts(cmd))));
  key
    .command('remove')
    .description('remove a key file (its password stops working)')
    .argument('<id>', 'key id (or unique prefix)')
    .action((id: string) => setRun((ctx) => keyRemoveCommand(ctx, id)));
  key
    .command('passwd')
    .description('change the password used to open (adds a new key, removes the current one)')
    .option('--new-password-file <file>', 'read the new password from <file> (default: prompt)')
    .addHelpText('after', KDF_HELP)
    .action((_o: unknown, cmd: Command) => setRun((ctx) => keyPasswdCommand(ctx, opts(cmd))));
  key
    .command('export-writer')
    .description('print the writer-only key for scheduled backups (needs the password)')
    .action(() => setRun(keyExportWriterCommand));

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
  const ctx = new Context(globals, env, out);
  try {
    return await run(ctx);
  } catch (err) {
    return fail(out, err, exitCodeOf(err));
  }
}
