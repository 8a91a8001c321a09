/**
 * `npm run db:status` and `npm run db:resolve -- --applied <name> | --rolled-back <name>`: what
 * `prisma migrate status` and `prisma migrate resolve` do, without Prisma's downloaded engine and
 * with runtime dependencies only (pg), so they work offline and in the production image, wherever
 * `db:migrate` runs. The bookkeeping is Prisma's (migrate.ts): either tool can take over.
 *
 *   DATABASE_URL       postgres URL (default postgresql://postgres@127.0.0.1:5432/vaultline)
 *   --dir <folder>     migrations folder (default: prisma/migrations of this checkout)
 *
 * Exit codes, for scripts: 0 up to date / resolved; 1 failure (database unreachable, refused);
 * 2 usage error; status only: 3 migrations pending (db:migrate applies them), 4 needs a person
 * (a failed or modified migration, or tables without a history: see the printed hint).
 */
import { join } from 'node:path';
import { DEFAULT_DATABASE_URL, describeDatabase, pgErrorCode } from './database';
import {
  isUpToDate,
  markMigrationApplied,
  markMigrationRolledBack,
  MigrationError,
  migrationStatus,
  type MigrationStatus,
} from './migrate';

/** dist/libs/db/src → the repository root, where prisma/ lives next to dist/. */
const DEFAULT_MIGRATIONS_DIR = join(__dirname, '..', '..', '..', '..', 'prisma', 'migrations');

export const EXIT = { ok: 0, failure: 1, usage: 2, pending: 3, attention: 4 } as const;

const USAGE =
  'usage: db:status [--dir <migrations>]\n' +
  '       db:resolve --applied <migration> | --rolled-back <migration> [--dir <migrations>]';

class UsageError extends Error {}

interface Parsed {
  command: 'status' | 'resolve';
  dir: string;
  applied?: string;
  rolledBack?: string;
}

export function parseArgs(argv: string[]): Parsed {
  const [command, ...rest] = argv;
  if (command !== 'status' && command !== 'resolve')
    throw new UsageError(`unknown command ${command ?? '(none)'}`);
  const parsed: Parsed = { command, dir: DEFAULT_MIGRATIONS_DIR };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = rest[i + 1];
    if (flag !== '--dir' && (command !== 'resolve' || (flag !== '--applied' && flag !== '--rolled-back'))) {
      throw new UsageError(`unknown option ${flag}`);
    }
    if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    i++;
    if (flag === '--dir') parsed.dir = value;
    else if (flag === '--applied') parsed.applied = value;
    else parsed.rolledBack = value;
  }
  if (command === 'resolve' && (parsed.applied === undefined) === (parsed.rolledBack === undefined)) {
    throw new UsageError('give exactly one of --applied <migration> and --rolled-back <migration>');
  }
  return parsed;
}

/** The report and its exit code (pure, so the wording is tested without a database). */
export function describeStatus(
  where: string,
  status: MigrationStatus,
): { lines: string[]; exitCode: number } {
  const lines: string[] = [];
  let exitCode: number = EXIT.ok;
  if (!status.hasHistory && status.tables.length > 0) {
    const shown = status.tables.slice(0, 5).join(', ') + (status.tables.length > 5 ? ', …' : '');
    lines.push(
      `${where} has tables (${shown}) but no migration history: db:migrate refuses it.`,
      'If it already has the schema up to a migration, record that (a baseline): ' +
        'npm run db:resolve -- --applied <migration>',
    );
    exitCode = EXIT.attention;
  }
  for (const failed of status.failed) {
    lines.push(
      `failed: ${failed.name} (started ${failed.startedAt.toISOString()})${failed.logs?.trim() ? `: ${failed.logs.trim()}` : ''}`,
      `  fix the database, then: npm run db:resolve -- --rolled-back ${failed.name}   (undone; db:migrate applies it again)`,
      `                     or: npm run db:resolve -- --applied ${failed.name}       (completed by hand)`,
    );
    exitCode = EXIT.attention;
  }
  for (const name of status.modified) {
    lines.push(
      `modified after it was applied: ${name} (restore the file; put the change in a new migration)`,
    );
    exitCode = EXIT.attention;
  }
  for (const name of status.unknown)
    lines.push(`applied, not in this release's folder: ${name} (the database is ahead)`);
  if (status.pending.length > 0) {
    lines.push(`pending (npm run db:migrate applies them): ${status.pending.join(', ')}`);
    if (exitCode === EXIT.ok) exitCode = EXIT.pending;
  }
  if (isUpToDate(status)) lines.push(`${where} is up to date (${status.applied.length} migrations applied)`);
  else if (status.hasHistory) lines.push(`${where}: ${status.applied.length} migrations applied`);
  return { lines, exitCode };
}

export async function run(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
): Promise<number> {
  const args = parseArgs(argv);
  // A one-off entry point, like db:migrate: the fleet's apps take DATABASE_URL from their config.
  const databaseUrl = env['DATABASE_URL'] || DEFAULT_DATABASE_URL;
  const where = describeDatabase(databaseUrl);
  if (args.command === 'status') {
    let status: MigrationStatus;
    try {
      status = await migrationStatus(databaseUrl, args.dir);
    } catch (err) {
      if (pgErrorCode(err) !== '3D000') throw err; // invalid_catalog_name: no such database
      out(`${where} does not exist: npm run db:migrate creates it and applies every migration`);
      return EXIT.pending;
    }
    const report = describeStatus(where, status);
    report.lines.forEach((line) => out(line));
    return report.exitCode;
  }
  if (args.applied !== undefined) {
    await markMigrationApplied(databaseUrl, args.dir, args.applied);
    out(`${where}: recorded ${args.applied} as applied (its SQL was not run)`);
  } else if (args.rolledBack !== undefined) {
    await markMigrationRolledBack(databaseUrl, args.rolledBack);
    out(`${where}: recorded ${args.rolledBack} as rolled back (db:migrate applies it again)`);
  }
  return EXIT.ok;
}

if (require.main === module) {
  const name = process.argv[2] === 'resolve' ? 'db:resolve' : 'db:status';
  run(process.argv.slice(2), process.env, (line) => console.log(line)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof UsageError) {
        console.error(`${name}: ${err.message}\n${USAGE}`);
        process.exitCode = EXIT.usage;
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      console.error(
        `${name}: ${err instanceof MigrationError ? message : `cannot check the database: ${message}`}`,
      );
      process.exitCode = EXIT.failure;
    },
  );
}
