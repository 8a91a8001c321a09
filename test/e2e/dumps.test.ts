/**
 * End to end, real processes (API, report, worker from scripts/fleet.ts) and this machine's real
 * PostgreSQL and MariaDB: services with dump sources (the built-in presets, expanded by the API)
 * are backed up with their database dumps in the snapshot; the tables are dropped; a restore
 * through the API runs pg_restore / mariadb with the dump and the rows are back. A dump command
 * that fails fails its own service's backup only, with DUMP_FAILED. A restore into another folder
 * gives the dump back as a file instead of touching the database.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client } from 'pg';

import { QUEUES } from '@vaultline/contracts';

import type { ApiClient } from '../../scripts/fleet';
import { startE2eFleet, type E2eFleet } from '../support/e2e-fleet';

const PASSWORD = 'dumps e2e password';
const ARCH = process.arch === 'arm64' ? 'arm64' : 'x86_64';
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const DB = `vl_dump_${randomBytes(4).toString('hex')}`;

/** Runs SQL with the mariadb client over TCP as root (empty password, as ENVIRONMENT.md has it). */
function maria(sql: string, db?: string): string {
  return execFileSync(
    'mariadb',
    ['-h', '127.0.0.1', '--user=root', '--batch', '--skip-column-names', ...(db ? [db] : []), '-e', sql],
    {
      encoding: 'utf8',
    },
  );
}

function mariaAvailable(): string | false {
  try {
    maria('SELECT 1');
    return false;
  } catch (err) {
    return `MariaDB is not reachable on 127.0.0.1:3306 (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
  }
}

interface RunView {
  id: string;
  backups: { serviceName: string; status: string; error: string | null }[];
}

describe(
  'database dumps, end to end (real PostgreSQL and MariaDB)',
  { timeout: 5 * 60_000, skip: mariaAvailable() },
  () => {
    let e2e: E2eFleet;
    let api: ApiClient;
    let admin: Client;
    let pg: Client;
    let dir: string;
    // Restores into another folder must be inside a restore root the API knows from the start.
    const restoreRoot = mkdtempSync(join(tmpdir(), 'vl-dump-restores-'));

    before(async () => {
      admin = new Client({ ...PG, database: 'postgres' });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${DB}`);
      pg = new Client({ ...PG, database: DB });
      await pg.connect();
      await pg.query('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)');
      await pg.query("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g");
      maria(`CREATE DATABASE ${DB}`);
      maria(
        "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT NOT NULL); INSERT INTO notes VALUES (1, 'one'), (2, 'two'), (3, 'three');",
        DB,
      );

      e2e = await startE2eFleet('e2e-dumps', {
        queue: QUEUES.backup,
        dirs: ['drive', 'svc/pg', 'svc/maria', 'svc/broken'],
        fleet: {
          workers: 1,
          env: { BACKUP_RETRY_DELAY_MS: '200' },
          roleEnv: { api: { VAULTLINE_RESTORE_ROOTS: restoreRoot } },
        },
      });
      api = e2e.api;
      dir = e2e.tmp.path;
    });

    after(async () => {
      await e2e?.stop();
      rmSync(restoreRoot, { recursive: true, force: true });
      await pg?.end();
      await admin?.query(`DROP DATABASE IF EXISTS ${DB}`).catch(() => undefined);
      await admin?.end();
      try {
        maria(`DROP DATABASE IF EXISTS ${DB}`);
      } catch {
        // the suite was skipped or MariaDB went away
      }
    });

    test('dumped, dropped, restored through the API: the rows are back; a failing dump fails only its service', async () => {
      const target = await api.expect<{ id: string }>(
        'POST',
        '/v1/targets',
        { name: 'drive', kind: 'local', path: join(dir, 'drive') },
        201,
      );
      const service = async (name: string, dumps: unknown[]) => {
        const path = join(dir, 'svc', name);
        writeFileSync(join(path, 'config.yml'), `name: ${name}\n`);
        return api.expect<{
          id: string;
          dumps: { name: string; argv: string[]; restoreArgv?: string[] | null }[];
        }>('POST', '/v1/services', { name, dataPath: path, arch: ARCH, dumps }, 201);
      };
      const pgSvc = await service('pg', [{ preset: 'postgres', database: DB, host: PG.host, user: PG.user }]);
      // The preset is stored as plain commands, which the user can read and edit.
      assert.deepEqual(pgSvc.dumps[0], {
        name: `postgres/${DB}.dump`,
        argv: [
          'pg_dump',
          '--format=custom',
          '--no-password',
          '--host=127.0.0.1',
          '--username=postgres',
          `--dbname=${DB}`,
        ],
        restoreArgv: [
          'pg_restore',
          '--clean',
          '--if-exists',
          '--no-password',
          '--host=127.0.0.1',
          '--username=postgres',
          `--dbname=${DB}`,
        ],
      });
      const mariaSvc = await service('maria', [
        { preset: 'mariadb', database: DB, host: '127.0.0.1', user: 'root' },
      ]);
      const broken = await service('broken', [
        {
          name: 'broken/db.sql',
          argv: [process.execPath, '-e', 'process.stdout.write("half a dump"); process.exit(3)'],
        },
      ]);

      const plan = await api.expect<{ id: string }>(
        'POST',
        '/v1/plans',
        {
          name: 'dumps',
          schedule: { frequency: 'daily', time: '03:00', timezone: 'UTC' },
          retention: { keepLast: 10 },
          targetIds: [target.id],
          serviceIds: [pgSvc.id, mariaSvc.id, broken.id],
          password: PASSWORD,
          passwordConfirmation: PASSWORD,
        },
        201,
      );
      const started = await api.expect<{ id: string }>('POST', `/v1/plans/${plan.id}/runs`, undefined, 202);
      const report = await api.waitFor<{ status: string }>(
        `/v1/runs/${started.id}/report`,
        () => true,
        180_000,
      );
      assert.equal(report.status, 'partial');
      const run = await api.expect<RunView>('GET', `/v1/runs/${started.id}`, undefined, 200);
      const byName = new Map(run.backups.map((b) => [b.serviceName, b]));
      assert.equal(byName.get('pg')?.status, 'success', JSON.stringify(byName.get('pg')));
      assert.equal(byName.get('maria')?.status, 'success', JSON.stringify(byName.get('maria')));
      assert.equal(byName.get('broken')?.status, 'failed');
      assert.match(
        byName.get('broken')?.error ?? '',
        /^DUMP_FAILED: dump broken\/db\.sql: .* exited with code 3/,
      );

      // The databases lose their tables (and the data folder its file).
      await pg.query('DROP TABLE items');
      maria('DROP TABLE notes', DB);

      const restore = async (body: object) => {
        const r = await api.expect<{ id: string }>(
          'POST',
          '/v1/restores',
          { password: PASSWORD, ...body },
          202,
        );
        return api.waitFor<{ status: string; error: string | null; warnings: string[] }>(
          `/v1/restores/${r.id}`,
          (v) => v.status === 'success' || v.status === 'failed',
        );
      };
      for (const svc of [pgSvc, mariaSvc]) {
        const done = await restore({ serviceId: svc.id });
        assert.equal(done.status, 'success', JSON.stringify(done));
      }
      const rows = await pg.query<{ n: string; last: string }>(
        'SELECT count(*) AS n, max(name) AS last FROM items',
      );
      assert.equal(rows.rows[0]?.n, '500');
      assert.equal(maria('SELECT group_concat(body ORDER BY id) FROM notes', DB).trim(), 'one,two,three');
      // The dump went to the database, not into the service's folder.
      assert.equal(existsSync(join(dir, 'svc', 'pg', '.vaultline-dumps')), false);
      assert.equal(readFileSync(join(dir, 'svc', 'pg', 'config.yml'), 'utf8'), 'name: pg\n');

      // Into another folder: the dump comes back as a file, the database is left alone.
      await pg.query("INSERT INTO items VALUES (501, 'after the backup')");
      const elsewhere = join(restoreRoot, 'pg-copy');
      mkdirSync(elsewhere, { recursive: true });
      const copy = await restore({ serviceId: pgSvc.id, destination: elsewhere });
      assert.equal(copy.status, 'success', JSON.stringify(copy));
      const file = readFileSync(join(elsewhere, '.vaultline-dumps', 'postgres', `${DB}.dump`));
      assert.equal(file.subarray(0, 5).toString(), 'PGDMP', 'a pg_dump custom-format file');
      assert.equal((await pg.query<{ n: string }>('SELECT count(*) AS n FROM items')).rows[0]?.n, '501');
    });
  },
);
