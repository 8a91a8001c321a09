/**
 * End to end, real processes (API, report, two workers from scripts/fleet.ts): two simulated
 * nodes. Each worker runs with its own NODE_NAME and, as root, in a mount namespace where the other
 * node's data folder is an empty tmpfs — as on two machines, it sees only its own node's data. A
 * service placed on a node is then backed up and restored only by that node's worker (a backup by
 * the other one would find an empty folder and the restored tree would not match). With one node's
 * worker stopped, its backup waits, the run says NODE_UNAVAILABLE naming the node, the report
 * service's gauge counts the unserved job, and the backup runs once the worker is back.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { QUEUES } from '@vaultline/contracts';

import type { ApiClient, FleetProcess } from '../../scripts/fleet';
import { startE2eFleet, waitUntil, type E2eFleet } from '../support/e2e-fleet';
import { assertSameTree, makeSource, snapshotOf } from '../support/fixtures';

const PASSWORD = 'nodes e2e password';
const ARCH = process.arch === 'arm64' ? 'arm64' : 'x86_64';
const ROOT = process.getuid?.() === 0;

interface RunView {
  id: string;
  status: string;
  backups: { serviceName: string; status: string; error: string | null; snapshotId: string | null }[];
}

describe(
  'the fleet on two nodes: node-placed services go to their own node',
  {
    timeout: 5 * 60_000,
    skip: ROOT ? false : "needs root: each simulated node hides the other one's data with a mount namespace",
  },
  () => {
    let e2e: E2eFleet;
    let api: ApiClient;
    let dir: { a: string; b: string; drive: string };
    const workers: Partial<Record<'a' | 'b', FleetProcess>> = {};
    const startWorker = async (n: 'a' | 'b'): Promise<FleetProcess> =>
      (workers[n] = await e2e.fleet.spawn('worker', {
        env: { NODE_NAME: `node-${n}` },
        hide: [n === 'a' ? dir.b : dir.a],
      }));

    before(async () => {
      e2e = await startE2eFleet('e2e-nodes', {
        queue: QUEUES.backup,
        dirs: ['node-a', 'node-b', 'drive'],
        fleet: {
          workers: 0,
          env: { JOB_LOCK_MS: '3000', BACKUP_RETRY_DELAY_MS: '200' },
          roleEnv: { report: { NODE_WORKER_GRACE_SECONDS: '2' } },
        },
      });
      api = e2e.api;
      dir = {
        a: join(e2e.tmp.path, 'node-a'),
        b: join(e2e.tmp.path, 'node-b'),
        drive: join(e2e.tmp.path, 'drive'),
      };
      await startWorker('a');
      await startWorker('b');
    });

    after(async () => {
      await e2e?.stop();
    });

    async function service(
      n: 'a' | 'b',
    ): Promise<{ id: string; path: string; expected: ReturnType<typeof snapshotOf> }> {
      const path = join(n === 'a' ? dir.a : dir.b, 'app');
      mkdirSync(path, { recursive: true });
      makeSource(path);
      writeMarker(path, n);
      const expected = snapshotOf(path);
      const svc = await api.expect<{ id: string; node: string }>(
        'POST',
        '/v1/services',
        { name: `app-${n}`, dataPath: path, arch: ARCH, node: `node-${n}` },
        201,
      );
      assert.equal(svc.node, `node-${n}`);
      return { id: svc.id, path, expected };
    }

    const reportOf = async (runId: string) =>
      api.waitFor<{ status: string }>(`/v1/runs/${runId}/report`, () => true, 120_000);

    test('each node backs up and restores its own service; a stopped node is reported, then caught up', async () => {
      const target = await api.expect<{ id: string }>(
        'POST',
        '/v1/targets',
        { name: 'drive', kind: 'local', path: dir.drive },
        201,
      );
      const a = await service('a');
      const b = await service('b');
      const plan = await api.expect<{ id: string }>(
        'POST',
        '/v1/plans',
        {
          name: 'nodes',
          schedule: { frequency: 'daily', time: '03:00', timezone: 'UTC' },
          retention: { keepLast: 10 },
          targetIds: [target.id],
          serviceIds: [a.id, b.id],
          password: PASSWORD,
          passwordConfirmation: PASSWORD,
        },
        201,
      );

      const first = await api.expect<{ id: string }>('POST', `/v1/plans/${plan.id}/runs`, undefined, 202);
      assert.equal((await reportOf(first.id)).status, 'success');
      const run = await api.expect<RunView>('GET', `/v1/runs/${first.id}`, undefined, 200);
      assert.deepEqual(run.backups.map((x) => [x.serviceName, x.status]).sort(), [
        ['app-a', 'success'],
        ['app-b', 'success'],
      ]);

      // In-place restores: only the node's own worker sees (and can write) that folder.
      for (const s of [a, b]) {
        rmSync(s.path, { recursive: true, force: true });
        mkdirSync(s.path);
        const r = await api.expect<{ id: string; node: string }>(
          'POST',
          '/v1/restores',
          { serviceId: s.id, password: PASSWORD },
          202,
        );
        const done = await api.waitFor<{ status: string; error: string | null }>(
          `/v1/restores/${r.id}`,
          (v) => v.status === 'success' || v.status === 'failed',
        );
        assert.equal(done.status, 'success', JSON.stringify(done));
        assertSameTree(snapshotOf(s.path), s.expected);
      }

      // Node b's worker goes away: a's backup runs, b's waits and the run says why.
      await workers.b!.stop();
      const second = await api.expect<{ id: string }>('POST', `/v1/plans/${plan.id}/runs`, undefined, 202);
      const waiting = await api.waitFor<RunView>(
        `/v1/runs/${second.id}`,
        (v) =>
          v.backups.some((x) => x.serviceName === 'app-a' && x.status === 'success') &&
          v.backups.some(
            (x) => x.serviceName === 'app-b' && x.error?.startsWith('NODE_UNAVAILABLE') === true,
          ),
        60_000,
      );
      const bRow = waiting.backups.find((x) => x.serviceName === 'app-b')!;
      assert.equal(bRow.status, 'queued');
      assert.match(bRow.error!, /no worker on node "node-b"/);
      assert.equal((await api.call('GET', `/v1/runs/${second.id}/report`)).status, 409, 'no report yet');
      const report = e2e.fleet.processes.find((p) => p.role === 'report' && p.running)!;
      await waitUntil('the report service to count the unserved job', async () => {
        const text = await (await fetch(`http://127.0.0.1:${report.port}/metrics`)).text();
        return /vaultline_node_jobs_unserved\{[^}]*node="node-b"[^}]*queue="backup"[^}]*\} 1/.test(text);
      });

      // It comes back: the waiting backup runs, the note is cleared, the report is a success.
      await startWorker('b');
      assert.equal((await reportOf(second.id)).status, 'success');
      const caughtUp = await api.expect<RunView>('GET', `/v1/runs/${second.id}`, undefined, 200);
      const bDone = caughtUp.backups.find((x) => x.serviceName === 'app-b')!;
      assert.equal(bDone.status, 'success');
      assert.equal(bDone.error, null);
    });
  },
);

/** A file only this node's data has, so a backup taken from the wrong node cannot pass. */
function writeMarker(path: string, n: string): void {
  mkdirSync(join(path, 'node'), { recursive: true });
  cpSync(__filename, join(path, 'node', `${n}.txt`));
}
