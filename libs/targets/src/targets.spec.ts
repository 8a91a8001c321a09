import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret } from '@vaultline/config';
import { serverKeys } from '@vaultline/secrets';
import { openTargetStorage, planRepoLocation, type TargetRow } from './index';

const base: TargetRow = {
  id: 't1',
  kind: 'local',
  path: null,
  s3Endpoint: null,
  s3Bucket: null,
  s3Prefix: null,
  s3Region: null,
  s3AccessKey: null,
  s3SecretEnc: null,
};
const keys = serverKeys({ serverSecret: new Secret(randomBytes(32)) });

test('a plan repository lives below the target, one per plan', () => {
  assert.equal(planRepoLocation({ ...base, path: '/mnt/usb' }, 'p1'), '/mnt/usb/vaultline/p1');
  assert.equal(
    planRepoLocation({ ...base, kind: 's3', s3Bucket: 'b', s3Prefix: 'x/y' }, 'p1'),
    's3://b/x/y/vaultline/p1',
  );
  assert.equal(planRepoLocation({ ...base, kind: 's3', s3Bucket: 'b' }, 'p1'), 's3://b/vaultline/p1');
});

test('creating needs the target folder to exist; opening never creates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vaultline-targets-'));
  try {
    const target = { ...base, path: join(dir, 'share') };
    const location = planRepoLocation(target, 'p1');
    await assert.rejects(openTargetStorage(keys, target, location, { create: true }), { code: 'NOT_FOUND' });
    assert.equal(existsSync(target.path), false, 'an unmounted share is not created');
    mkdirSync(target.path);
    await assert.rejects(openTargetStorage(keys, target, location, { create: false }), { code: 'NOT_FOUND' });
    const created = await openTargetStorage(keys, target, location, { create: true });
    await created.close();
    assert.equal(existsSync(location), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an S3 target without credentials is refused clearly', async () => {
  await assert.rejects(
    openTargetStorage(keys, { ...base, kind: 's3', s3Bucket: 'b' }, 's3://b/p', { create: false }),
    { code: 'INVALID_LOCATION', message: /without credentials/ },
  );
});
