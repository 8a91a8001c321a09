import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import { rejectsWithCode } from './testing/backend-contract.spec';
import { StorageError } from './errors';
import type { StorageErrorCode } from './errors';
import { FsBackend } from './fs-backend';
import { openBackend, parseLocation } from './location';
import type { Env } from './location';
import { isValidBucketName } from './s3-backend';

const CREDS: Env = { VAULTLINE_S3_ACCESS_KEY: 'AK', VAULTLINE_S3_SECRET_KEY: 'SK' };

function throwsCode(fn: () => unknown, code: StorageErrorCode): StorageError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StorageError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('parseLocation: filesystem', () => {
  test('absolute, relative and file: locations', () => {
    assert.deepEqual(parseLocation('/srv/backups', {}), { kind: 'fs', root: '/srv/backups' });
    assert.deepEqual(parseLocation('repo', {}, '/home/me'), { kind: 'fs', root: '/home/me/repo' });
    assert.deepEqual(parseLocation('../repo/', {}, '/home/me'), { kind: 'fs', root: '/home/repo' });
    assert.deepEqual(parseLocation('file:///mnt/nas/vault', {}), { kind: 'fs', root: '/mnt/nas/vault' });
    assert.deepEqual(parseLocation('FILE:///mnt/a%20b', {}), { kind: 'fs', root: '/mnt/a b' });
    // A colon alone does not make a scheme.
    assert.deepEqual(parseLocation('backups:2024', {}, '/x'), { kind: 'fs', root: '/x/backups:2024' });
  });

  test('empty, remote file: and unknown schemes are rejected', () => {
    throwsCode(() => parseLocation('  ', {}), 'INVALID_LOCATION');
    throwsCode(() => parseLocation('file://otherhost/share', {}), 'INVALID_LOCATION');
    const err = throwsCode(() => parseLocation('sftp://host/path', {}), 'INVALID_LOCATION');
    assert.match(err.message, /unsupported location scheme sftp:\/\//);
    throwsCode(() => parseLocation('s3:bucket', CREDS), 'INVALID_LOCATION');
  });
});

describe('parseLocation: S3', () => {
  test('bucket and prefix, with defaults for endpoint and region', () => {
    assert.deepEqual(parseLocation('s3://my-bucket', CREDS), {
      kind: 's3',
      options: {
        endpoint: 'https://s3.amazonaws.com',
        bucket: 'my-bucket',
        prefix: '',
        accessKey: 'AK',
        secretKey: 'SK',
        region: 'us-east-1',
      },
    });
    const parsed = parseLocation('s3://my.bucket.2/hosts/web-1/', {
      ...CREDS,
      VAULTLINE_S3_ENDPOINT: 'http://127.0.0.1:9000',
      VAULTLINE_S3_REGION: 'eu-west-3',
    });
    assert.equal(parsed.kind, 's3');
    if (parsed.kind !== 's3') return;
    assert.equal(parsed.options.bucket, 'my.bucket.2');
    assert.equal(parsed.options.prefix, 'hosts/web-1');
    assert.equal(parsed.options.endpoint, 'http://127.0.0.1:9000');
    assert.equal(parsed.options.region, 'eu-west-3');
  });

  test('AWS_* credentials are fallbacks; VAULTLINE_* wins; empty counts as unset', () => {
    const aws = { AWS_ACCESS_KEY_ID: 'AWSAK', AWS_SECRET_ACCESS_KEY: 'AWSSK' };
    const p1 = parseLocation('s3://bucket', aws);
    assert.ok(p1.kind === 's3' && p1.options.accessKey === 'AWSAK' && p1.options.secretKey === 'AWSSK');
    const p2 = parseLocation('s3://bucket', { ...aws, ...CREDS });
    assert.ok(p2.kind === 's3' && p2.options.accessKey === 'AK' && p2.options.secretKey === 'SK');
    const p3 = parseLocation('s3://bucket', { ...aws, VAULTLINE_S3_ACCESS_KEY: '' });
    assert.ok(p3.kind === 's3' && p3.options.accessKey === 'AWSAK');
  });

  test('missing credentials name the variable to set', () => {
    const noAccess = throwsCode(
      () => parseLocation('s3://bucket', { VAULTLINE_S3_SECRET_KEY: 'SK' }),
      'INVALID_LOCATION',
    );
    assert.match(noAccess.message, /VAULTLINE_S3_ACCESS_KEY \(or AWS_ACCESS_KEY_ID\)/);
    const noSecret = throwsCode(
      () => parseLocation('s3://bucket', { VAULTLINE_S3_ACCESS_KEY: 'AK' }),
      'INVALID_LOCATION',
    );
    assert.match(noSecret.message, /VAULTLINE_S3_SECRET_KEY \(or AWS_SECRET_ACCESS_KEY\)/);
  });

  test('bucket names follow the S3 rules', () => {
    for (const good of ['abc', 'my-bucket', 'my.bucket', 'a1b2c3', 'x'.repeat(63)]) {
      assert.ok(isValidBucketName(good), good);
      parseLocation(`s3://${good}`, CREDS);
    }
    for (const bad of [
      'ab',
      'x'.repeat(64),
      'MyBucket',
      'under_score',
      '-lead',
      'trail-',
      'a..b',
      'a.-b',
      '192.168.1.10',
      'xn--punycode',
      'sthree-x',
      'name-s3alias',
      '',
    ]) {
      assert.ok(!isValidBucketName(bad), bad);
      throwsCode(() => parseLocation(`s3://${bad}/p`, CREDS), 'INVALID_LOCATION');
    }
  });

  test('bad prefixes, queries and inline credentials are rejected', () => {
    for (const bad of [
      's3://bucket/a//b',
      's3://bucket/../x',
      's3://bucket/a b',
      's3://bucket/p?x=1',
      's3://bucket#f',
    ]) {
      throwsCode(() => parseLocation(bad, CREDS), 'INVALID_LOCATION');
    }
    const err = throwsCode(() => parseLocation('s3://AKIA:hunter2@bucket/x', CREDS), 'INVALID_LOCATION');
    assert.ok(!err.message.includes('hunter2'), err.message);
  });
});

describe('openBackend', () => {
  test('opens (and with create, makes) a filesystem repository', async () => {
    const base = await mkdtemp(path.join(tmpdir(), 'vaultline-loc-'));
    try {
      const dir = path.join(base, 'repo');
      await rejectsWithCode(openBackend(dir, {}), 'NOT_FOUND');
      const b = await openBackend(`file://${dir}`, {}, { create: true });
      assert.ok(b instanceof FsBackend);
      assert.equal(b.location, dir);
      assert.ok((await stat(dir)).isDirectory());
      await b.close();
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  test('a malformed S3 endpoint is INVALID_LOCATION and never echoes credentials', async () => {
    await rejectsWithCode(
      openBackend('s3://bucket', { ...CREDS, VAULTLINE_S3_ENDPOINT: 'ftp://host' }),
      'INVALID_LOCATION',
    );
    await rejectsWithCode(
      openBackend('s3://bucket', { ...CREDS, VAULTLINE_S3_ENDPOINT: 'not a url' }),
      'INVALID_LOCATION',
    );
    await rejectsWithCode(
      openBackend('s3://bucket', { ...CREDS, VAULTLINE_S3_ENDPOINT: 'http://host:9000/some/path' }),
      'INVALID_LOCATION',
    );
    const err = await rejectsWithCode(
      openBackend('s3://bucket', { ...CREDS, VAULTLINE_S3_ENDPOINT: 'http://user:hunter2@host:9000' }),
      'INVALID_LOCATION',
    );
    assert.ok(!err.message.includes('hunter2'), err.message);
    const noScheme = await rejectsWithCode(
      openBackend('s3://bucket', { ...CREDS, VAULTLINE_S3_ENDPOINT: 'user:hunter2@host:9000' }),
      'INVALID_LOCATION',
    );
    assert.ok(!noScheme.message.includes('hunter2'), noScheme.message);
  });
});
