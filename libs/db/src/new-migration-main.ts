/**
 * `npm run db:migration -- <name>` — writes prisma/migrations/<timestamp>_<name>/migration.sql with
 * what `prisma migrate dev --create-only --name <name>` would write, without Prisma's downloaded
 * engine: the SQL comes from Prisma's schema engine (wasm) diffing the existing migrations, replayed
 * in a shadow database, against prisma/schema.prisma. Needs a Postgres server (DATABASE_URL's; the
 * shadow database is created and dropped there). Development only. Review the SQL, then commit it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_DATABASE_URL } from './database';
import { diffMigrations } from './schema-engine';

const ROOT = join(__dirname, '..', '..', '..', '..');

/** `<UTC yyyymmddhhmmss>_<name>`, Prisma's layout; characters other than [A-Za-z0-9_] become `_`. */
export function migrationDirectoryName(name: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${stamp}_${name.trim().replace(/[^A-Za-z0-9_]+/g, '_')}`;
}

async function main(): Promise<void> {
  const name = process.argv[2];
  if (!name?.trim()) throw new Error('usage: npm run db:migration -- <name>   (e.g. add_run_error)');
  const migrationsDir = join(ROOT, 'prisma', 'migrations');
  const diff = await diffMigrations({
    serverUrl: process.env['DATABASE_URL'] || DEFAULT_DATABASE_URL,
    migrationsDir,
    schemaPath: join(ROOT, 'prisma', 'schema.prisma'),
  });
  if (diff.empty) {
    console.log('prisma/schema.prisma and the migrations agree: nothing to write');
    return;
  }
  const dir = join(migrationsDir, migrationDirectoryName(name, new Date()));
  await mkdir(dir, { recursive: false });
  await writeFile(join(dir, 'migration.sql'), diff.output);
  console.log(`wrote ${join(dir, 'migration.sql')}:\n\n${diff.output}`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`db:migration: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
