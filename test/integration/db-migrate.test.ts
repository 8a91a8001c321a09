/**
 * The migration applier (libs/db migrate.ts) against a real PostgreSQL: every test gets its own
 * freshly created database and drops it. Prisma's own engine (wasm build, the code behind
 * `prisma migrate deploy`) checks that each side accepts the other's `_prisma_migrations` rows.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  applyMigrations,
  createDatabaseIfMissing,
  MigrationError,
  PRISMA_MIGRATE_LOCK_KEY,
  readMigrations,
  type MigrationErrorCode,
} from '@vaultline/db';
import { deployMigrations } from '../../libs/db/src/schema-engine';
import {
  createTestDatabase,
  dropDatabase,
  MIGRATIONS_DIR,
  uniqueDatabaseUrl,
  withClient,
  type TestDatabase,
} from '../support/postgres';

interface Row {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

const rows = (url: string): Promise<Row[]> =>
  withClient(
    url,
    async (client) => (await client.query<Row>('SELECT * FROM _prisma_migrations ORDER BY started_at')).rows,
  );

const tables = (url: string): Promise<string[]> =>
  withClient(url, async (client) =>
    (
      await client.query<{ tablename: string }>(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
      )
    ).rows.map((row) => row.tablename),
  );

async function rejectsWith(
  promise: Promise<unknown>,
  code: MigrationErrorCode,
  pattern: RegExp,
): Promise<MigrationError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof MigrationError, `expected a MigrationError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected ${code}`);
}

/** A copy of the real migrations folder that a test may modify. */
async function copyOfMigrations(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'vaultline-migrations-'));
  const dir = path.join(root, 'migrations');
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  return { dir, cleanup: () => rm(root, { recursive: true, force: true }) };
}

const EXPECTED_TABLES = [
  '_prisma_migrations',
  'api_tokens',
  'plan_services',
  'plan_targets',
  'plans',
  'reports',
  'restores',
  'runs',
  'service_backups',
  'services',
  'sessions',
  'snapshots',
  'targets',
  'users',
  'verifications',
];

describe('applyMigrations', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('migrate');
  });
  after(() => db.drop());

  test('a fresh database gets every table and one _prisma_migrations row per migration, as Prisma writes it', async () => {
    const files = await readMigrations(MIGRATIONS_DIR);
    assert.ok(files.length > 0);
    const startedAfter = Date.now() - 5_000;
    const result = await applyMigrations(db.url, MIGRATIONS_DIR);
    assert.deepEqual(
      result.applied,
      files.map((file) => file.name),
    );
    assert.deepEqual(result.alreadyApplied, []);
    assert.deepEqual(await tables(db.url), EXPECTED_TABLES);

    const recorded = await rows(db.url);
    assert.equal(recorded.length, files.length);
    for (const [i, row] of recorded.entries()) {
      const name = files[i]?.name ?? '';
      const bytes = await readFile(path.join(MIGRATIONS_DIR, name, 'migration.sql'));
      assert.equal(row.migration_name, name);
      assert.equal(row.checksum, createHash('sha256').update(bytes).digest('hex'));
      assert.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(row.applied_steps_count, 1);
      assert.equal(row.logs, null);
      assert.equal(row.rolled_back_at, null);
      assert.ok(row.finished_at, 'finished_at is set');
      assert.ok(row.started_at.getTime() >= startedAfter && row.started_at <= row.finished_at);
    }
  });

  test('running it again changes nothing', async () => {
    const previous = await rows(db.url);
    const result = await applyMigrations(db.url, MIGRATIONS_DIR);
    assert.deepEqual(result.applied, []);
    assert.deepEqual(
      result.alreadyApplied,
      previous.map((row) => row.migration_name),
    );
    assert.deepEqual(await rows(db.url), previous);
  });

  test('an applied migration whose file changed is refused, naming it', async () => {
    const copy = await copyOfMigrations();
    try {
      const [first] = await readMigrations(copy.dir);
      assert.ok(first);
      const file = path.join(copy.dir, first.name, 'migration.sql');
      await writeFile(file, `${first.script}\n-- an innocent-looking edit\n`);
      const previous = await rows(db.url);
      await rejectsWith(
        applyMigrations(db.url, copy.dir),
        'CHECKSUM_MISMATCH',
        new RegExp(
          `migration ${first.name} was modified after it was applied.*recorded checksum ${first.checksum}`,
        ),
      );
      assert.deepEqual(await rows(db.url), previous);
    } finally {
      await copy.cleanup();
    }
  });

  test('CRLF line endings (a Windows checkout) still match, as in Prisma', async () => {
    const copy = await copyOfMigrations();
    try {
      for (const migration of await readMigrations(copy.dir)) {
        await writeFile(
          path.join(copy.dir, migration.name, 'migration.sql'),
          migration.script.replaceAll('\n', '\r\n'),
        );
      }
      const result = await applyMigrations(db.url, copy.dir);
      assert.deepEqual(result.applied, []);
    } finally {
      await copy.cleanup();
    }
  });

  test('a migration that fails leaves nothing behind: no table, no row', async () => {
    const copy = await copyOfMigrations();
    try {
      const name = '99990101000000_broken';
      await mkdir(path.join(copy.dir, name));
      await writeFile(
        path.join(copy.dir, name, 'migration.sql'),
        'CREATE TABLE "half_done" ("id" INTEGER);\nALTER TABLE "no_such_table" ADD COLUMN "x" TEXT;\n',
      );
      await rejectsWith(
        applyMigrations(db.url, copy.dir),
        'APPLY_FAILED',
        /migration 99990101000000_broken failed and was rolled back: .*no_such_table.*SQLSTATE 42P01/,
      );
      assert.ok(!(await tables(db.url)).includes('half_done'));
      assert.ok(!(await rows(db.url)).some((row) => row.migration_name === name));
    } finally {
      await copy.cleanup();
    }
  });

  test('a migration a database has but the folder lacks is reported, not an error', async () => {
    await withClient(db.url, (client) =>
      client.query(
        'INSERT INTO _prisma_migrations (id, checksum, migration_name, finished_at, applied_steps_count) VALUES ($1, $2, $3, now(), 1)',
        ['00000000-0000-4000-8000-000000000001', '0'.repeat(64), '99991231000000_from_the_future'],
      ),
    );
    const result = await applyMigrations(db.url, MIGRATIONS_DIR);
    assert.deepEqual(result.unknown, ['99991231000000_from_the_future']);
  });

  test('a failed migration recorded by Prisma stops everything until resolved', async () => {
    await withClient(db.url, (client) =>
      client.query(
        "INSERT INTO _prisma_migrations (id, checksum, migration_name, logs) VALUES ($1, $2, $3, 'ERROR: boom')",
        ['00000000-0000-4000-8000-000000000002', '0'.repeat(64), '99991231000001_failed'],
      ),
    );
    await rejectsWith(
      applyMigrations(db.url, MIGRATIONS_DIR),
      'FAILED_MIGRATION',
      /99991231000001_failed .*ERROR: boom.*npm run db:resolve -- --rolled-back <migration>.*npm run db:status/,
    );
    // Marked rolled back (what `prisma migrate resolve --rolled-back` does), it no longer counts.
    await withClient(db.url, (client) =>
      client.query(
        "UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '99991231000001_failed'",
      ),
    );
    assert.deepEqual((await applyMigrations(db.url, MIGRATIONS_DIR)).applied, []);
  });
});

describe('applyMigrations: concurrency and refusals', () => {
  test('concurrent appliers (three at once): the migrations are applied exactly once', async () => {
    const db = await createTestDatabase('concurrent');
    try {
      const results = await Promise.all([1, 2, 3].map(() => applyMigrations(db.url, MIGRATIONS_DIR)));
      const applied = results.flatMap((result) => result.applied);
      const files = await readMigrations(MIGRATIONS_DIR);
      assert.deepEqual(applied.sort(), files.map((file) => file.name).sort());
      assert.equal((await rows(db.url)).length, files.length);
    } finally {
      await db.drop();
    }
  });

  test("it waits for Prisma Migrate's advisory lock, and gives up after the timeout", async () => {
    const db = await createTestDatabase('locked');
    try {
      await withClient(db.url, async (holder) => {
        await holder.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_KEY]);
        await rejectsWith(
          applyMigrations(db.url, MIGRATIONS_DIR, { lockTimeoutMs: 300 }),
          'LOCKED',
          /held the lock .* 300 ms/,
        );
        const waiting = applyMigrations(db.url, MIGRATIONS_DIR, { lockTimeoutMs: 30_000 });
        await new Promise((resolve) => setTimeout(resolve, 300));
        await holder.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_KEY]);
        assert.ok((await waiting).applied.length > 0);
      });
    } finally {
      await db.drop();
    }
  });

  test('a database with tables but no migration history is refused (it needs a baseline)', async () => {
    const db = await createTestDatabase('notempty');
    try {
      await withClient(db.url, (client) => client.query('CREATE TABLE legacy (id INTEGER)'));
      await rejectsWith(
        applyMigrations(db.url, MIGRATIONS_DIR),
        'NOT_EMPTY',
        /has tables \(legacy\) but no migration history/,
      );
    } finally {
      await db.drop();
    }
  });

  test('a migrations folder for another database provider is refused', async () => {
    const copy = await copyOfMigrations();
    try {
      await writeFile(path.join(copy.dir, 'migration_lock.toml'), 'provider = "mysql"\n');
      await rejectsWith(readMigrations(copy.dir), 'INVALID_MIGRATIONS', /"mysql".*not postgresql/);
    } finally {
      await copy.cleanup();
    }
  });

  test('createDatabaseIfMissing creates once', async () => {
    const { name, url } = uniqueDatabaseUrl('create');
    try {
      assert.equal(await createDatabaseIfMissing(url), true);
      assert.equal(await createDatabaseIfMissing(url), false);
    } finally {
      await dropDatabase(name);
    }
  });
});

describe("interoperability with Prisma's own migrate deploy (schema engine, wasm build)", () => {
  test('after our applier, prisma migrate deploy finds nothing to apply', async () => {
    const db = await createTestDatabase('interop1');
    try {
      await applyMigrations(db.url, MIGRATIONS_DIR);
      const previous = await rows(db.url);
      assert.deepEqual(await deployMigrations(db.url, MIGRATIONS_DIR), []);
      assert.deepEqual(await rows(db.url), previous);
    } finally {
      await db.drop();
    }
  });

  test('after prisma migrate deploy, our applier finds nothing to apply and reads identical bookkeeping', async () => {
    const prismaDb = await createTestDatabase('interop2');
    const ourDb = await createTestDatabase('interop3');
    try {
      const files = await readMigrations(MIGRATIONS_DIR);
      assert.deepEqual(
        await deployMigrations(prismaDb.url, MIGRATIONS_DIR),
        files.map((file) => file.name),
      );
      const result = await applyMigrations(prismaDb.url, MIGRATIONS_DIR);
      assert.deepEqual(result.applied, []);
      assert.deepEqual(
        result.alreadyApplied,
        files.map((file) => file.name),
      );

      // Same table definition, same row contents (ids and times aside).
      await applyMigrations(ourDb.url, MIGRATIONS_DIR);
      const columnsOf = (url: string) =>
        withClient(
          url,
          async (client) =>
            (
              await client.query<Record<string, unknown>>(
                `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
                 FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
              )
            ).rows,
        );
      assert.deepEqual(await columnsOf(ourDb.url), await columnsOf(prismaDb.url));
      const essentials = async (url: string) =>
        (await rows(url)).map((row) => ({
          name: row.migration_name,
          checksum: row.checksum,
          steps: row.applied_steps_count,
          logs: row.logs,
          finished: row.finished_at !== null,
          rolledBack: row.rolled_back_at !== null,
        }));
      assert.deepEqual(await essentials(ourDb.url), await essentials(prismaDb.url));
    } finally {
      await prismaDb.drop();
      await ourDb.drop();
    }
  });
});
