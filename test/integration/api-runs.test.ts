/**
 * /v1/runs/:id/report, a plan's run list and the Idempotency-Key of manual runs, against the real
 * API, Postgres and Redis (the app's own queue prefix). No worker runs: runs stay queued.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { QUEUES, type ReportSummary } from '@vaultline/contracts';
import { Queue } from 'bullmq';
import { startTestApi, type TestApi } from '../support/api-app';
import { tempDir } from '../support/fixtures';

interface ErrorJson {
  error: { code: string; message: string; fields?: { path: string; message: string }[] };
}
interface RunJson {
  id: string;
  planId: string;
  trigger: string;
  status: string;
  queuedAt: string;
}
interface PageJson<T> {
  items: T[];
  nextCursor: string | null;
}

const PASSWORD = 'plan password';
const UNKNOWN_ID = '01900000-0000-7000-8000-000000000000';

describe('API: runs, reports and idempotent manual runs', () => {
  let api: TestApi;
  let dir: ReturnType<typeof tempDir>;
  const planIds: string[] = [];

  /** POST /v1/plans/:id/runs with an optional Idempotency-Key (TestApi.call sends no headers). */
  const startRun = async (planId: string, key?: string): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${api.baseUrl}/v1/plans/${planId}/runs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${api.token}`,
        ...(key === undefined ? {} : { 'idempotency-key': key }),
      },
    });
    return { status: res.status, json: await res.json() };
  };

  before(async () => {
    api = await startTestApi('api_runs');
    dir = tempDir('api-runs');
    mkdirSync(join(dir.path, 'disk'));
    const t = await api.call('POST', '/v1/targets', {
      name: 'disk',
      kind: 'local',
      path: join(dir.path, 'disk'),
    });
    const s = await api.call('POST', '/v1/services', { name: 'svc', dataPath: dir.path, arch: 'x86_64' });
    for (const name of ['first', 'second']) {
      const p = await api.call('POST', '/v1/plans', {
        name,
        schedule: { frequency: 'daily', time: '03:00', timezone: 'UTC' },
        retention: { keepLast: 3 },
        targetIds: [(t.json as { id: string }).id],
        serviceIds: [(s.json as { id: string }).id],
        password: PASSWORD,
        passwordConfirmation: PASSWORD,
      });
      assert.equal(p.status, 201, JSON.stringify(p.json));
      planIds.push((p.json as { id: string }).id);
    }
  });

  after(async () => {
    if (api) {
      const opts = {
        connection: { url: api.config.redisUrl, maxRetriesPerRequest: null },
        prefix: api.config.queuePrefix,
      };
      for (const name of [QUEUES.schedule, QUEUES.backup, QUEUES.report]) {
        const q = new Queue(name, opts);
        await q.obliterate({ force: true }).catch(() => undefined);
        await q.close();
      }
    }
    await api?.close();
    dir?.cleanup();
  });

  test('a report: 409 while the run has none, then its status and summary', async () => {
    const run = (await startRun(planIds[0] ?? '')).json as RunJson;
    const early = await api.call('GET', `/v1/runs/${run.id}/report`);
    assert.equal(early.status, 409, JSON.stringify(early.json));
    assert.equal((early.json as ErrorJson).error.code, 'CONFLICT');

    // A summary as the report service writes it (ReportSummary): the response is checked against it.
    const summary: ReportSummary = {
      version: 1,
      runId: run.id,
      plan: { id: run.planId, name: 'plan' },
      trigger: 'manual',
      status: 'success',
      queuedAt: run.queuedAt,
      startedAt: run.queuedAt,
      finishedAt: run.queuedAt,
      durationMs: 0,
      counts: { total: 0, succeeded: 0, failed: 0 },
      totals: { totalBytes: 0, bytesAdded: 0, files: 0 },
      backups: [],
    };
    await api.factories.newReport(run.id, { status: 'success', summary, webhookStatus: 'delivered' });
    const res = await api.call('GET', `/v1/runs/${run.id}/report`);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.deepEqual(
      { ...(res.json as Record<string, unknown>), createdAt: undefined },
      {
        runId: run.id,
        status: 'success',
        summary,
        createdAt: undefined,
        webhookStatus: 'delivered',
        notifiedAt: null,
      },
    );
    assert.equal((await api.call('GET', `/v1/runs/${UNKNOWN_ID}/report`)).status, 404);
    assert.equal((await api.call('GET', '/v1/runs/not-a-uuid/report')).status, 404);
  });

  test("a plan's runs: newest first, paged, only that plan's", async () => {
    const planId = planIds[1] ?? '';
    const started: string[] = [];
    for (let i = 0; i < 3; i += 1) started.push(((await startRun(planId)).json as RunJson).id);
    const all = await api.call('GET', `/v1/plans/${planId}/runs`);
    assert.equal(all.status, 200, JSON.stringify(all.json));
    const page = all.json as PageJson<RunJson>;
    assert.deepEqual(
      page.items.map((r) => r.id),
      [...started].reverse(),
    );
    assert.ok(
      page.items.every((r) => r.planId === planId && r.trigger === 'manual' && r.status === 'queued'),
    );
    assert.equal(page.nextCursor, null);

    const one = (await api.call('GET', `/v1/plans/${planId}/runs?limit=2`)).json as PageJson<RunJson>;
    assert.equal(one.items.length, 2);
    assert.ok(one.nextCursor);
    const two = (await api.call('GET', `/v1/plans/${planId}/runs?limit=2&cursor=${one.nextCursor}`))
      .json as PageJson<RunJson>;
    assert.deepEqual(
      [...one.items, ...two.items].map((r) => r.id),
      [...started].reverse(),
    );
    assert.equal(two.nextCursor, null);
    assert.equal((await api.call('GET', `/v1/plans/${UNKNOWN_ID}/runs`)).status, 404);
    const bad = await api.call('GET', `/v1/plans/${planId}/runs?limit=1000`);
    assert.equal(bad.status, 400);
    assert.deepEqual(
      (bad.json as ErrorJson).error.fields?.map((f) => f.path),
      ['limit'],
    );
  });

  test('Idempotency-Key: the same key returns the same run; another key or plan makes a new one', async () => {
    const [p1, p2] = planIds as [string, string];
    const count = () => api.prisma.run.count();
    const before = await count();
    const first = await startRun(p1, 'nightly-2026-11-21');
    assert.equal(first.status, 202, JSON.stringify(first.json));
    const again = await startRun(p1, 'nightly-2026-11-21');
    assert.equal(again.status, 202);
    assert.equal((again.json as RunJson).id, (first.json as RunJson).id);
    assert.equal(await count(), before + 1, 'one run for the two requests');

    const other = await startRun(p1, 'another-key');
    assert.notEqual((other.json as RunJson).id, (first.json as RunJson).id);
    const otherPlan = await startRun(p2, 'nightly-2026-11-21');
    assert.equal((otherPlan.json as RunJson).planId, p2, 'a key is scoped to its plan');
    assert.equal(await count(), before + 3);

    for (const key of ['has space', 'x'.repeat(256)]) {
      const res = await startRun(p1, key);
      assert.equal(res.status, 400, JSON.stringify(res.json));
      assert.deepEqual(
        (res.json as ErrorJson).error.fields?.map((f) => f.path),
        ['Idempotency-Key'],
      );
    }
    assert.equal((await startRun(UNKNOWN_ID, 'k')).status, 404);
    assert.equal(await count(), before + 3);
  });
});
