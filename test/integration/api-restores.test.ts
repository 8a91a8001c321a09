/**
 * /v1/restores against the real API, Postgres, Redis (the app's own queue prefix) and a
 * filesystem target. The catalog is built as the fleet builds it: the plan is created through the
 * API (its repository made with the password), a folder is backed up into that repository with
 * the engine and the plan's sealed writer key (as a worker does), and the snapshot is catalogued.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Catalog } from '@vaultline/catalog';
import { parseJobPayload, QUEUES, restoreJobId } from '@vaultline/contracts';
import { openPasswordEnvelope, serverKeys } from '@vaultline/secrets';
import { backUpAsWorker, startTestApi, type TestApi } from '../support/api-app';
import { makeSource, tempDir } from '../support/fixtures';

interface ErrorJson {
  error: { code: string; message: string; fields?: { path: string; message: string }[] };
}
interface RestoreJson {
  id: string;
  serviceId: string;
  snapshotId: string;
  targetId: string;
  targetName: string;
  destination: string;
  status: string;
  error: string | null;
  crossArch: boolean;
  queuedAt: string;
  warnings: string[];
}

const PASSWORD = 'the owner password';
const UNKNOWN_ID = '01900000-0000-7000-8000-000000000000';

describe('API: restores', () => {
  let api: TestApi;
  let dir: ReturnType<typeof tempDir>;
  let restoreQueue: Queue;
  let redis: Redis;
  let targetId: string;
  let planId: string;
  let serviceId: string;
  let bareServiceId: string;
  let dataPath: string;
  /** The x86_64 snapshot (the service's own architecture). */
  let snapshotId: string;

  const fieldsOf = (json: unknown): string[] => ((json as ErrorJson).error.fields ?? []).map((f) => f.path);
  const codeOf = (json: unknown): string => (json as ErrorJson).error.code;

  /** Backs the service's folder up into the plan's repository with the writer key, and catalogues it. */
  const backUp = (arch: 'x86_64' | 'arm64'): Promise<string> =>
    backUpAsWorker(api, { planId, targetId, serviceId }, dataPath, arch);

  async function jobCount(): Promise<number> {
    const counts = await restoreQueue.getJobCounts();
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  before(async () => {
    api = await startTestApi('api_restores');
    dir = tempDir('api-restores');
    restoreQueue = new Queue(QUEUES.restore, {
      connection: { url: api.config.redisUrl, maxRetriesPerRequest: null },
      prefix: api.config.queuePrefix,
    });
    redis = new Redis(api.config.redisUrl);
    mkdirSync(join(dir.path, 'disk'));
    const target = await api.call('POST', '/v1/targets', {
      name: 'disk',
      kind: 'local',
      path: join(dir.path, 'disk'),
    });
    assert.equal(target.status, 201, JSON.stringify(target.json));
    targetId = (target.json as { id: string }).id;
    dataPath = join(dir.path, 'src', 'gitea');
    mkdirSync(dataPath, { recursive: true });
    makeSource(dataPath, { largeBytes: 200_000 });
    const service = await api.call('POST', '/v1/services', { name: 'gitea', dataPath, arch: 'x86_64' });
    assert.equal(service.status, 201, JSON.stringify(service.json));
    serviceId = (service.json as { id: string }).id;
    const bare = await api.call('POST', '/v1/services', {
      name: 'bare',
      dataPath: '/srv/bare',
      arch: 'x86_64',
    });
    bareServiceId = (bare.json as { id: string }).id;
    const plan = await api.call('POST', '/v1/plans', {
      name: 'nightly',
      schedule: { frequency: 'daily', time: '02:00', timezone: 'UTC' },
      retention: { keepLast: 3 },
      targetIds: [targetId],
      serviceIds: [serviceId, bareServiceId],
      password: PASSWORD,
      passwordConfirmation: PASSWORD,
    });
    assert.equal(plan.status, 201, JSON.stringify(plan.json));
    planId = (plan.json as { id: string }).id;
    snapshotId = await backUp('x86_64');
  });

  after(async () => {
    await restoreQueue?.obliterate({ force: true }).catch(() => undefined);
    await restoreQueue?.close();
    redis?.disconnect();
    await api?.close();
    dir?.cleanup();
  });

  test('bad input: 400 naming the field, nothing recorded or queued', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ password: PASSWORD }, 'serviceId'],
      [{ serviceId, password: PASSWORD, snapshotId: 'abc' }, 'snapshotId'],
      [{ serviceId, password: PASSWORD, snapshotId: 'AB'.repeat(32) }, 'snapshotId'],
      [{ serviceId }, 'password'],
      [{ serviceId, password: '' }, 'password'],
      [{ serviceId: 'nope', password: PASSWORD }, 'serviceId'],
      [{ serviceId, password: PASSWORD, targetId: 'x' }, 'targetId'],
      [{ serviceId, password: PASSWORD, destination: 'relative/path' }, 'destination'],
      [{ serviceId, password: PASSWORD, destination: '/' }, 'destination'],
      [{ serviceId, password: PASSWORD, destination: '//srv/..' }, 'destination'],
      [{ serviceId, password: PASSWORD, destination: '/srv/a\0b' }, 'destination'],
      [{ serviceId, password: PASSWORD, allowCrossArch: 'yes' }, 'allowCrossArch'],
      [{ serviceId, password: PASSWORD, verify: 1 }, 'verify'],
    ];
    for (const [body, field] of cases) {
      const res = await api.call('POST', '/v1/restores', body);
      assert.equal(res.status, 400, `${field}: ${JSON.stringify(res.json)}`);
      assert.equal(codeOf(res.json), 'VALIDATION_FAILED');
      assert.ok(fieldsOf(res.json).includes(field), `${field} in ${JSON.stringify(res.json)}`);
      assert.ok(!JSON.stringify(res.json).includes(PASSWORD), 'the password is never echoed');
    }
    const list = await api.call('GET', '/v1/restores?limit=0');
    assert.equal(list.status, 400);
    assert.deepEqual(fieldsOf(list.json), ['limit']);
    assert.equal(await api.prisma.restore.count(), 0);
    assert.equal(await jobCount(), 0);
  });

  test('unknown service, target, plan or snapshot: 404', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ serviceId: UNKNOWN_ID }, /service/],
      [{ serviceId, targetId: UNKNOWN_ID }, /target/],
      [{ serviceId, planId: UNKNOWN_ID }, /plan/],
      [{ serviceId, snapshotId: randomBytes(32).toString('hex') }, /snapshot .* not found/],
      [{ serviceId: bareServiceId }, /has no snapshot/],
    ];
    for (const [body, message] of cases) {
      const res = await api.call('POST', '/v1/restores', { password: PASSWORD, ...body });
      assert.equal(res.status, 404, JSON.stringify(res.json));
      assert.equal(codeOf(res.json), 'NOT_FOUND');
      assert.match((res.json as ErrorJson).error.message, message);
    }
    assert.equal((await api.call('GET', `/v1/restores/${UNKNOWN_ID}`)).status, 404);
    assert.equal((await api.call('GET', '/v1/restores/not-an-id')).status, 404);
    assert.equal(await api.prisma.restore.count(), 0);
  });

  test('wrong password: 422 WRONG_PASSWORD on `password`, nothing recorded or queued', async () => {
    const res = await api.call('POST', '/v1/restores', { serviceId, password: 'not the password' });
    assert.equal(res.status, 422, JSON.stringify(res.json));
    assert.equal(codeOf(res.json), 'WRONG_PASSWORD');
    assert.deepEqual(fieldsOf(res.json), ['password']);
    assert.ok(!JSON.stringify(res.json).includes('not the password'));
    assert.equal(await api.prisma.restore.count(), 0);
    assert.equal(await jobCount(), 0);
  });

  test('target unreachable: 503, nothing recorded or queued', async () => {
    // The drive "unplugged": its folder is gone for the duration of the request.
    const disk = join(dir.path, 'disk');
    renameSync(disk, `${disk}.away`);
    try {
      const res = await api.call('POST', '/v1/restores', { serviceId, password: PASSWORD });
      assert.equal(res.status, 503, JSON.stringify(res.json));
      assert.equal(codeOf(res.json), 'UNAVAILABLE');
      assert.match((res.json as ErrorJson).error.message, /target "disk" is unreachable/);
    } finally {
      renameSync(`${disk}.away`, disk);
    }
    assert.equal(await api.prisma.restore.count(), 0);
    assert.equal(await jobCount(), 0);
  });

  test('the right password: 202, a queued row, and a job whose password is sealed', async () => {
    const res = await api.call('POST', '/v1/restores', { serviceId, password: PASSWORD, verify: false });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const view = res.json as RestoreJson;
    assert.equal(view.status, 'queued');
    assert.equal(view.snapshotId, snapshotId, "'latest' by default");
    assert.equal(view.targetId, targetId);
    assert.equal(view.targetName, 'disk');
    assert.equal(view.destination, dataPath, "the service's data path by default");
    assert.equal(view.crossArch, false);
    assert.deepEqual(view.warnings, []);

    const row = await api.prisma.restore.findUniqueOrThrow({ where: { id: view.id } });
    assert.equal(row.status, 'queued');
    assert.ok(!JSON.stringify(row).includes(PASSWORD));

    const job = await restoreQueue.getJob(restoreJobId(view.id));
    assert.ok(job, 'the restore.run job is queued');
    assert.equal(job.name, 'restore.run');
    assert.equal(job.opts.attempts, 3);
    assert.equal((job.opts.backoff as { type: string }).type, 'exponential');
    const data = parseJobPayload('restore.run', job.data);
    assert.deepEqual(
      { ...data, passwordEnvelope: undefined },
      {
        restoreId: view.id,
        planId,
        serviceId,
        targetId,
        snapshot: snapshotId,
        destination: dataPath,
        allowCrossArch: false,
        verify: false,
        passwordEnvelope: undefined,
      },
    );
    // Everything Redis holds about the job, as a dump or a replica would show it.
    const hash = await redis.hgetall(`${api.config.queuePrefix}:${QUEUES.restore}:${restoreJobId(view.id)}`);
    assert.ok(Object.keys(hash).length > 0, 'the raw job hash was found');
    const raw = JSON.stringify(hash);
    assert.ok(!raw.includes(PASSWORD), 'no clear-text password in Redis');
    assert.ok(!raw.includes(Buffer.from(PASSWORD).toString('base64')), 'nor merely encoded');
    assert.equal(openPasswordEnvelope(serverKeys(api.config), view.id, data.passwordEnvelope), PASSWORD);

    const got = await api.call('GET', `/v1/restores/${view.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.json, view);
  });

  test('a chosen snapshot, target and destination; the list is newest first', async () => {
    const destination = join(dir.path, 'elsewhere');
    const res = await api.call('POST', '/v1/restores', {
      serviceId,
      snapshotId,
      targetId,
      planId,
      // Stored normalised: the worker and the catalog see the folder the restore really goes to.
      destination: `${destination.replace('/elsewhere', '//./elsewhere')}/`,
      password: PASSWORD,
    });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const view = res.json as RestoreJson;
    assert.equal(view.destination, destination);
    const job = parseJobPayload('restore.run', (await restoreQueue.getJob(restoreJobId(view.id)))?.data);
    assert.equal(job.destination, destination);
    assert.equal(job.verify, true, 'verify by default');

    const list = await api.call('GET', `/v1/restores?serviceId=${serviceId}`);
    assert.equal(list.status, 200);
    const ids = (list.json as RestoreJson[]).map((r) => r.id);
    assert.equal(ids.length, 2);
    assert.equal(ids[0], view.id, 'newest first');
    assert.deepEqual((await api.call('GET', `/v1/restores?serviceId=${bareServiceId}`)).json, []);
  });

  test('another architecture: 409 without consent, 202 with a warning with it', async () => {
    const armSnapshot = await backUp('arm64');
    const before = await api.prisma.restore.count();
    const jobsBefore = await jobCount();

    // 'latest' is now the arm64 snapshot.
    const refused = await api.call('POST', '/v1/restores', { serviceId, password: PASSWORD });
    assert.equal(refused.status, 409, JSON.stringify(refused.json));
    assert.equal(codeOf(refused.json), 'CROSS_ARCH');
    assert.deepEqual(fieldsOf(refused.json), ['allowCrossArch']);
    const message = (refused.json as ErrorJson).error.message;
    assert.match(message, /arm64/);
    assert.match(message, /reinstall/);
    assert.match(message, /allowCrossArch: true/);
    assert.equal(await api.prisma.restore.count(), before);
    assert.equal(await jobCount(), jobsBefore);

    const allowed = await api.call('POST', '/v1/restores', {
      serviceId,
      password: PASSWORD,
      allowCrossArch: true,
    });
    assert.equal(allowed.status, 202, JSON.stringify(allowed.json));
    const view = allowed.json as RestoreJson;
    assert.equal(view.snapshotId, armSnapshot);
    assert.equal(view.crossArch, true);
    assert.equal(view.warnings?.length, 1);
    assert.match(view.warnings?.[0] ?? '', /reinstall/);
    assert.match(view.warnings?.[0] ?? '', /taken on arm64, service "[^"]+" is declared x86_64/);
    const job = parseJobPayload('restore.run', (await restoreQueue.getJob(restoreJobId(view.id)))?.data);
    assert.equal(job.allowCrossArch, true);

    // Once the worker recorded what the destination could not take, GET shows it after the
    // cross-architecture warning.
    const metadata = ['data/notes.txt: extended attribute "user.tag" not restored (ENOTSUP)'];
    await new Catalog(api.prisma).restores.markSucceeded(view.id, metadata);
    const done = (await api.call('GET', `/v1/restores/${view.id}`)).json as RestoreJson;
    assert.equal(done.status, 'success');
    assert.deepEqual(done.warnings, [view.warnings[0], ...metadata]);

    // The x86_64 snapshot, named, needs no consent.
    const own = await api.call('POST', '/v1/restores', { serviceId, snapshotId, password: PASSWORD });
    assert.equal(own.status, 202, JSON.stringify(own.json));
    assert.equal((own.json as RestoreJson).crossArch, false);
  });

  test('a snapshot in the catalog but gone from the repository: 404', async () => {
    const ghost = randomBytes(32).toString('hex');
    await api.factories.newSnapshot({ planId, targetId, serviceId }, { id: ghost });
    const res = await api.call('POST', '/v1/restores', { serviceId, snapshotId: ghost, password: PASSWORD });
    assert.equal(res.status, 404, JSON.stringify(res.json));
    assert.match((res.json as ErrorJson).error.message, /no longer in the repository/);
  });
});
