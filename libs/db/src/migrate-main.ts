/**
 * `npm run db:migrate` — the one-off job that brings the catalog database up to date: creates the
 * database if it does not exist, then applies prisma/migrations (see migrate.ts). Deployments run
 * it once per release, before the new api/worker/report processes start; never on every start.
 *
 *   DATABASE_URL   postgres URL (default postgresql://postgres@127.0.0.1:5432/vaultline)
 *   argv[2]        migrations folder (default: prisma/migrations of this checkout)
 */
import { join } from 'node:path';
import { createDatabaseIfMissing, DEFAULT_DATABASE_URL, describeDatabase } from './database';
import { applyMigrations } from './migrate';

/** dist/libs/db/src → the repository root, where prisma/ lives next to dist/. */
const DEFAULT_MIGRATIONS_DIR = join(__dirname, '..', '..', '..', '..', 'prisma', 'migrations');

async function main(): Promise<void> {
  // A one-off entry point, like the CLI: the fleet's apps take DATABASE_URL from their validated config.
  const databaseUrl = process.env['DATABASE_URL'] || DEFAULT_DATABASE_URL;
  const migrationsDir = process.argv[2] ?? DEFAULT_MIGRATIONS_DIR;
  const where = describeDatabase(databaseUrl);
  if (await createDatabaseIfMissing(databaseUrl)) console.log(`created database ${where}`);
  const result = await applyMigrations(databaseUrl, migrationsDir, { log: (line) => console.log(line) });
  for (const name of result.unknown) {
    console.log(
      `note: ${name} is applied but not in ${migrationsDir} (the database is ahead of this release)`,
    );
  }
  console.log(
    result.applied.length === 0
      ? `${where} is up to date (${result.alreadyApplied.length} migrations applied)`
      : `${where}: applied ${result.applied.length} migration(s), ${result.alreadyApplied.length} were already applied`,
  );
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`db:migrate: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
