import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret } from '@vaultline/config';
import { serverKeys } from '@vaultline/secrets';
import {
  closeRepository,
  createPlanRepository,
  openPlanRepositoryWithPassword,
  openPlanRepositoryWithWriterKey,
  openTargetStorage,
  planRepoLocation,
  removeNewRepository,
  type TargetRow,
} from './index';

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

test('a plan repository: created with the password, opened with the sealed writer key or the password', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vaultline-targets-'));
  // A cheap Argon2id: the cost is not what this tests.
  const kdf = { memory: 8 * 1024, passes: 1, parallelism: 1 };
  try {
    const target = { ...base, path: dir };
    const created = await createPlanRepository(keys, target, 'p1', 'correct horse', kdf);
    assert.equal(created.repoLocation, planRepoLocation(target, 'p1'));
    assert.doesNotMatch(created.writerKeyEnc, /correct horse/);
    const row = { planId: 'p1', targetId: target.id, ...created };
    const writer = await openPlanRepositoryWithWriterKey(keys, target, row);
    assert.equal(writer.config.id, created.repoId);
    assert.equal(writer.canRead, false, 'the writer key cannot read snapshots');
    await closeRepository(writer);
    const owner = await openPlanRepositoryWithPassword(keys, target, created.repoLocation, 'correct horse');
    assert.equal(owner.canRead, true);
    await closeRepository(owner);
    await assert.rejects(openPlanRepositoryWithPassword(keys, target, created.repoLocation, 'wrong horse'), {
      code: 'WRONG_PASSWORD',
    });
    // A writer key sealed for another plan's repository does not open (the record id binds it).
    await assert.rejects(openPlanRepositoryWithWriterKey(keys, target, { ...row, planId: 'p2' }));
    // The caller decides what a storage failure becomes (the worker: an unreachable drive).
    const told = new Error('told');
    await assert.rejects(
      openPlanRepositoryWithPassword(keys, target, join(dir, 'gone'), 'correct horse', {
        storageError: () => told,
      }),
      told,
    );
    await removeNewRepository(keys, target, created.repoLocation);
    assert.equal(existsSync(created.repoLocation), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
