/**
 * DRIFT: prisma/schema.prisma is the data model; prisma/migrations must build exactly that database.
 * Two independent checks, each failing with the list of differences:
 *
 *  1. Catalog vs model — apply the migrations (our applier) to a fresh database, read tables,
 *     columns (type, nullability, default), enums and their values, primary keys, indexes (unique,
 *     columns, order, method) and foreign keys (columns, target, ON DELETE/UPDATE) from pg_catalog,
 *     and compare them with what the schema's DMMF implies under Prisma's Postgres conventions.
 *  2. Prisma's own verdict — Prisma's schema engine (wasm build of `prisma migrate diff
 *     --from-migrations --to-schema --exit-code`) replays the migrations in a shadow database and
 *     diffs them against the schema; its answer must be "empty migration". On failure it prints the
 *     SQL `prisma migrate dev` would add (`npm run db:migration -- <name>` writes it).
 *
 * Each check also runs once against a deliberately drifted copy of the schema, so a check that
 * silently stopped seeing differences fails too.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { applyMigrations } from '@vaultline/db';
import { diffMigrations } from '../../libs/db/src/schema-engine';
import { diffCatalogs, expectedCatalog, introspectCatalog, type Catalog } from '../support/db-catalog';
import {
  createTestDatabase,
  MIGRATIONS_DIR,
  SCHEMA_PATH,
  withClient,
  type TestDatabase,
} from '../support/postgres';

/** schema.prisma with one more optional column on Plan: the smallest drift there is. */
function drifted(schema: string): string {
  const out = schema.replace(/(\nmodel Plan \{\n)/, '$1  driftProbe String? @map("drift_probe")\n');
  assert.notEqual(out, schema, 'the drift probe must find model Plan');
  return out;
}

const explain = (differences: string[]): string =>
  `prisma/schema.prisma and prisma/migrations disagree:\n  - ${differences.join('\n  - ')}\n` +
  'Write a migration for the schema change (npm run db:migration -- <name>, or prisma migrate dev ' +
  '--create-only where Prisma can download its engine); never edit an applied migration.';

describe('drift between schema.prisma and the migrations: catalog vs model', () => {
  let db: TestDatabase;
  let actual: Catalog;
  before(async () => {
    db = await createTestDatabase('drift');
    await applyMigrations(db.url, MIGRATIONS_DIR);
    actual = await withClient(db.url, introspectCatalog);
  });
  after(() => db.drop());

  test('the migrated database is exactly what schema.prisma describes', async () => {
    const expected = expectedCatalog(await readFile(SCHEMA_PATH, 'utf8'));
    assert.ok(expected.tables.size > 0 && expected.enums.size > 0);
    const differences = diffCatalogs(expected, actual);
    assert.deepEqual(differences, [], explain(differences));
  });

  test('self-check: a field added to the schema only is reported, by table and column', async () => {
    const expected = expectedCatalog(drifted(await readFile(SCHEMA_PATH, 'utf8')));
    assert.deepEqual(diffCatalogs(expected, actual), [
      'column plans.drift_probe: in schema.prisma, missing from the migrations',
    ]);
  });

  test('self-check: what the migrations add behind the schema’s back is reported too', async () => {
    const expected = expectedCatalog(await readFile(SCHEMA_PATH, 'utf8'));
    await withClient(db.url, async (client) => {
      await client.query('BEGIN');
      try {
        await client.query('CREATE INDEX "runs_status_idx" ON "runs" ("status")');
        await client.query('ALTER TABLE "plans" ALTER COLUMN "timezone" DROP NOT NULL');
        await client.query(`ALTER TYPE "arch" ADD VALUE 'mips64'`);
        await client.query('ALTER TABLE "snapshots" ADD CONSTRAINT "files_positive" CHECK ("files" >= 0)');
        const differences = diffCatalogs(expected, await introspectCatalog(client));
        assert.deepEqual(differences.sort(), [
          'column plans.timezone: nullable is false in schema.prisma but true after the migrations',
          'constraint snapshots.files_positive (check): created by the migrations, not expressible in schema.prisma',
          'enum arch: values ["x86_64","arm64","riscv64","other"] in schema.prisma, ["x86_64","arm64","riscv64","other","mips64"] after the migrations',
          'index runs.runs_status_idx: created by the migrations, not in schema.prisma',
        ]);
      } finally {
        await client.query('ROLLBACK');
      }
    });
  });
});

describe("drift between schema.prisma and the migrations: Prisma's own diff", () => {
  let serverDb: TestDatabase;
  before(async () => {
    serverDb = await createTestDatabase('engine'); // only names the server; shadow databases go next to it
  });
  after(() => serverDb.drop());

  test('prisma migrate diff --from-migrations --to-schema finds nothing to add', async () => {
    const diff = await diffMigrations({
      serverUrl: serverDb.url,
      migrationsDir: MIGRATIONS_DIR,
      schemaPath: SCHEMA_PATH,
      format: 'summary',
    });
    if (!diff.empty) {
      const sql = await diffMigrations({
        serverUrl: serverDb.url,
        migrationsDir: MIGRATIONS_DIR,
        schemaPath: SCHEMA_PATH,
      });
      assert.fail(`${explain([diff.output.trim()])}\nThe missing migration:\n${sql.output}`);
    }
  });

  test('self-check: the drifted schema gets the migration Prisma would write', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vaultline-drift-'));
    try {
      const schemaPath = path.join(dir, 'schema.prisma');
      await writeFile(schemaPath, drifted(await readFile(SCHEMA_PATH, 'utf8')));
      const diff = await diffMigrations({
        serverUrl: serverDb.url,
        migrationsDir: MIGRATIONS_DIR,
        schemaPath,
      });
      assert.equal(diff.empty, false);
      assert.equal(
        diff.output.trim(),
        '-- AlterTable\nALTER TABLE "plans" ADD COLUMN     "drift_probe" TEXT;',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
