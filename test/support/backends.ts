/**
 * The two kinds of repository storage every engine test runs against: a folder on the local file
 * system and a bucket on a real S3-protocol server (s3rver, started before the file's tests and
 * stopped after them).
 */
import { after, before } from 'node:test';
import { join } from 'node:path';
import { FsBackend, openBackend, type StorageBackend } from '@vaultline/storage';
import { startS3Server, type S3TestServer } from './s3server';

export interface TestBackend {
  name: string;
  /** A fresh repository location: `dir` is the test's temporary folder, `label` unique per test. */
  open(dir: string, label: string): Promise<StorageBackend>;
}

export function repositoryBackends(bucket: string): TestBackend[] {
  let s3: S3TestServer;
  before(async () => {
    s3 = await startS3Server({ buckets: [bucket] });
  });
  after(async () => {
    await s3.stop();
  });
  return [
    { name: 'filesystem', open: (dir) => FsBackend.open(join(dir, 'repo'), { create: true }) },
    {
      name: 's3',
      open: (_dir, label) => openBackend(`s3://${bucket}/${label}`, s3.env, { create: true }),
    },
  ];
}
