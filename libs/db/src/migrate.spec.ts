import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { databaseName, describeDatabase, withDatabase } from './database';
import { MigrationError, migrationChecksum, readMigrations, scriptMatchesChecksum } from './migrate';
import { migrationDirectoryName } from './new-migration-main';

describe('checksums, as Prisma computes and compares them', () => {
  test("SHA-256 lowercase hex (prisma-engines' own test vector)", () => {
    assert.equal(
      migrationChecksum('hello'),
      '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    );
    assert.equal(migrationChecksum(Buffer.from('hello')), migrationChecksum('hello'));
  });

  test('line endings do not matter, content does', () => {
    for (const a of ['ab\ncd\nef\n', 'ab\r\ncd\r\nef\r\n']) {
      for (const b of ['ab\ncd\nef\n', 'ab\r\ncd\r\nef\r\n'])
        assert.ok(scriptMatchesChecksum(a, migrationChecksum(b)));
    }
    assert.ok(!scriptMatchesChecksum('abc\n', migrationChecksum('abc')));
    assert.ok(!scriptMatchesChecksum('abc', migrationChecksum('abcd')));
  });

  test('the unpadded hex of early Prisma versions still matches', () => {
    const unpadded = Array.from(Buffer.from(migrationChecksum('hello'), 'hex'), (byte) =>
      byte.toString(16),
    ).join('');
    assert.ok(unpadded.length < 64);
    assert.ok(scriptMatchesChecksum('hello', unpadded));
  });
});

describe('readMigrations', () => {
  test('directories in name order, files and stray entries ignored, checksums of the bytes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vaultline-migrations-'));
    try {
      for (const name of ['20260102000000_second', '20260101000000_first']) {
        await mkdir(path.join(dir, name));
        await writeFile(path.join(dir, name, 'migration.sql'), `-- ${name}\n`);
      }
      await writeFile(path.join(dir, 'migration_lock.toml'), 'provider = "postgresql"\n');
      await writeFile(path.join(dir, 'README'), 'not a migration');
      const found = await readMigrations(dir);
      assert.deepEqual(
        found.map((m) => m.name),
        ['20260101000000_first', '20260102000000_second'],
      );
      assert.equal(found[0]?.checksum, migrationChecksum('-- 20260101000000_first\n'));

      await mkdir(path.join(dir, '20260103000000_empty'));
      await assert.rejects(
        readMigrations(dir),
        (err: unknown) => err instanceof MigrationError && /has no migration\.sql/.test(err.message),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('database URLs', () => {
  test('messages never show credentials', () => {
    const url = 'postgresql://vault:s3cret@db.internal:6543/catalog?sslmode=require';
    assert.equal(describeDatabase(url), 'db.internal:6543/catalog');
    assert.equal(databaseName(url), 'catalog');
    assert.equal(databaseName(withDatabase(url, 'postgres')), 'postgres');
    assert.match(
      withDatabase(url, 'postgres'),
      /^postgresql:\/\/vault:s3cret@db\.internal:6543\/postgres\?sslmode=require$/,
    );
  });

  test('new migration directories are named like Prisma’s', () => {
    assert.equal(
      migrationDirectoryName('add run error', new Date('2026-11-21T22:03:08.512Z')),
      '20261121220308_add_run_error',
    );
  });
});
