import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { describeDatabase, pgErrorCode } from './database';

/**
 * Applies the checked-in migrations (prisma/migrations) and records them in `_prisma_migrations`
 * exactly as `prisma migrate deploy` does, so either tool can take over from the other. It exists
 * because Prisma's schema engine is a download this CI cannot make. What it copies from Prisma 7
 * (prisma-engines, schema-engine/…):
 *   - the table, byte for byte (flavour/postgres.rs `create_migrations_table`), created when missing
 *     and only in a database without other tables (otherwise Prisma asks for a baseline: P3005);
 *   - the advisory lock key 72707369 (flavour/postgres.rs `acquire_lock`), held for the whole run;
 *   - migrations = sub-directories of the migrations folder in name order, each `migration.sql`;
 *   - checksum = lowercase hex SHA-256 of the script (schema-connector/src/checksum.rs), compared
 *     ignoring CRLF/LF differences like `script_matches_checksum`;
 *   - a row per migration: uuid v4 id, checksum, migration_name, started_at, then
 *     applied_steps_count + 1 and finished_at; logs stay NULL (commands/apply_migrations.rs);
 *   - a migration counts as applied when a row has its name and no rolled_back_at; a row with
 *     neither finished_at nor rolled_back_at is a failed migration and stops everything (P3009).
 * Two things are stricter than Prisma: each migration and its row commit in one transaction (a
 * failure leaves nothing behind, so there is no failed row to resolve), and an applied migration
 * whose file changed is refused instead of ignored.
 */

/** Prisma Migrate's advisory lock key: "a unique number we chose to identify Migrate". */
export const PRISMA_MIGRATE_LOCK_KEY = 72707369;

/** Verbatim from prisma-engines (indoc! strips the indentation, keeps the final newline). */
export const CREATE_MIGRATIONS_TABLE = `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);
`;

export type MigrationErrorCode =
  | 'INVALID_MIGRATIONS' // the folder is not a migrations folder Prisma would accept
  | 'NOT_EMPTY' // tables but no _prisma_migrations: a baseline is needed first
  | 'FAILED_MIGRATION' // a previous run (Prisma's) failed half-way and was not resolved
  | 'CHECKSUM_MISMATCH' // an applied migration's file was edited
  | 'LOCKED' // another applier held the lock for longer than the timeout
  | 'APPLY_FAILED' // a migration's SQL failed (rolled back)
  | 'UNKNOWN_MIGRATION' // resolve --applied: no such migration in the folder
  | 'ALREADY_APPLIED' // resolve --applied: it is recorded as applied (Prisma's P3008)
  | 'NOT_FAILED'; // resolve --rolled-back: it is not a failed migration (Prisma's P3011/P3012)

export class MigrationError extends Error {
  constructor(
    readonly code: MigrationErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'MigrationError';
  }
}

export interface MigrationFile {
  /** The directory name, e.g. `20261121220308_init`. */
  name: string;
  script: string;
  checksum: string;
}

export interface ApplyOptions {
  /** How long to wait for another applier's lock (default 5 minutes; Prisma waits 10 s). */
  lockTimeoutMs?: number;
  /** Progress lines (one per applied migration). */
  log?: (line: string) => void;
}

export interface ApplyResult {
  /** Applied by this call, in order. */
  applied: string[];
  /** Already recorded as applied (checksums verified). */
  alreadyApplied: string[];
  /** Recorded in the database but absent from the folder: a newer release migrated it. */
  unknown: string[];
}

/** Lowercase hex SHA-256, as Prisma stores it. */
export function migrationChecksum(script: string | Uint8Array): string {
  return createHash('sha256').update(script).digest('hex');
}

/**
 * Prisma's `script_matches_checksum`: the file as is, with CRLF → LF and with LF → CRLF (git may
 * rewrite line endings), and the old non-zero-padded hex some early Prisma versions stored.
 */
export function scriptMatchesChecksum(script: string, checksum: string): boolean {
  const variants = [script, script.replaceAll('\r\n', '\n'), script.replaceAll('\n', '\r\n')];
  return variants.some((variant) => {
    const digest = createHash('sha256').update(variant).digest();
    const rendered =
      checksum.length !== 0 && checksum.length !== 64
        ? Array.from(digest, (byte) => byte.toString(16)).join('')
        : digest.toString('hex');
    return rendered === checksum;
  });
}

/** The migrations of a Prisma migrations folder, in the order Prisma applies them. */
export async function readMigrations(migrationsDir: string): Promise<MigrationFile[]> {
  let entries;
  try {
    entries = await readdir(migrationsDir, { withFileTypes: true });
  } catch (err) {
    throw new MigrationError(
      'INVALID_MIGRATIONS',
      `cannot read migrations folder ${migrationsDir}: ${String(err)}`,
    );
  }
  await checkLockfile(migrationsDir);
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const migrations: MigrationFile[] = [];
  for (const name of names) {
    const file = join(migrationsDir, name, 'migration.sql');
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch {
      throw new MigrationError('INVALID_MIGRATIONS', `migration ${name} has no migration.sql (${file})`);
    }
    let script: string;
    try {
      script = decoder.decode(bytes);
    } catch {
      throw new MigrationError('INVALID_MIGRATIONS', `migration ${name}: migration.sql is not valid UTF-8`);
    }
    migrations.push({ name, script, checksum: migrationChecksum(bytes) });
  }
  return migrations;
}

/** Like Prisma, refuse a folder whose lockfile names another database provider. */
async function checkLockfile(migrationsDir: string): Promise<void> {
  let lockfile: string;
  try {
    lockfile = await readFile(join(migrationsDir, 'migration_lock.toml'), 'utf8');
  } catch {
    return;
  }
  const provider = /^\s*provider\s*=\s*"([^"]*)"/m.exec(lockfile)?.[1];
  if (provider !== undefined && provider !== 'postgresql') {
    throw new MigrationError(
      'INVALID_MIGRATIONS',
      `${migrationsDir} holds migrations for "${provider}" (migration_lock.toml), not postgresql`,
    );
  }
}

interface MigrationRow {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  started_at: Date;
  logs: string | null;
}

/**
 * Applies every migration of `migrationsDir` not yet recorded in the database. Idempotent; safe to
 * run concurrently with itself or with `prisma migrate deploy` (same lock). The database must exist.
 */
export async function applyMigrations(
  databaseUrl: string,
  migrationsDir: string,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const migrations = await readMigrations(migrationsDir);
  const log = options.log ?? (() => undefined);
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await acquireLock(client, options.lockTimeoutMs ?? 5 * 60_000, databaseUrl);
    try {
      await initializeMigrationsTable(client, databaseUrl);
      const rows = (
        await client.query<MigrationRow>(
          'SELECT id, checksum, migration_name, finished_at, rolled_back_at, started_at, logs ' +
            'FROM _prisma_migrations ORDER BY started_at ASC',
        )
      ).rows;
      refuseFailedMigrations(rows);
      const live = rows.filter((row) => row.rolled_back_at === null);
      const result: ApplyResult = { applied: [], alreadyApplied: [], unknown: [] };
      const pending: MigrationFile[] = [];
      for (const migration of migrations) {
        const row = live.find((candidate) => candidate.migration_name === migration.name);
        if (!row) {
          pending.push(migration);
          continue;
        }
        if (!scriptMatchesChecksum(migration.script, row.checksum)) {
          throw new MigrationError(
            'CHECKSUM_MISMATCH',
            `migration ${migration.name} was modified after it was applied to ${describeDatabase(databaseUrl)} ` +
              `(recorded checksum ${row.checksum}, file ${migration.checksum}); ` +
              'restore the file and put the change in a new migration',
          );
        }
        result.alreadyApplied.push(migration.name);
      }
      const known = new Set(migrations.map((migration) => migration.name));
      result.unknown = [...new Set(live.map((row) => row.migration_name))].filter((name) => !known.has(name));
      for (const migration of pending) {
        await applyOne(client, migration);
        result.applied.push(migration.name);
        log(`applied ${migration.name}`);
      }
      return result;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

async function acquireLock(client: Client, timeoutMs: number, databaseUrl: string): Promise<void> {
  // A session lock, as Prisma takes it; lock_timeout bounds the wait (it applies to advisory locks).
  await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_KEY]);
  } catch (err) {
    if (pgErrorCode(err) === '55P03') {
      throw new MigrationError(
        'LOCKED',
        `another migration run held the lock on ${describeDatabase(databaseUrl)} for more than ${timeoutMs} ms`,
      );
    }
    throw err;
  } finally {
    // Migrations themselves may wait for locks held by running queries, as under Prisma.
    await client.query('RESET lock_timeout');
  }
}

async function initializeMigrationsTable(client: Client, databaseUrl: string): Promise<void> {
  const tables = (
    await client.query<{ tablename: string }>(
      'SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() ORDER BY tablename',
    )
  ).rows.map((row) => row.tablename);
  if (tables.includes('_prisma_migrations')) return;
  if (tables.length > 0) {
    throw new MigrationError(
      'NOT_EMPTY',
      `${describeDatabase(databaseUrl)} has tables (${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', …' : ''}) ` +
        'but no migration history; if it already has the schema of a migration, baseline it first ' +
        '(npm run db:resolve -- --applied <migration>; npm run db:status lists them)',
    );
  }
  await client.query(CREATE_MIGRATIONS_TABLE);
}

function refuseFailedMigrations(rows: MigrationRow[]): void {
  const failed = rows.filter((row) => row.finished_at === null && row.rolled_back_at === null);
  if (failed.length === 0) return;
  const details = failed
    .map((row) => {
      const logs = row.logs?.trim();
      return `${row.migration_name} (started ${row.started_at.toISOString()})${logs ? `: ${logs}` : ''}`;
    })
    .join('; ');
  throw new MigrationError(
    'FAILED_MIGRATION',
    `a previous migration run failed: ${details}; fix the database, then mark it with ` +
      'npm run db:resolve -- --rolled-back <migration> (undone: it is applied again) or ' +
      '--applied <migration> (completed by hand); npm run db:status shows the state',
  );
}

/** One migration and its `_prisma_migrations` row, in one transaction. */
async function applyOne(client: Client, migration: MigrationFile): Promise<void> {
  await client.query('BEGIN');
  try {
    const id = randomUUID();
    await client.query(
      'INSERT INTO _prisma_migrations (id, checksum, started_at, migration_name) VALUES ($1, $2, clock_timestamp(), $3)',
      [id, migration.checksum, migration.name],
    );
    // No parameters: node-postgres sends the script with the simple-query protocol, which runs
    // several statements, as Prisma's engine does (simple_query).
    await client.query(migration.script);
    await client.query(
      'UPDATE _prisma_migrations SET applied_steps_count = applied_steps_count + 1, finished_at = clock_timestamp() ' +
        'WHERE id = $1',
      [id],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    const code = pgErrorCode(err);
    throw new MigrationError(
      'APPLY_FAILED',
      `migration ${migration.name} failed and was rolled back: ${err instanceof Error ? err.message : String(err)}` +
        (code ? ` (SQLSTATE ${code})` : ''),
    );
  }
}

export interface FailedMigration {
  name: string;
  startedAt: Date;
  logs: string | null;
}

/** What `npm run db:status` reports: the folder against `_prisma_migrations`. */
export interface MigrationStatus {
  /** False when the database has no `_prisma_migrations` table yet. */
  hasHistory: boolean;
  /** Without a history: the tables it has (none: `db:migrate` starts from scratch). */
  tables: string[];
  /** In the folder and applied, checksum verified. */
  applied: string[];
  /** In the folder, not applied: the next `db:migrate` applies them. */
  pending: string[];
  /** Started and neither finished nor rolled back: `db:migrate` refuses to run until resolved. */
  failed: FailedMigration[];
  /** Applied, but the file changed since: `db:migrate` refuses to run. */
  modified: string[];
  /** Applied but not in the folder: the database is ahead of this release. */
  unknown: string[];
}

/** Nothing to do and nothing in the way: what a deploy script waits for. */
export function isUpToDate(status: MigrationStatus): boolean {
  return (
    status.pending.length === 0 &&
    status.failed.length === 0 &&
    status.modified.length === 0 &&
    (status.hasHistory || status.tables.length === 0)
  );
}

async function withMigrationsClient<T>(
  databaseUrl: string,
  lockTimeoutMs: number,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await acquireLock(client, lockTimeoutMs, databaseUrl);
    try {
      return await fn(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

async function userTables(client: Client): Promise<string[]> {
  return (
    await client.query<{ tablename: string }>(
      'SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() ORDER BY tablename',
    )
  ).rows.map((row) => row.tablename);
}

async function migrationRows(client: Client): Promise<MigrationRow[]> {
  return (
    await client.query<MigrationRow>(
      'SELECT id, checksum, migration_name, finished_at, rolled_back_at, started_at, logs ' +
        'FROM _prisma_migrations ORDER BY started_at ASC',
    )
  ).rows;
}

/**
 * The state `prisma migrate status` reports, read under Migrate's lock (so never half-way through
 * an applier's run). Reads only: it never creates the table or the database.
 */
export async function migrationStatus(
  databaseUrl: string,
  migrationsDir: string,
  options: Pick<ApplyOptions, 'lockTimeoutMs'> = {},
): Promise<MigrationStatus> {
  const migrations = await readMigrations(migrationsDir);
  return withMigrationsClient(databaseUrl, options.lockTimeoutMs ?? 30_000, async (client) => {
    const tables = await userTables(client);
    const status: MigrationStatus = {
      hasHistory: tables.includes('_prisma_migrations'),
      tables: tables.filter((name) => name !== '_prisma_migrations'),
      applied: [],
      pending: [],
      failed: [],
      modified: [],
      unknown: [],
    };
    if (!status.hasHistory) {
      status.pending = migrations.map((migration) => migration.name);
      return status;
    }
    const rows = await migrationRows(client);
    status.failed = rows
      .filter((row) => row.finished_at === null && row.rolled_back_at === null)
      .map((row) => ({ name: row.migration_name, startedAt: row.started_at, logs: row.logs }));
    const failedNames = new Set(status.failed.map((failed) => failed.name));
    const done = rows.filter((row) => row.finished_at !== null && row.rolled_back_at === null);
    for (const migration of migrations) {
      const row = done.find((candidate) => candidate.migration_name === migration.name);
      if (row) {
        (scriptMatchesChecksum(migration.script, row.checksum) ? status.applied : status.modified).push(
          migration.name,
        );
      } else if (!failedNames.has(migration.name)) {
        status.pending.push(migration.name);
      }
    }
    const known = new Set(migrations.map((migration) => migration.name));
    status.unknown = [...new Set(done.map((row) => row.migration_name))].filter((name) => !known.has(name));
    return status;
  });
}

/**
 * `prisma migrate resolve --applied <name>`: records a migration as applied without running it — a
 * failed one completed by hand, or the baseline of a database that already has its schema (the
 * history table is created when missing). Any failed attempt of it is marked rolled back, like
 * Prisma does; the row has Prisma's shape (finished now, 0 applied steps).
 */
export async function markMigrationApplied(
  databaseUrl: string,
  migrationsDir: string,
  name: string,
  options: Pick<ApplyOptions, 'lockTimeoutMs'> = {},
): Promise<void> {
  const migration = (await readMigrations(migrationsDir)).find((candidate) => candidate.name === name);
  if (!migration) {
    throw new MigrationError('UNKNOWN_MIGRATION', `there is no migration ${name} in ${migrationsDir}`);
  }
  await withMigrationsClient(databaseUrl, options.lockTimeoutMs ?? 30_000, async (client) => {
    if (!(await userTables(client)).includes('_prisma_migrations'))
      await client.query(CREATE_MIGRATIONS_TABLE);
    const rows = (await migrationRows(client)).filter((row) => row.migration_name === name);
    if (rows.some((row) => row.finished_at !== null && row.rolled_back_at === null)) {
      throw new MigrationError(
        'ALREADY_APPLIED',
        `migration ${name} is already recorded as applied in ${describeDatabase(databaseUrl)}`,
      );
    }
    await client.query('BEGIN');
    try {
      await client.query(
        'UPDATE _prisma_migrations SET rolled_back_at = now() ' +
          'WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL',
        [name],
      );
      await client.query(
        'INSERT INTO _prisma_migrations (id, checksum, started_at, finished_at, migration_name, applied_steps_count) ' +
          'VALUES ($1, $2, now(), now(), $3, 0)',
        [randomUUID(), migration.checksum, name],
      );
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}

/**
 * `prisma migrate resolve --rolled-back <name>`: records that a failed migration was undone, so
 * the next `db:migrate` applies it again. Only a failed migration can be marked so.
 */
export async function markMigrationRolledBack(
  databaseUrl: string,
  name: string,
  options: Pick<ApplyOptions, 'lockTimeoutMs'> = {},
): Promise<void> {
  await withMigrationsClient(databaseUrl, options.lockTimeoutMs ?? 30_000, async (client) => {
    const hasHistory = (await userTables(client)).includes('_prisma_migrations');
    const rows = hasHistory ? (await migrationRows(client)).filter((row) => row.migration_name === name) : [];
    if (!rows.some((row) => row.finished_at === null && row.rolled_back_at === null)) {
      throw new MigrationError(
        'NOT_FAILED',
        rows.length === 0
          ? `migration ${name} was never applied to ${describeDatabase(databaseUrl)}: nothing to roll back`
          : `migration ${name} is not in a failed state in ${describeDatabase(databaseUrl)}: only a failed migration can be marked rolled back`,
      );
    }
    await client.query(
      'UPDATE _prisma_migrations SET rolled_back_at = now() ' +
        'WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL',
      [name],
    );
  });
}
