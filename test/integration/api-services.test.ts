/**
 * The HTTP API's auth, services, health and OpenAPI document, driven with fetch against the real
 * Nest app over a fresh PostgreSQL database.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { hashToken } from '../../apps/api/src/auth/api-tokens';
import { startTestApi, type TestApi } from '../support/api-app';

interface ErrorJson {
  error: {
    code: string;
    message: string;
    fields?: { path: string; message: string }[];
    correlationId?: string;
  };
}
interface ServiceJson {
  id: string;
  name: string;
  dataPath: string;
  excludes: string[];
  arch: string;
  preHook: unknown;
  postHook: unknown;
  state: string;
}

const nextcloud = {
  name: 'nextcloud',
  dataPath: '/srv/nextcloud/data',
  excludes: ['cache/', '*.tmp'],
  arch: 'arm64',
  preHook: { kind: 'http', url: 'http://nextcloud.local/maintenance/on', method: 'POST' },
  postHook: { kind: 'command', argv: ['docker', 'start', 'nextcloud'], timeoutMs: 30_000 },
};

const ROOT = path.resolve(__dirname, '../../..');
const NODE = existsSync(path.join(ROOT, 'node_modules/.bin/node'))
  ? path.join(ROOT, 'node_modules/.bin/node')
  : process.execPath;

const UNKNOWN_ID = '01900000-0000-7000-8000-000000000000';

describe('API: auth, services, health, docs', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi('api_services');
  });
  after(async () => {
    await api?.close();
  });

  test('401 without a token, with a malformed one, with an unknown one and with a revoked one', async () => {
    for (const token of [null, 'not a bearer token', 'vlt_unknown']) {
      const res = await api.call('GET', '/v1/services', undefined, token);
      assert.equal(res.status, 401, `token ${String(token)}`);
      assert.equal((res.json as ErrorJson).error.code, 'UNAUTHORIZED');
    }
    const revoked = 'vlt_revoked-token';
    await api.factories.newApiToken({ name: 'old', tokenHash: hashToken(revoked), revokedAt: new Date() });
    assert.equal((await api.call('GET', '/v1/services', undefined, revoked)).status, 401);
  });

  test('a valid token is accepted and its last use recorded; only its hash is stored', async () => {
    assert.equal((await api.call('GET', '/v1/services')).status, 200);
    const row = await api.prisma.apiToken.findUnique({ where: { tokenHash: hashToken(api.token) } });
    assert.ok(row?.lastUsedAt, 'last_used_at is set');
    const all = await api.prisma.apiToken.findMany();
    assert.ok(all.every((t) => !t.tokenHash.includes(api.token) && /^[0-9a-f]{64}$/.test(t.tokenHash)));
  });

  test('create, list, get, update and delete a service', async () => {
    const created = await api.call('POST', '/v1/services', nextcloud);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const s = created.json as ServiceJson;
    assert.equal(s.name, 'nextcloud');
    assert.equal(s.state, 'idle');
    assert.deepEqual(s.excludes, ['cache/', '*.tmp']);
    assert.deepEqual(s.preHook, nextcloud.preHook);
    assert.deepEqual(s.postHook, nextcloud.postHook);

    const list = await api.call('GET', '/v1/services');
    assert.deepEqual(
      (list.json as ServiceJson[]).map((x) => x.id),
      [s.id],
    );
    assert.deepEqual((await api.call('GET', `/v1/services/${s.id}`)).json, s);

    const updated = await api.call('PATCH', `/v1/services/${s.id}`, { dataPath: '/srv/nc', preHook: null });
    assert.equal(updated.status, 200, JSON.stringify(updated.json));
    const u = updated.json as ServiceJson;
    assert.equal(u.dataPath, '/srv/nc');
    assert.equal(u.preHook, null);
    assert.deepEqual(u.postHook, nextcloud.postHook, 'fields not sent are unchanged');

    assert.equal((await api.call('DELETE', `/v1/services/${s.id}`)).status, 204);
    assert.equal((await api.call('GET', `/v1/services/${s.id}`)).status, 404);
  });

  test("placement: a service's node is stored, changed and cleared; a malformed node is a 400", async () => {
    const created = await api.call('POST', '/v1/services', {
      name: 'immich',
      dataPath: '/srv/immich',
      arch: 'x86_64',
      node: 'k3s-node-1.lan',
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const s = created.json as ServiceJson & { node: string | null };
    assert.equal(s.node, 'k3s-node-1.lan');
    const moved = await api.call('PATCH', `/v1/services/${s.id}`, { node: 'node-2' });
    assert.equal((moved.json as { node: string }).node, 'node-2');
    const renamed = await api.call('PATCH', `/v1/services/${s.id}`, { name: 'immich2' });
    assert.equal((renamed.json as { node: string }).node, 'node-2', 'a PATCH without node keeps it');
    const labelled = await api.call('PATCH', `/v1/services/${s.id}`, { node: 'vaultline.io/pool=nas' });
    assert.equal((labelled.json as { node: string }).node, 'vaultline.io/pool=nas', 'a node label');
    const cleared = await api.call('PATCH', `/v1/services/${s.id}`, { node: null });
    assert.equal((cleared.json as { node: null }).node, null);
    for (const bad of ['Node_1', '', 'a'.repeat(254), 'node a', 7, 'disk=', 'a=b=c']) {
      const r = await api.call('PATCH', `/v1/services/${s.id}`, { node: bad });
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.ok(JSON.stringify(r.json).includes('"node"'), JSON.stringify(r.json));
    }
    const plain = await api.call('POST', '/v1/services', {
      name: 'plain',
      dataPath: '/srv/p',
      arch: 'arm64',
    });
    assert.equal((plain.json as { node: null }).node, null);
    for (const id of [s.id, (plain.json as ServiceJson).id]) await api.call('DELETE', `/v1/services/${id}`);
  });

  test('dump sources: presets stored as plain commands, replaced by PATCH; invalid ones are a 400 at their field', async () => {
    const created = await api.call('POST', '/v1/services', {
      name: 'db-app',
      dataPath: '/srv/db-app',
      arch: 'x86_64',
      dumps: [
        { preset: 'postgres', database: 'app' },
        { name: 'extra/state.json', argv: ['cat', '/srv/state.json'] },
      ],
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const s = created.json as ServiceJson & { dumps: { name: string; argv: string[] }[] };
    assert.deepEqual(
      s.dumps.map((d) => d.name),
      ['postgres/app.dump', 'extra/state.json'],
    );
    assert.equal(s.dumps[0]!.argv[0], 'pg_dump');
    assert.deepEqual((await api.call('GET', `/v1/services/${s.id}`)).json, s);
    const cleared = await api.call('PATCH', `/v1/services/${s.id}`, { dumps: [] });
    assert.deepEqual((cleared.json as { dumps: unknown[] }).dumps, []);
    for (const bad of [
      [{ preset: 'postgres' }],
      [{ name: '../escape', argv: ['x'] }],
      [{ name: 'a', argv: ['x'], shell: 'sh -c' }],
      [
        { name: 'a', argv: ['x'] },
        { name: 'a', argv: ['y'] },
      ],
      'pg_dump app',
    ]) {
      const r = await api.call('PATCH', `/v1/services/${s.id}`, { dumps: bad });
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.ok(JSON.stringify(r.json).includes('dumps'), JSON.stringify(r.json));
    }
    await api.call('DELETE', `/v1/services/${s.id}`);
  });

  test('invalid input is a 400 naming each field', async () => {
    const res = await api.call('POST', '/v1/services', {
      ...nextcloud,
      name: 'x',
      dataPath: 'relative/path',
      arch: 'mips',
    });
    assert.equal(res.status, 400);
    const { error } = res.json as ErrorJson;
    assert.equal(error.code, 'VALIDATION_FAILED');
    const paths = (error.fields ?? []).map((f) => f.path).sort();
    assert.deepEqual(paths, ['arch', 'dataPath']);
    assert.match(error.fields?.find((f) => f.path === 'dataPath')?.message ?? '', /absolute/);

    const missing = await api.call('POST', '/v1/services', { name: 'y' });
    // zod reports a missing enum as an invalid option, not as missing (contracts' toIssues only
    // rewrites invalid_type); either way the field is named.
    assert.deepEqual((missing.json as ErrorJson).error.fields?.map((f) => f.path).sort(), [
      'arch',
      'dataPath',
    ]);
    assert.ok((missing.json as ErrorJson).error.fields?.some((f) => f.message === 'is required'));

    const hook = await api.call('POST', '/v1/services', {
      ...nextcloud,
      preHook: { kind: 'command', argv: [] },
    });
    assert.equal(hook.status, 400);
    assert.deepEqual(
      (hook.json as ErrorJson).error.fields?.map((f) => f.path),
      ['preHook.argv'],
    );

    const metadata = await api.call('POST', '/v1/services', {
      ...nextcloud,
      postHook: { kind: 'http', url: 'http://169.254.169.254/latest/meta-data/' },
    });
    assert.equal(metadata.status, 400);
    assert.deepEqual(
      (metadata.json as ErrorJson).error.fields?.map((f) => f.path),
      ['postHook.url'],
    );

    const unknownField = await api.call('POST', '/v1/services', { ...nextcloud, dataPth: '/x' });
    assert.equal(unknownField.status, 400);

    const notJson = await api.call('POST', '/v1/services', '{"name":');
    assert.equal(notJson.status, 400);
    assert.equal((notJson.json as ErrorJson).error.code, 'VALIDATION_FAILED');

    const longName = await api.call('POST', '/v1/services', { ...nextcloud, name: 'n'.repeat(65) });
    assert.deepEqual(
      (longName.json as ErrorJson).error.fields?.map((f) => f.path),
      ['name'],
    );
  });

  test('unknown ids are 404 on every route', async () => {
    for (const [method, path, body] of [
      ['GET', `/v1/services/${UNKNOWN_ID}`, undefined],
      ['PATCH', `/v1/services/${UNKNOWN_ID}`, { arch: 'x86_64' }],
      ['DELETE', `/v1/services/${UNKNOWN_ID}`, undefined],
      ['GET', '/v1/services/not-a-uuid', undefined],
      ['GET', '/v1/nothing-here', undefined],
    ] as const) {
      const res = await api.call(method, path, body);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal((res.json as ErrorJson).error.code, 'NOT_FOUND');
    }
  });

  test('a duplicate name is a 409, on create and on rename', async () => {
    assert.equal((await api.call('POST', '/v1/services', { ...nextcloud, name: 'dup' })).status, 201);
    const again = await api.call('POST', '/v1/services', { ...nextcloud, name: 'dup' });
    assert.equal(again.status, 409);
    assert.equal((again.json as ErrorJson).error.code, 'CONFLICT');
    const other = (await api.call('POST', '/v1/services', { ...nextcloud, name: 'other' }))
      .json as ServiceJson;
    assert.equal((await api.call('PATCH', `/v1/services/${other.id}`, { name: 'dup' })).status, 409);
  });

  test('a service in a plan cannot be deleted (409)', async () => {
    const s = (await api.call('POST', '/v1/services', { ...nextcloud, name: 'planned' })).json as ServiceJson;
    await api.factories.newPlan({
      fields: { name: 'nightly', startTime: '03:00', retention: { keepDaily: 7 } },
      services: [s],
    });
    const res = await api.call('DELETE', `/v1/services/${s.id}`);
    assert.equal(res.status, 409);
    assert.match((res.json as ErrorJson).error.message, /plan/);
    assert.equal((await api.call('GET', `/v1/services/${s.id}`)).status, 200);
  });

  test('freshness: per plan × target, the last success against the schedule; paused flagged, deleted left out', async () => {
    const svc = (
      await api.call('POST', '/v1/services', { name: 'fresh-svc', dataPath: '/srv/fresh', arch: 'x86_64' })
    ).json as ServiceJson;
    const target = (name: string) => api.factories.newTarget({ name, path: `/mnt/${name}` });
    const [t1, t2] = [await target('fresh-disk-1'), await target('fresh-disk-2')];
    const hours = (h: number) => new Date(Date.now() - h * 3_600_000);
    // Rows as the plans API and the report service write them; the repositories are not needed here.
    const plan = async (
      name: string,
      frequency: 'daily' | 'weekly',
      extra: { paused?: boolean; deletedAt?: Date } = {},
    ) => {
      return api.factories.newPlan({
        fields: {
          name,
          frequency,
          dayOfWeek: frequency === 'weekly' ? 1 : null,
          retention: { keepLast: 1 },
          ...extra,
        },
        targets: [t1, t2],
        services: [svc],
        repository: (t) => ({
          repoId: 'r',
          repoLocation: `/mnt/${t.name}/x`,
          writerKeyEnc: 'sealed',
          createdAt: hours(24 * 30),
        }),
      });
    };
    const daily = await plan('fresh-daily', 'daily');
    const weekly = await plan('fresh-weekly', 'weekly');
    const paused = await plan('fresh-paused', 'daily', { paused: true });
    await plan('fresh-deleting', 'daily', { deletedAt: new Date() });

    const snapshot = (planId: string, targetId: string, time: Date) => ({
      planId,
      targetId,
      serviceId: svc.id,
      time,
    });
    await api.factories.newSnapshots([
      snapshot(daily.id, t1.id, hours(3)), // fresh
      snapshot(daily.id, t2.id, hours(40)), // overdue: > 24 h + 6 h
      snapshot(weekly.id, t1.id, hours(24 * 8)), // fresh: < 7 d + 42 h
      snapshot(paused.id, t1.id, hours(24 * 20)),
    ]);
    // weekly × t2: no snapshot in the catalog, but a successful run result 2 h ago.
    const run = await api.factories.newRun(weekly.id, [], { trigger: 'schedule', status: 'success' });
    await api.factories.newBackup(
      { runId: run.id, serviceId: svc.id, targetId: t2.id },
      { status: 'success', finishedAt: hours(2) },
    );
    await api.catalog.services.markBusy(svc.id, 'backing_up');

    const res = await api.call('GET', `/v1/services/${svc.id}/freshness`);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const f = res.json as {
      state: string;
      overdue: boolean;
      entries: {
        planName: string;
        targetName: string;
        paused: boolean;
        overdue: boolean;
        lastSuccessAt: string | null;
        expectedIntervalHours: number;
      }[];
    };
    assert.equal(f.state, 'backing_up');
    assert.equal(f.overdue, true);
    const row = (planName: string, targetName: string) => {
      const e = f.entries.find((x) => x.planName === planName && x.targetName === targetName);
      assert.ok(e, `${planName} × ${targetName}`);
      return {
        overdue: e.overdue,
        paused: e.paused,
        hours: e.expectedIntervalHours,
        last: e.lastSuccessAt !== null,
      };
    };
    assert.deepEqual(row('fresh-daily', 'fresh-disk-1'), {
      overdue: false,
      paused: false,
      hours: 24,
      last: true,
    });
    assert.deepEqual(row('fresh-daily', 'fresh-disk-2'), {
      overdue: true,
      paused: false,
      hours: 24,
      last: true,
    });
    assert.deepEqual(row('fresh-weekly', 'fresh-disk-1'), {
      overdue: false,
      paused: false,
      hours: 168,
      last: true,
    });
    assert.deepEqual(row('fresh-weekly', 'fresh-disk-2'), {
      overdue: false,
      paused: false,
      hours: 168,
      last: true,
    });
    assert.deepEqual(row('fresh-paused', 'fresh-disk-1'), {
      overdue: false,
      paused: true,
      hours: 24,
      last: true,
    });
    assert.deepEqual(row('fresh-paused', 'fresh-disk-2'), {
      overdue: false,
      paused: true,
      hours: 24,
      last: false,
    });
    assert.ok(!f.entries.some((e) => e.planName === 'fresh-deleting'), 'a plan being deleted is left out');
    assert.equal(f.entries.length, 6);

    const got = (await api.call('GET', `/v1/services/${svc.id}`)).json as ServiceJson;
    assert.equal(got.state, 'backing_up', 'GET /v1/services/:id shows the state');
    assert.equal((await api.call('GET', `/v1/services/${UNKNOWN_ID}/freshness`)).status, 404);
  });

  test('/health answers without a token', async () => {
    const res = await api.call('GET', '/health', undefined, null);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'ok', db: 'ok' });
  });

  test('/docs-json describes the routes and the bearer auth, without a token', async () => {
    const res = await api.call('GET', '/docs-json', undefined, null);
    assert.equal(res.status, 200);
    const doc = res.json as {
      paths: Record<string, Record<string, unknown>>;
      components: { securitySchemes?: Record<string, { scheme?: string }> };
    };
    for (const p of [
      '/v1/services',
      '/v1/services/{id}',
      '/v1/targets',
      '/v1/targets/{id}',
      '/v1/targets/{id}/test',
      '/health',
    ]) {
      assert.ok(doc.paths[p], `documents ${p}`);
    }
    assert.deepEqual(Object.keys(doc.paths['/v1/services/{id}'] ?? {}).sort(), ['delete', 'get', 'patch']);
    assert.equal(Object.values(doc.components.securitySchemes ?? {})[0]?.scheme, 'bearer');
    const html = await fetch(`${api.baseUrl}/docs`);
    assert.equal(html.status, 200);
  });

  test('create-token prints a new token once; it authenticates and only its hash is stored', async () => {
    const { stdout } = await promisify(execFile)(
      NODE,
      [path.join(ROOT, 'dist/apps/api/src/create-token.js'), 'ops'],
      {
        env: {
          PATH: process.env['PATH'],
          DATABASE_URL: api.databaseUrl,
          VAULTLINE_SERVER_SECRET: randomBytes(32).toString('hex'),
        },
      },
    );
    const token = stdout.trim();
    assert.match(token, /^vlt_[A-Za-z0-9_-]{43}$/);
    assert.equal((await api.call('GET', '/v1/services', undefined, token)).status, 200);
    const row = await api.prisma.apiToken.findUniqueOrThrow({ where: { tokenHash: hashToken(token) } });
    assert.equal(row.name, 'ops');
  });
});
