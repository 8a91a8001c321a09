/**
 * `npm run db:status` and `npm run db:resolve` (libs/db migrations-main.ts, migrate.ts) against a
 * real PostgreSQL, as processes with the exit codes scripts use: up to date, pending, a failed
 * migration marked rolled back or applied, a baseline of a database that has tables but no history.
 * Prisma's own engine (wasm) checks that it accepts what resolve records.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { applyMigrations, CREATE_MIGRATIONS_TABLE, migrationStatus, readMigrations } from '@vaultline/db';
import { deployMigrations } from '../../libs/db/src/schema-engine';
import { createTestDatabase, MIGRATIONS_DIR, ROOT, uniqueDatabaseUrl, withClient } from '../support/postgres';

const MAIN = path.join(ROOT, 'dist', 'libs', 'db', 'src', 'migrations-main.js');

function cli(
  databaseUrl: string,
  ...args: string[]
): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [MAIN, ...args], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const insertFailed = (url: string, name: string): Promise<unknown> =>
  withClient(url, (client) =>
    client.query(
      "INSERT INTO _prisma_migrations (id, checksum, migration_name, logs) VALUES (gen_random_uuid(), $1, $2, 'ERROR: boom')",
      ['0'.repeat(64), name],
    ),
  );

describe('db:status and db:resolve', () => {
  test('status: pending (3) on an empty database, up to date (0) after db:migrate', async () => {
    const db = await createTestDatabase('status');
    try {
      const names = (await readMigrations(MIGRATIONS_DIR)).map((migration) => migration.name);
      const before = cli(db.url, 'status');
      assert.equal(before.code, 3, before.stdout + before.stderr);
      assert.match(before.stdout, new RegExp(`pending \\(npm run db:migrate applies them\\): ${names[0]}`));
      await applyMigrations(db.url, MIGRATIONS_DIR);
      const after = cli(db.url, 'status');
      assert.equal(after.code, 0, after.stdout + after.stderr);
      assert.match(after.stdout, new RegExp(`is up to date \\(${names.length} migrations applied\\)`));
    } finally {
      await db.drop();
    }
  });

  test('a failed migration: status 4 names both resolve commands; --rolled-back lets db:migrate retry it', async () => {
    const db = await createTestDatabase('resolverb');
    try {
      const [first] = (await readMigrations(MIGRATIONS_DIR)).map((migration) => migration.name);
      assert.ok(first);
      await withClient(db.url, (client) => client.query(CREATE_MIGRATIONS_TABLE));
      await insertFailed(db.url, first);
      const status = cli(db.url, 'status');
      assert.equal(status.code, 4, status.stdout);
      assert.match(status.stdout, new RegExp(`failed: ${first} .*ERROR: boom`));
      assert.match(status.stdout, new RegExp(`npm run db:resolve -- --rolled-back ${first}`));
      assert.match(status.stdout, new RegExp(`npm run db:resolve -- --applied ${first}`));
      // The applier refuses, naming the commands.
      await assert.rejects(applyMigrations(db.url, MIGRATIONS_DIR), /npm run db:resolve -- --rolled-back/);

      const resolved = cli(db.url, 'resolve', '--rolled-back', first);
      assert.equal(resolved.code, 0, resolved.stdout + resolved.stderr);
      assert.match(resolved.stdout, new RegExp(`recorded ${first} as rolled back`));
      // Not failed any more: a second --rolled-back is refused (1).
      const again = cli(db.url, 'resolve', '--rolled-back', first);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /not in a failed state/);
      assert.equal(cli(db.url, 'status').code, 3);
      assert.ok((await applyMigrations(db.url, MIGRATIONS_DIR)).applied.includes(first));
      assert.equal(cli(db.url, 'status').code, 0);
    } finally {
      await db.drop();
    }
  });

  test('a baseline: tables without history (4), --applied records them and Prisma agrees', async () => {
    const db = await createTestDatabase('baseline');
    try {
      const names = (await readMigrations(MIGRATIONS_DIR)).map((migration) => migration.name);
      // The schema without the history, as a database created by hand or restored from a dump.
      await applyMigrations(db.url, MIGRATIONS_DIR);
      await withClient(db.url, (client) => client.query('DROP TABLE _prisma_migrations'));
      const status = cli(db.url, 'status');
      assert.equal(status.code, 4, status.stdout);
      assert.match(status.stdout, /but no migration history/);
      assert.match(status.stdout, /npm run db:resolve -- --applied <migration>/);
      await assert.rejects(applyMigrations(db.url, MIGRATIONS_DIR), /npm run db:resolve -- --applied/);

      for (const name of names) {
        const marked = cli(db.url, 'resolve', '--applied', name);
        assert.equal(marked.code, 0, marked.stdout + marked.stderr);
      }
      const twice = cli(db.url, 'resolve', '--applied', names[0]!);
      assert.equal(twice.code, 1);
      assert.match(twice.stderr, /already recorded as applied/);
      assert.equal(cli(db.url, 'status').code, 0);
      const status2 = await migrationStatus(db.url, MIGRATIONS_DIR);
      assert.deepEqual(status2.applied, names);
      // Prisma's own migrate deploy reads the same bookkeeping: nothing to apply.
      assert.deepEqual(await deployMigrations(db.url, MIGRATIONS_DIR), []);
      assert.deepEqual((await applyMigrations(db.url, MIGRATIONS_DIR)).applied, []);
    } finally {
      await db.drop();
    }
  });

  test('usage errors exit 2; an unknown migration or an unreachable database exits 1', async () => {
    const db = await createTestDatabase('usage');
    try {
      assert.equal(cli(db.url, 'resolve').code, 2);
      assert.equal(cli(db.url, 'resolve', '--applied', 'a', '--rolled-back', 'b').code, 2);
      assert.equal(cli(db.url, 'status', '--bogus').code, 2);
      const unknown = cli(db.url, 'resolve', '--applied', '20000101000000_nope');
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no migration 20000101000000_nope/);
      const missing = cli(uniqueDatabaseUrl('missing').url, 'status');
      assert.equal(missing.code, 3, missing.stdout + missing.stderr);
      assert.match(missing.stdout, /does not exist: npm run db:migrate creates it/);
      const down = cli('postgresql://postgres@127.0.0.1:1/nowhere', 'status');
      assert.equal(down.code, 1);
      assert.match(down.stderr, /^db:status: cannot check the database/);
    } finally {
      await db.drop();
    }
  });
});
