/**
 * The API answers what its contract says, route by route: every operation of the OpenAPI document
 * (/docs-json) is called through the generated typed client (libs/api-client) against the real
 * API, Postgres and Redis, and every answer is checked against the document — its status must be
 * one the operation documents, a 2xx body must match the zod schema the document names for it
 * (libs/contracts API_SCHEMAS), an error body must be the error body with a code documented for
 * that status. A drift between the code and the contract fails here (and, through the API's own
 * response check, in every other API test).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApiClient, type ApiClient, type Middleware } from '@vaultline/api-client';
import {
  API_SCHEMAS,
  type ApiSchemaName,
  errorBodySchema,
  type ReportSummary,
  restoreViewSchema,
  runSummaryViewSchema,
} from '@vaultline/contracts';
import { backup, parseWriterKey, Repository } from '@vaultline/engine';
import { openWithServerKey, parseSealed, recordIds, serverKeys } from '@vaultline/secrets';
import { FsBackend } from '@vaultline/storage';
import { z } from 'zod';
import { createTestUser, openEventStream, startTestApi, type TestApi } from '../support/api-app';
import { makeSource, tempDir } from '../support/fixtures';

const PASSWORD = 'the owner password';
const NEW_PASSWORD = 'the new password';
const UNKNOWN_ID = '01900000-0000-7000-8000-000000000000';

interface JsonSchemaRef {
  $ref?: string;
  type?: string;
  items?: JsonSchemaRef;
  allOf?: [JsonSchemaRef, { properties: { error: { properties: { code: { enum: string[] } } } } }];
}
interface OperationDoc {
  responses: Record<string, { content?: Record<string, { schema: JsonSchemaRef }> }>;
}
type Paths = Record<string, Record<string, OperationDoc>>;

const nameOf = (ref: string): ApiSchemaName => ref.replace('#/components/schemas/', '') as ApiSchemaName;

/** The zod schema a documented JSON response names, and for an error the codes it may carry. */
function schemaOf(doc: JsonSchemaRef): { schema: z.ZodType; codes?: string[] } {
  if (doc.$ref) return { schema: API_SCHEMAS[nameOf(doc.$ref)] };
  if (doc.type === 'array' && doc.items?.$ref)
    return { schema: z.array(API_SCHEMAS[nameOf(doc.items.$ref)]) };
  if (doc.allOf?.[0].$ref === '#/components/schemas/ErrorBody') {
    return { schema: errorBodySchema, codes: doc.allOf[1].properties.error.properties.code.enum };
  }
  throw new Error(`not a schema of the contract: ${JSON.stringify(doc)}`);
}

describe('API contract: every route answers what /docs-json says', () => {
  let api: TestApi;
  let dir: ReturnType<typeof tempDir>;
  let paths: Paths;
  let client: ApiClient;
  let anonymous: ApiClient;
  /** `method path status` of every answer checked. */
  const seen = new Set<string>();
  const problems: string[] = [];

  /** Checks each answer against the document as it arrives. */
  const checker: Middleware = {
    async onResponse({ request, response, schemaPath }) {
      const method = request.method.toLowerCase();
      const where = `${method} ${schemaPath} ${response.status}`;
      seen.add(where);
      const op = paths[schemaPath]?.[method];
      if (!op) return void problems.push(`${where}: not in the document`);
      const documented = op.responses[String(response.status)];
      if (!documented) return void problems.push(`${where}: status not documented`);
      const media = documented.content?.['application/json'];
      // A binary answer (a download): its content type must be one the document lists.
      const binary = Object.keys(documented.content ?? {}).filter((t) => t !== 'application/json');
      const type = response.headers.get('content-type')?.split(';')[0] ?? '';
      if (!media && binary.length > 0) {
        if (!binary.includes(type)) problems.push(`${where}: content type ${type} not documented`);
        return;
      }
      const text = await response.clone().text();
      if (!media) {
        if (text) problems.push(`${where}: a body where the document has none`);
        return;
      }
      const { schema, codes } = schemaOf(media.schema);
      const r = schema.safeParse(JSON.parse(text));
      if (!r.success) return void problems.push(`${where}: ${z.prettifyError(r.error)}`);
      const code = (r.data as { error?: { code: string } }).error?.code;
      if (codes && !codes.includes(code ?? '')) problems.push(`${where}: code ${code} not documented`);
    },
  };

  let targetId: string;
  let spareTargetId: string;
  let serviceId: string;
  let spareServiceId: string;
  let planId: string;
  let runId: string;
  let restoreId: string;
  let dataPath: string;

  before(async () => {
    api = await startTestApi('api_contract');
    dir = tempDir('api-contract');
    for (const d of ['disk', 'spare']) mkdirSync(join(dir.path, d));
    dataPath = join(dir.path, 'src', 'gitea');
    mkdirSync(dataPath, { recursive: true });
    makeSource(dataPath);
    const served = await api.call('GET', '/docs-json', undefined, null);
    paths = (served.json as { paths: Paths }).paths;
    client = createApiClient({ baseUrl: api.baseUrl, token: api.token });
    client.use(checker);
    anonymous = createApiClient({ baseUrl: api.baseUrl });
    anonymous.use(checker);
  });

  after(async () => {
    await api?.close();
    dir?.cleanup();
  });

  test('the served document is the one the client was generated from', async () => {
    const served = await api.call('GET', '/docs-json', undefined, null);
    const committed = JSON.parse(
      readFileSync(join(__dirname, '..', '..', '..', 'libs/api-client/openapi.json'), 'utf8'),
    ) as unknown;
    assert.deepEqual(served.json, committed);
  });

  test('health, targets and services', async () => {
    assert.equal((await anonymous.GET('/health')).response.status, 200);

    const t = await client.POST('/v1/targets', {
      body: { name: 'disk', kind: 'local', path: join(dir.path, 'disk') },
    });
    assert.equal(t.response.status, 201);
    targetId = t.data!.id;
    const spare = await client.POST('/v1/targets', {
      body: { name: 'spare', kind: 'local', path: join(dir.path, 'spare') },
    });
    spareTargetId = spare.data!.id;
    assert.equal((await client.GET('/v1/targets')).data?.length, 2);
    const one = await client.GET('/v1/targets/{id}', { params: { path: { id: targetId } } });
    assert.equal(one.data?.kind, 'local');
    const renamed = await client.PATCH('/v1/targets/{id}', {
      params: { path: { id: spareTargetId } },
      body: { name: 'spare disk' },
    });
    assert.equal(renamed.data?.name, 'spare disk');
    const probe = await client.POST('/v1/targets/{id}/test', { params: { path: { id: targetId } } });
    assert.equal(probe.data?.writable, true);

    const s = await client.POST('/v1/services', { body: { name: 'gitea', dataPath, arch: 'x86_64' } });
    assert.equal(s.response.status, 201);
    serviceId = s.data!.id;
    const bare = await client.POST('/v1/services', {
      body: { name: 'bare', dataPath: '/srv/bare', arch: 'arm64' },
    });
    spareServiceId = bare.data!.id;
    assert.equal((await client.GET('/v1/services')).data?.length, 2);
    const got = await client.GET('/v1/services/{id}', { params: { path: { id: serviceId } } });
    assert.equal(got.data?.state, 'idle');
    const patched = await client.PATCH('/v1/services/{id}', {
      params: { path: { id: serviceId } },
      body: { excludes: ['*.tmp'] },
    });
    assert.deepEqual(patched.data?.excludes, ['*.tmp']);
  });

  test('plans, runs and reports', async () => {
    const p = await client.POST('/v1/plans', {
      body: {
        name: 'nightly',
        schedule: { frequency: 'weekly', time: '02:00', dayOfWeek: 1, timezone: 'Europe/Paris' },
        retention: { keepLast: 3 },
        targetIds: [targetId],
        serviceIds: [serviceId],
        password: PASSWORD,
        passwordConfirmation: PASSWORD,
      },
    });
    assert.equal(p.response.status, 201);
    planId = p.data!.id;
    const path = { id: planId };
    assert.equal((await client.GET('/v1/plans')).data?.length, 1);
    assert.equal((await client.GET('/v1/plans/{id}', { params: { path } })).data?.state, 'active');
    const patched = await client.PATCH('/v1/plans/{id}', {
      params: { path },
      body: { retention: { keepLast: 5 } },
    });
    assert.equal(patched.data?.retention.keepLast, 5);
    assert.equal((await client.POST('/v1/plans/{id}/pause', { params: { path } })).data?.state, 'paused');
    assert.equal((await client.POST('/v1/plans/{id}/resume', { params: { path } })).data?.state, 'active');
    const freshness = await client.GET('/v1/services/{id}/freshness', {
      params: { path: { id: serviceId } },
    });
    assert.equal(freshness.data?.entries.length, 1);

    const run = await client.POST('/v1/plans/{id}/runs', {
      params: { path, header: { 'idempotency-key': 'contract-1' } },
    });
    assert.equal(run.response.status, 202);
    runId = run.data!.id;
    const runs = await client.GET('/v1/plans/{id}/runs', { params: { path, query: { limit: 10 } } });
    assert.equal(runs.data?.items[0]?.id, runId);
    const got = await client.GET('/v1/runs/{id}', { params: { path: { id: runId } } });
    assert.equal(got.data?.backups.length, 1);

    const early = await client.GET('/v1/runs/{id}/report', { params: { path: { id: runId } } });
    assert.equal(early.error?.error.code, 'CONFLICT');
    const at = new Date().toISOString();
    const summary: ReportSummary = {
      version: 1,
      runId,
      plan: { id: planId, name: 'nightly' },
      trigger: 'manual',
      status: 'failed',
      queuedAt: at,
      startedAt: at,
      finishedAt: at,
      durationMs: 12,
      counts: { total: 1, succeeded: 0, failed: 1 },
      totals: { totalBytes: 0, bytesAdded: 0, files: 0 },
      backups: [
        {
          serviceId,
          serviceName: 'gitea',
          targetId,
          targetName: 'disk',
          status: 'failed',
          snapshotId: null,
          totalBytes: 0,
          bytesAdded: 0,
          files: 0,
          unreadableCount: 0,
          unreadable: [],
          error: { code: 'UNREACHABLE', message: 'target unreachable' },
          durationMs: 12,
        },
      ],
    };
    await api.prisma.report.create({ data: { runId, status: 'failed', summary } });
    const report = await client.GET('/v1/runs/{id}/report', { params: { path: { id: runId } } });
    assert.deepEqual(report.data?.summary, summary);

    const events = await openEventStream(api, `/v1/runs/${runId}/events`);
    const state = await events.next();
    await events.close();
    assert.equal(events.status, 200);
    assert.equal(state?.type, 'state');
    runSummaryViewSchema.parse(JSON.parse(state?.data ?? ''));
    seen.add(`get /v1/runs/{id}/events 200`);
  });

  test('snapshots, restores, verification, catalog sync and the password', async () => {
    const path = { id: planId };
    const snapshotId = await backUp();
    const snapshots = await client.GET('/v1/plans/{id}/snapshots', {
      params: { path, query: { serviceId, targetId } },
    });
    assert.equal(snapshots.data?.items[0]?.id, snapshotId);
    const browse = { params: { path: { id: snapshotId } }, body: { targetId, password: PASSWORD } };
    const root = await client.POST('/v1/snapshots/{id}/tree', browse);
    assert.ok(root.data?.entries.some((e) => e.name === 'docs' && e.type === 'dir'));
    const file = await client.POST('/v1/snapshots/{id}/download', {
      ...browse,
      body: { ...browse.body, path: '/docs/readme.txt' },
      parseAs: 'arrayBuffer',
    });
    assert.equal(file.response.status, 200);
    const folder = await client.POST('/v1/snapshots/{id}/download', { ...browse, parseAs: 'arrayBuffer' });
    assert.equal(folder.response.headers.get('content-type'), 'application/x-tar');
    const wrongPassword = await client.POST('/v1/snapshots/{id}/tree', {
      ...browse,
      body: { targetId, password: 'not it' },
    });
    assert.equal(wrongPassword.error?.error.code, 'WRONG_PASSWORD');

    const restore = await client.POST('/v1/restores', { body: { serviceId, password: PASSWORD } });
    assert.equal(restore.response.status, 202, JSON.stringify(restore.error));
    restoreId = restore.data!.id;
    assert.equal(
      (await client.GET('/v1/restores', { params: { query: { serviceId } } })).data?.[0]?.id,
      restoreId,
    );
    const one = await client.GET('/v1/restores/{id}', { params: { path: { id: restoreId } } });
    assert.equal(one.data?.snapshotId, snapshotId);
    const events = await openEventStream(api, `/v1/restores/${restoreId}/events`);
    const state = await events.next();
    await events.close();
    assert.equal(state?.type, 'state');
    restoreViewSchema.parse(JSON.parse(state?.data ?? ''));
    seen.add(`get /v1/restores/{id}/events 200`);

    const verify = await client.POST('/v1/plans/{id}/verify', { params: { path }, body: {} });
    assert.equal(verify.data?.kind, 'scheduled');
    await client.GET('/v1/plans/{id}/verifications', { params: { path } });
    const sync = await client.POST('/v1/plans/{id}/catalog/sync', { params: { path } });
    assert.deepEqual(sync.data?.targetIds, [targetId]);
    const changed = await client.POST('/v1/plans/{id}/password', {
      params: { path },
      body: { oldPassword: PASSWORD, newPassword: NEW_PASSWORD, newPasswordConfirmation: NEW_PASSWORD },
    });
    assert.equal(changed.data?.targets[0]?.oldKeyRemoved, true);
  });

  test('errors: the documented code, in the error body', async () => {
    const unknown = await client.GET('/v1/plans/{id}', { params: { path: { id: UNKNOWN_ID } } });
    assert.equal(unknown.error?.error.code, 'NOT_FOUND');
    const noToken = await anonymous.GET('/v1/plans');
    assert.equal(noToken.error?.error.code, 'UNAUTHORIZED');
    const badQuery = await client.GET('/v1/restores', {
      params: { query: { limit: 0 } },
    });
    assert.equal(badQuery.error?.error.code, 'VALIDATION_FAILED');
    const wrong = await client.POST('/v1/restores', { body: { serviceId, password: 'not it' } });
    assert.equal(wrong.error?.error.code, 'WRONG_PASSWORD');
    const inUse = await client.DELETE('/v1/services/{id}', { params: { path: { id: serviceId } } });
    assert.equal(inUse.error?.error.code, 'CONFLICT');
  });

  test('the web UI session: sign in, read it, a change with the cookie, sign out', async () => {
    await createTestUser(api, 'admin', PASSWORD);
    const wrong = await anonymous.POST('/v1/session', { body: { name: 'admin', password: 'not it' } });
    assert.equal(wrong.error?.error.code, 'UNAUTHORIZED');
    const signedIn = await anonymous.POST('/v1/session', { body: { name: 'admin', password: PASSWORD } });
    assert.equal(signedIn.response.status, 201);
    const cookie = (signedIn.response.headers.get('set-cookie') ?? '').split(';', 1)[0]!;
    const browser = createApiClient({ baseUrl: api.baseUrl, headers: { cookie } });
    browser.use(checker);
    const got = await browser.GET('/v1/session');
    assert.equal(got.data?.csrfToken, signedIn.data?.csrfToken);
    const forged = await browser.POST('/v1/targets', {
      body: { name: 'forged', kind: 'local', path: join(dir.path, 'disk') },
    });
    assert.equal(forged.error?.error.code, 'CSRF');
    assert.equal((await browser.DELETE('/v1/session')).response.status, 204);
    assert.equal((await browser.GET('/v1/session')).error?.error.code, 'UNAUTHORIZED');
  });

  test('deletions', async () => {
    const svc = await client.DELETE('/v1/services/{id}', { params: { path: { id: spareServiceId } } });
    assert.equal(svc.response.status, 204);
    const target = await client.DELETE('/v1/targets/{id}', { params: { path: { id: spareTargetId } } });
    assert.equal(target.response.status, 204);
    const plan = await client.DELETE('/v1/plans/{id}', { params: { path: { id: planId } } });
    assert.equal(plan.data?.state, 'deleting');
  });

  test('every operation was answered with its 2xx, and every answer matched the document', () => {
    assert.deepEqual(problems, []);
    const operations = Object.entries(paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => {
        const success = Object.keys(op.responses).find((s) => s.startsWith('2'));
        return `${method} ${path} ${success}`;
      }),
    );
    assert.ok(operations.length >= 34, `${operations.length} operations`);
    assert.deepEqual(
      operations.filter((o) => !seen.has(o)),
      [],
      'operations this test did not exercise',
    );
  });

  /** Backs the service up into the plan's repository with the writer key, and catalogues it. */
  async function backUp(): Promise<string> {
    const row = await api.prisma.planTarget.findUniqueOrThrow({
      where: { planId_targetId: { planId, targetId } },
    });
    const writerKey = parseWriterKey(
      openWithServerKey(
        serverKeys(api.config),
        'writer-key',
        recordIds.writerKey(planId, targetId),
        parseSealed(row.writerKeyEnc),
      ).toString('utf8'),
    );
    const repo = await Repository.open(await FsBackend.open(row.repoLocation), { writerKey });
    try {
      const { snapshot } = await backup(repo, {
        source: dataPath,
        service: serviceId,
        plan: planId,
        arch: 'x86_64',
      });
      await api.prisma.snapshot.create({
        data: {
          id: snapshot.id,
          targetId,
          planId,
          serviceId,
          runId,
          time: new Date(snapshot.time),
          arch: snapshot.arch,
          totalBytes: BigInt(snapshot.stats.totalBytes),
          bytesAdded: BigInt(snapshot.stats.bytesAdded),
          files: snapshot.stats.files,
        },
      });
      return snapshot.id;
    } finally {
      await repo.backend.close();
    }
  }
});
