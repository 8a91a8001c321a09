import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { dumpPresetInputSchema, dumpSourcesSchema, expandDumpPreset } from './dumps';

describe('dump sources', () => {
  test('presets become plain commands, without a shell or a password', () => {
    const pg = expandDumpPreset(
      dumpPresetInputSchema.parse({ preset: 'postgres', database: 'app', port: 5433 }),
    );
    assert.deepEqual(pg, {
      name: 'postgres/app.dump',
      argv: ['pg_dump', '--format=custom', '--no-password', '--port=5433', '--dbname=app'],
      restoreArgv: ['pg_restore', '--clean', '--if-exists', '--no-password', '--port=5433', '--dbname=app'],
    });
    const maria = expandDumpPreset(
      dumpPresetInputSchema.parse({ preset: 'mariadb', database: 'wp', user: 'wp' }),
    );
    assert.equal(maria.name, 'mariadb/wp.sql');
    assert.deepEqual(maria.restoreArgv, ['mariadb', '--user=wp', 'wp']);
    assert.equal(
      expandDumpPreset(dumpPresetInputSchema.parse({ preset: 'mysql', database: 'x' })).argv[0],
      'mysqldump',
    );
    const redis = expandDumpPreset(
      dumpPresetInputSchema.parse({ preset: 'redis', host: 'cache', port: 6380 }),
    );
    assert.deepEqual(redis.argv, ['redis-cli', '-h', 'cache', '-p', '6380', '--rdb', '-']);
    assert.equal(redis.restoreArgv, null);
  });

  test('preset input is strict: a database where one is needed, names without shell syntax', () => {
    for (const bad of [
      { preset: 'postgres' },
      { preset: 'postgres', database: 'a; rm -rf /' },
      { preset: 'oracle', database: 'x' },
      { preset: 'redis', password: 'x' },
      { preset: 'mariadb', database: 'x', user: '$(id)' },
    ]) {
      assert.equal(dumpPresetInputSchema.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });

  test('names are safe relative paths, unique, and no name is the folder of another', () => {
    const src = (name: string) => ({ name, argv: ['true'] });
    assert.equal(dumpSourcesSchema.safeParse([src('pg/a.dump'), src('pg/b.dump')]).success, true);
    for (const bad of ['../x', '/abs', 'a//b', 'a/./b', 'a/..', 'with space', 'a\\b', '']) {
      assert.equal(dumpSourcesSchema.safeParse([src(bad)]).success, false, bad);
    }
    assert.equal(dumpSourcesSchema.safeParse([src('a'), src('a')]).success, false, 'twice');
    assert.equal(dumpSourcesSchema.safeParse([src('a'), src('a/b')]).success, false, 'a file and a folder');
    assert.equal(dumpSourcesSchema.safeParse([{ name: 'a', argv: [] }]).success, false, 'no program');
    assert.equal(
      dumpSourcesSchema.safeParse([{ name: 'a', argv: ['x'], shell: true }]).success,
      false,
      'strict',
    );
  });
});
