/**
 * End to end, real processes (API, report, one worker from scripts/fleet.ts): a plan's scheduled
 * verification. The verify scheduler the API registers is fired by promoting its next job (the
 * cron is 04:00); on-demand runs go through POST /v1/plans/:id/verify. A byte flipped in a pack on
 * the drive must show in the catalog row, the API and the worker's metric.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Queue } from 'bullmq';

import { Secret } from '@vaultline/config';
import { QUEUES, reportSummarySchema } from '@vaultline/contracts';
import { sealPasswordEnvelope, serverKeys } from '@vaultline/secrets';

import type { ApiClient, LocalFleet } from '../../scripts/fleet';
import { startE2eFleet, waitUntil, type E2eFleet } from '../support/e2e-fleet';
import { makeSource } from '../support/fixtures';

const PASSWORD = 'verify e2e password';
const ARCH = process.arch === 'arm64' ? 'arm64' : 'x86_64';

interface VerificationView {
  id: string;
  targetId: string;
  kind: string;
  status: string;
  slice: { index: number; count: number } | null;
  packsRead: number;
  packsTotal: number;
  errors: string[];
  ok: boolean | null;
}
type Verifications = { items: VerificationView[]; nextCursor: string | null };

/** Every file under `dir` (the pack files of a repository's data/ folder). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('the fleet: scheduled verification of a plan', { timeout: 5 * 60_000 }, () => {
  let e2e: E2eFleet;
  let fleet: LocalFleet;
  let api: ApiClient;
  let queue: Queue;
  let tmp: { path: string };
  let drive: string;

  before(async () => {
    e2e = await startE2eFleet('e2e-verify', {
      queue: QUEUES.maintenance,
      dirs: ['drive'],
      fleet: { workers: 1, env: { JOB_LOCK_MS: '3000', BACKUP_RETRY_DELAY_MS: '200' } },
    });
    ({ fleet, api, queue, tmp } = e2e);
    drive = join(tmp.path, 'drive');
  });

  after(() => e2e?.stop());

  const verifications = (planId: string) =>
    api.expect<Verifications>('GET', `/v1/plans/${planId}/verifications`, undefined, 200);

  /** Waits for `n` finished verifications of the plan; the newest first. */
  const finished = (planId: string, n: number) =>
    api.waitFor<Verifications>(
      `/v1/plans/${planId}/verifications`,
      (v) => v.items.length >= n && v.items.every((i) => i.status === 'success' || i.status === 'failed'),
      60_000,
    );

  test('scheduled and on-demand verifies pass, a flipped byte in a pack is reported', async () => {
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
    makeSource(path, { largeBytes: 2 * 1024 * 1024 });
    const svc = await api.expect<{ id: string }>(
      'POST',
      '/v1/services',
      { name: 'app', dataPath: path, arch: ARCH },
      201,
    );
    const plan = await api.expect<{
      id: string;
      verify: { schedule: string; percent: number; time: string };
    }>(
      'POST',
      '/v1/plans',
      {
        name: 'verified',
        schedule: { frequency: 'daily', time: '03:00', timezone: 'UTC' },
        retention: { keepLast: 10 },
        verify: { schedule: 'daily', percent: 50 },
        targetIds: [targetId],
        serviceIds: [svc.id],
        password: PASSWORD,
        passwordConfirmation: PASSWORD,
      },
      201,
    );
    assert.deepEqual(plan.verify, { schedule: 'daily', percent: 50, time: '04:00' });
    const run = await api.expect<{ id: string }>('POST', `/v1/plans/${plan.id}/runs`, undefined, 202);
    const report = await api.waitFor<{ status: string }>(`/v1/runs/${run.id}/report`, () => true, 120_000);
    assert.equal(report.status, 'success');

    // The verify scheduler is registered; fire it now by promoting its next (delayed) job.
    const schedulers = await queue.getJobSchedulers();
    assert.deepEqual(
      schedulers.map((s) => [s.key, s.name, s.pattern]),
      [[`verify-${plan.id}`, 'maintenance.verify', '0 4 * * *']],
    );
    let next: Awaited<ReturnType<Queue['getDelayed']>>[number] | undefined;
    await waitUntil('the scheduler to plan its next job', async () => {
      next = (await queue.getDelayed()).find((j) => j.name === 'maintenance.verify');
      return next !== undefined;
    });
    await next!.promote();
    const first = (await finished(plan.id, 1)).items[0]!;
    assert.equal(first.kind, 'scheduled');
    assert.equal(first.status, 'success');
    assert.equal(first.ok, true, JSON.stringify(first));
    assert.deepEqual(first.slice, { index: 0, count: 2 });
    assert.ok(first.packsTotal > 0);

    // On demand, every pack: the rotation moves on, nothing is wrong.
    await api.expect('POST', `/v1/plans/${plan.id}/verify`, { percent: 100 }, 202);
    const second = (await finished(plan.id, 2)).items[0]!;
    assert.equal(second.ok, true, JSON.stringify(second));
    assert.equal(second.packsRead, second.packsTotal);

    // Deep: a wrong password is refused before anything is queued, naming the field; the right
    // one decrypts and authenticates every blob.
    const wrong = await api.call<{ error: { code: string; details?: { path: string }[] } }>(
      'POST',
      `/v1/plans/${plan.id}/verify`,
      { password: 'not the password' },
    );
    assert.equal(wrong.status, 422);
    assert.equal(wrong.json.error.code, 'WRONG_PASSWORD');
    assert.ok(JSON.stringify(wrong.json).includes('"password"'), JSON.stringify(wrong.json));
    assert.equal((await verifications(plan.id)).items.length, 2, 'nothing queued');
    const deepJob = await api.expect<{ kind: string }>(
      'POST',
      `/v1/plans/${plan.id}/verify`,
      { password: PASSWORD },
      202,
    );
    assert.equal(deepJob.kind, 'deep');
    const deep = (await finished(plan.id, 3)).items[0]!;
    assert.equal(deep.kind, 'deep');
    assert.equal(deep.ok, true, JSON.stringify(deep));
    assert.equal(deep.slice, null);
    assert.equal(deep.packsRead, deep.packsTotal);
    // The password is in no row and no log line.
    const logs = readdirSync(join(tmp.path, 'logs')).map((n) =>
      readFileSync(join(tmp.path, 'logs', n), 'utf8'),
    );
    assert.ok(!logs.some((l) => l.includes(PASSWORD)), 'the password is not logged');

    // Bit rot on the drive: one byte of one pack flipped.
    const packs = filesUnder(join(drive, 'vaultline', plan.id, 'data'));
    assert.ok(packs.length > 0);
    const victim = packs[0]!;
    const bytes = readFileSync(victim);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(victim, bytes);
    await api.expect('POST', `/v1/plans/${plan.id}/verify`, { percent: 100 }, 202);
    const third = (await finished(plan.id, 4)).items[0]!;
    assert.equal(third.status, 'success');
    assert.equal(third.ok, false);
    assert.ok(
      third.errors.some((e) => e.includes('corrupted')),
      `the corrupted pack is named: ${JSON.stringify(third.errors)}`,
    );
    const worker = fleet.processes.find((p) => p.role === 'worker' && p.running)!;
    const metrics = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
    assert.match(metrics, /^vaultline_verify_runs_total\{[^}]*status="corrupt"[^}]*\} 1$/m);
    assert.match(metrics, /^vaultline_verify_runs_total\{[^}]*status="ok"[^}]*\} 3$/m);
    assert.match(
      metrics,
      /^vaultline_verify_last_success_timestamp_seconds\{plan="verified",target="drive"[^}]*\} \d/m,
    );

    // Verification off (or the plan paused): its scheduler goes.
    await api.expect('PATCH', `/v1/plans/${plan.id}`, { verify: { schedule: 'off', percent: 50 } }, 200);
    assert.deepEqual(await queue.getJobSchedulers(), []);
    await api.expect('PATCH', `/v1/plans/${plan.id}`, { verify: { schedule: 'weekly', percent: 50 } }, 200);
    assert.equal((await queue.getJobSchedulers())[0]?.pattern, '0 4 * * 0');
    // Its own time of day; an impossible one is refused, naming the field.
    const badTime = await api.call<{ error: { code: string } }>('PATCH', `/v1/plans/${plan.id}`, {
      verify: { schedule: 'weekly', percent: 50, time: '24:00' },
    });
    assert.equal(badTime.status, 400);
    assert.ok(JSON.stringify(badTime.json).includes('verify.time'), JSON.stringify(badTime.json));
    const timed = await api.expect<{ verify: { time: string } }>(
      'PATCH',
      `/v1/plans/${plan.id}`,
      { verify: { schedule: 'weekly', percent: 50, time: '02:30' } },
      200,
    );
    assert.equal(timed.verify.time, '02:30');
    assert.equal((await queue.getJobSchedulers())[0]?.pattern, '30 2 * * 0');
    await api.expect('POST', `/v1/plans/${plan.id}/pause`, undefined, 200);
    assert.deepEqual(await queue.getJobSchedulers(), []);
    assert.equal((await verifications(plan.id)).items.length, 4);
    // Resuming puts the verify scheduler back, with the plan's settings.
    await api.expect('POST', `/v1/plans/${plan.id}/resume`, undefined, 200);
    assert.deepEqual(
      (await queue.getJobSchedulers()).map((s) => [s.key, s.pattern]),
      [[`verify-${plan.id}`, '30 2 * * 0']],
    );

    // A deep verify whose sealed password expired while it waited: a failed row that says so,
    // and the password is not needed again to see why.
    const keys = serverKeys({ serverSecret: new Secret(Buffer.from(fleet.options.serverSecret, 'hex')) });
    const requestId = randomUUID();
    await queue.add('maintenance.verify', {
      planId: plan.id,
      kind: 'deep',
      requestId,
      passwordEnvelope: sealPasswordEnvelope(keys, requestId, PASSWORD, {
        ttlMs: 1_000,
        now: new Date(Date.now() - 60_000),
      }),
    });
    const expired = (await finished(plan.id, 5)).items[0]!;
    assert.equal(expired.kind, 'deep');
    assert.equal(expired.status, 'failed');
    assert.equal(expired.ok, false);
    assert.match(expired.errors[0] ?? '', /^PASSWORD_EXPIRED: .*expired at .*submit it again/);

    // The next run's report carries the target's latest verification (the expired deep one).
    const nextRun = await api.expect<{ id: string }>('POST', `/v1/plans/${plan.id}/runs`, undefined, 202);
    const summary = reportSummarySchema.parse(
      (await api.waitFor<{ summary: unknown }>(`/v1/runs/${nextRun.id}/report`, () => true, 120_000)).summary,
    );
    assert.deepEqual(
      summary.verifications?.map((v) => [v.targetName, v.kind, v.status, v.errors[0]?.split(':')[0]]),
      [['drive', 'deep', 'failed', 'PASSWORD_EXPIRED']],
    );
  });
});
