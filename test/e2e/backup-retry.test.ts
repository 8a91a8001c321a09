/**
 * End to end, real processes (API, report, one worker from scripts/fleet.ts): Postgres becomes
 * unreachable for the worker alone between the engine publishing a snapshot and the worker
 * recording it (issue 9). The worker reaches Postgres through a TCP proxy in the test process
 * that the test cuts and restores; the system server, the API and the report stay connected.
 * The retried job must record the first attempt's snapshot: one in the repository, one in the
 * catalog, the same one.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Queue } from 'bullmq';

import { QUEUES } from '@vaultline/contracts';

import type { ApiClient } from '../../scripts/fleet';
import { startE2eFleet, waitUntil, type E2eFleet } from '../support/e2e-fleet';
import { makeSource } from '../support/fixtures';
import { startTcpProxy, viaProxy, type TcpProxy } from '../support/tcp-proxy';

const PASSWORD = 'retry e2e password';
const ARCH = process.arch === 'arm64' ? 'arm64' : 'x86_64';

describe('the fleet: a backup retried after Postgres went down at its end', { timeout: 5 * 60_000 }, () => {
  let e2e: E2eFleet;
  let proxy: TcpProxy | undefined;
  let api: ApiClient;
  let queue: Queue;
  let tmp: { path: string };
  let drive: string;

  before(async () => {
    e2e = await startE2eFleet('e2e-retry', {
      queue: QUEUES.backup,
      dirs: ['drive'],
      fleet: async (db) => {
        const u = new URL(db.url);
        proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
        return {
          workers: 1,
          // Long enough for the test to restore Postgres before the retry starts.
          env: { JOB_LOCK_MS: '3000', BACKUP_RETRY_DELAY_MS: '1500' },
          // The hook writes its marker into this test's root-only temp folder: run it as root.
          roleEnv: { worker: { DATABASE_URL: viaProxy(db.url, proxy), HOOK_UID: '0', HOOK_GID: '0' } },
        };
      },
    });
    ({ api, queue, tmp } = e2e);
    drive = join(tmp.path, 'drive');
  });

  after(async () => {
    await e2e?.stop();
    await proxy?.close();
  });

  test('one snapshot in the repository, the same one in the catalog and the run', async () => {
    const targetId = (
      await api.expect<{ id: string }>(
        'POST',
        '/v1/targets',
        { name: 'drive', kind: 'local', path: drive },
        201,
      )
    ).id;
    const path = join(tmp.path, 'services', 'app');
    mkdirSync(path, { recursive: true });
    makeSource(path);
    // The post-hook runs after the engine published the snapshot and before the worker records
    // it: it tells the test (which cuts Postgres) and gives it the time to.
    const marker = join(tmp.path, 'snapshot-written');
    const svc = await api.expect<{ id: string }>(
      'POST',
      '/v1/services',
      {
        name: 'app',
        dataPath: path,
        arch: ARCH,
        postHook: {
          kind: 'command',
          argv: [
            process.execPath,
            '-e',
            `require('fs').writeFileSync(${JSON.stringify(marker)},'');setTimeout(()=>{},1000)`,
          ],
        },
      },
      201,
    );
    const plan = await api.expect<{ id: string }>(
      'POST',
      '/v1/plans',
      {
        name: 'retry',
        schedule: { frequency: 'daily', time: '03:00', timezone: 'UTC' },
        retention: { keepLast: 10 },
        targetIds: [targetId],
        serviceIds: [svc.id],
        password: PASSWORD,
        passwordConfirmation: PASSWORD,
      },
      201,
    );
    const started = await api.expect<{ id: string }>('POST', `/v1/plans/${plan.id}/runs`, undefined, 202);

    await waitUntil('the first attempt to publish its snapshot', () => existsSync(marker));
    proxy!.cut();
    await waitUntil('the first attempt to fail', async () =>
      (await queue.getJobs(['delayed', 'wait', 'active'])).some((j) => j.attemptsMade >= 1),
    );
    proxy!.restore();

    const report = await api.waitFor<{ status: string }>(
      `/v1/runs/${started.id}/report`,
      () => true,
      120_000,
    );
    assert.equal(report.status, 'success');
    const snapshotsDir = join(drive, 'vaultline', plan.id, 'snapshots');
    const inRepo = readdirSync(snapshotsDir).filter((n) => !n.startsWith('.'));
    assert.equal(inRepo.length, 1, 'exactly one snapshot in the repository');
    const catalog = await api.expect<{ items: { id: string; targetId: string }[] }>(
      'GET',
      `/v1/plans/${plan.id}/snapshots`,
      undefined,
      200,
    );
    assert.deepEqual(
      catalog.items.map((s) => s.id),
      inRepo,
      'catalog = repository',
    );
    const run = await api.expect<{ backups: { status: string; snapshotId: string | null }[] }>(
      'GET',
      `/v1/runs/${started.id}`,
      undefined,
      200,
    );
    assert.deepEqual(
      run.backups.map((b) => [b.status, b.snapshotId]),
      [['success', inRepo[0]]],
    );
  });
});
