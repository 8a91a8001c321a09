/**
 * What the API refuses at its boundary, whatever the route: unknown fields, text that is not
 * UTF-8, bodies that are not JSON, restore destinations outside the restore roots; what it says
 * when its database is down; and what its responses do not reveal (X-Powered-By, parser messages).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestApi, type TestApi } from '../support/api-app';
import { makeSource, tempDir } from '../support/fixtures';

interface ErrorJson {
  error: { code: string; message: string; fields?: { path: string; message: string }[] };
}
const fieldsOf = (json: unknown): string[] => ((json as ErrorJson).error.fields ?? []).map((f) => f.path);
const PASSWORD = 'plan password';

/** An API with one local target and one service whose folder `fill` (if given) populates. */
async function startWithTargetAndService(
  label: string,
  fill?: (source: string) => void,
): Promise<{ api: TestApi; dir: ReturnType<typeof tempDir>; targetId: string; serviceId: string }> {
  const api = await startTestApi(label);
  const dir = tempDir(label.replace(/_/g, '-'));
  mkdirSync(join(dir.path, 'disk'));
  const t = await api.call('POST', '/v1/targets', {
    name: 'disk',
    kind: 'local',
    path: join(dir.path, 'disk'),
  });
  assert.equal(t.status, 201, JSON.stringify(t.json));
  const source = join(dir.path, 'src');
  mkdirSync(source);
  fill?.(source);
  const s = await api.call('POST', '/v1/services', { name: 'app', dataPath: source, arch: 'x86_64' });
  assert.equal(s.status, 201, JSON.stringify(s.json));
  return { api, dir, targetId: (t.json as { id: string }).id, serviceId: (s.json as { id: string }).id };
}

describe('API boundary: request bodies', () => {
  let api: TestApi;
  let dir: ReturnType<typeof tempDir>;
  let targetId: string;
  let serviceId: string;
  let planId: string;

  const planBody = (over: Record<string, unknown> = {}) => ({
    name: `plan-${Math.random().toString(36).slice(2, 8)}`,
    schedule: { frequency: 'daily', time: '02:30', timezone: 'UTC' },
    retention: { keepDaily: 7 },
    targetIds: [targetId],
    serviceIds: [serviceId],
    password: PASSWORD,
    passwordConfirmation: PASSWORD,
    ...over,
  });

  /** POSTs raw bytes as a JSON body. */
  const rawCall = async (method: string, path: string, bytes: Uint8Array | string) => {
    const res = await fetch(api.baseUrl + path, {
      method,
      headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
      body: bytes,
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as unknown) : null };
  };

  before(async () => {
    ({ api, dir, targetId, serviceId } = await startWithTargetAndService('api_boundary', makeSource));
    const p = await api.call('POST', '/v1/plans', planBody({ name: 'nightly' }));
    assert.equal(p.status, 201, JSON.stringify(p.json));
    planId = (p.json as { id: string }).id;
  });

  after(async () => {
    await api?.close();
    dir?.cleanup();
  });

  test('an unknown field is a 400 naming its path, on every body, and nothing changes', async () => {
    const plansBefore = await api.prisma.plan.count();
    const cases: [string, string, unknown, string][] = [
      ['POST', '/v1/plans', planBody({ colour: 'blue' }), 'colour'],
      ['POST', '/v1/plans', planBody({ retention: { keepDaily: 7, keepDayly: 7 } }), 'retention.keepDayly'],
      [
        'POST',
        '/v1/plans',
        planBody({ schedule: { frequency: 'daily', time: '02:30', timezone: 'UTC', tz: 'x' } }),
        'schedule.tz',
      ],
      ['PATCH', `/v1/plans/${planId}`, { retention: { keepLast: 3, keepDayly: 7 } }, 'retention.keepDayly'],
      ['PATCH', `/v1/plans/${planId}`, { keepLast: 3 }, 'keepLast'],
      [
        'POST',
        `/v1/plans/${planId}/password`,
        { oldPassword: PASSWORD, newPassword: 'new one', newPasswordConfirmation: 'new one', force: true },
        'force',
      ],
      ['POST', '/v1/services', { name: 'x', dataPath: '/srv/x', arch: 'x86_64', owner: 'me' }, 'owner'],
      ['POST', '/v1/targets', { name: 'y', kind: 'local', path: '/srv/y', quota: 1 }, 'quota'],
      ['POST', '/v1/restores', { serviceId, password: PASSWORD, dryRun: true }, 'dryRun'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await api.call(method, path, body);
      assert.equal(res.status, 400, `${method} ${path} ${field}: ${JSON.stringify(res.json)}`);
      assert.equal((res.json as ErrorJson).error.code, 'VALIDATION_FAILED');
      assert.ok(fieldsOf(res.json).includes(field), `${field} in ${JSON.stringify(res.json)}`);
    }
    assert.equal(await api.prisma.plan.count(), plansBefore);
    const plan = await api.prisma.plan.findUniqueOrThrow({ where: { id: planId } });
    assert.deepEqual(plan.retention, { keepDaily: 7 }, 'the PATCH changed nothing');
  });

  test('invalid UTF-8 in a string is a 400 naming the field, and nothing is stored', async () => {
    /** `json` with the bytes `bad` spliced in where `@@` stands (inside a string). */
    const withBytes = (json: string, bad: number[]) => {
      const [head, tail] = json.split('@@') as [string, string];
      return Buffer.concat([Buffer.from(head), Buffer.from(bad), Buffer.from(tail)]);
    };
    const servicesBefore = await api.prisma.service.count();
    const targetsBefore = await api.prisma.target.count();
    const plansBefore = await api.prisma.plan.count();
    const plan = JSON.stringify(planBody({ name: 'p@@' }));
    const cases: [string, string, Buffer, string][] = [
      [
        'POST',
        '/v1/services',
        withBytes('{"name":"a@@b","dataPath":"/srv/a","arch":"x86_64"}', [0xff]),
        'name',
      ],
      // An overlong '/' (C0 AF) and a surrogate (ED A0 80) are invalid too, not just stray bytes.
      [
        'POST',
        '/v1/services',
        withBytes('{"name":"a","dataPath":"/srv/@@","arch":"x86_64"}', [0xc0, 0xaf]),
        'dataPath',
      ],
      [
        'POST',
        '/v1/targets',
        withBytes('{"name":"t@@","kind":"local","path":"/srv/t"}', [0xed, 0xa0, 0x80]),
        'name',
      ],
      ['POST', '/v1/plans', withBytes(plan, [0xe2, 0x28, 0xa1]), 'name'],
      [
        'PATCH',
        `/v1/plans/${planId}`,
        withBytes('{"retention":{"keepTags":["ok","x@@"]}}', [0x80]),
        'retention.keepTags[1]',
      ],
      [
        'POST',
        '/v1/restores',
        withBytes(`{"serviceId":"${serviceId}","password":"pw","destination":"/srv/r@@"}`, [0xfe]),
        'destination',
      ],
      // A lone surrogate written as an escape is no more UTF-8 than the raw bytes.
      [
        'POST',
        '/v1/services',
        Buffer.from('{"name":"a\\udfff","dataPath":"/srv/a","arch":"x86_64"}'),
        'name',
      ],
    ];
    for (const [method, path, bytes, field] of cases) {
      const res = await rawCall(method, path, bytes);
      assert.equal(res.status, 400, `${path} ${field}: ${JSON.stringify(res.json)}`);
      assert.equal((res.json as ErrorJson).error.code, 'VALIDATION_FAILED');
      assert.deepEqual(fieldsOf(res.json), [field], JSON.stringify(res.json));
    }
    // Outside any string the bytes cannot be attributed to a field: the offset is named instead.
    const stray = await rawCall('POST', '/v1/services', withBytes('{"name":"a"@@}', [0xff]));
    assert.equal(stray.status, 400);
    assert.match((stray.json as ErrorJson).error.message, /byte 11 is not valid UTF-8/);

    assert.equal(await api.prisma.service.count(), servicesBefore);
    assert.equal(await api.prisma.target.count(), targetsBefore);
    assert.equal(await api.prisma.plan.count(), plansBefore);
    // Well-formed text, U+FFFD written by the client included, is still welcome.
    const ok = await rawCall(
      'POST',
      '/v1/services',
      '{"name":"ok \ufffd ü 🔑","dataPath":"/srv/ok","arch":"x86_64"}',
    );
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
  });

  test('a restore destination with .. or outside the restore roots is a 400 naming destination', async () => {
    const restoresBefore = await api.prisma.restore.count();
    const source = join(dir.path, 'src');
    for (const [destination, reason] of [
      ['/etc', /restore root/],
      ['/usr/lib/app', /restore root/],
      ['/root/.ssh', /restore root/],
      [`${source}/../../../../etc`, /'\.\.'/],
      ['/srv/../etc', /'\.\.'/],
      ['/srvx/data', /restore root/], // a prefix of a root's name is not inside it
      ['/srv/..', /'\.\.'/],
    ] as const) {
      const res = await api.call('POST', '/v1/restores', { serviceId, password: PASSWORD, destination });
      assert.equal(res.status, 400, `${destination}: ${JSON.stringify(res.json)}`);
      assert.deepEqual(fieldsOf(res.json), ['destination'], `${destination}: ${JSON.stringify(res.json)}`);
      assert.match((res.json as ErrorJson).error.message, reason, destination);
    }
    // Inside the service's own folder and inside a restore root (the default has /tmp and /srv),
    // the destination passes; there is no snapshot yet, so the answer is about the snapshot.
    for (const destination of [join(source, 'sub'), '/srv/restored/app', join(dir.path, 'elsewhere')]) {
      const res = await api.call('POST', '/v1/restores', { serviceId, password: PASSWORD, destination });
      assert.notEqual(res.status, 400, `${destination}: ${JSON.stringify(res.json)}`);
    }
    assert.equal(await api.prisma.restore.count(), restoresBefore);
  });

  test('no X-Powered-By; a body that is not JSON gets a fixed message, not the parser’s', async () => {
    const res = await rawCall('POST', '/v1/services', '{"name": "x", oops');
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('x-powered-by'), null);
    assert.deepEqual(res.json, {
      error: { code: 'VALIDATION_FAILED', message: 'request body is not valid JSON' },
    });
    const ok = await api.call('GET', '/v1/services');
    assert.equal(ok.status, 200);
    const health = await fetch(api.baseUrl + '/health');
    assert.equal(health.headers.get('x-powered-by'), null);
  });
});

/**
 * A TCP proxy to the test PostgreSQL that the test can cut and restore: the API's database "goes
 * down" without touching the shared server.
 */
async function startDbProxy(): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const listen = async (port: number): Promise<number> => {
    const s = net.createServer((client) => {
      const upstream = net.connect(5432, '127.0.0.1');
      for (const sock of [client, upstream]) {
        sockets.add(sock);
        sock.on('error', () => undefined);
        sock.on('close', () => sockets.delete(sock));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, '127.0.0.1', resolve));
    server = s;
    return (s.address() as net.AddressInfo).port;
  };
  const port = await listen(0);
  return {
    port,
    async cut() {
      const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
      for (const sock of sockets) sock.destroy();
      await closed;
    },
    async restore() {
      await listen(port);
    },
  };
}

/**
 * Query strings follow the body rule. The plan routes are called with an id that names no plan:
 * the query is validated before the handler runs, so a 400 there is the query's, and a 404 means
 * the query passed.
 */
describe('API boundary: query strings', () => {
  let api: TestApi;
  let dir: ReturnType<typeof tempDir>;
  let targetId: string;
  let serviceId: string;
  const planId = '01900000-0000-7000-8000-000000000000';

  before(async () => {
    ({ api, dir, targetId, serviceId } = await startWithTargetAndService('api_boundary_query'));
  });

  after(async () => {
    await api?.close();
    dir?.cleanup();
  });

  test('query strings: an unknown parameter is a 400 naming it, on every route, before anything runs', async () => {
    const cases: [string, string, string][] = [
      // Routes with a query schema.
      ['GET', `/v1/plans/${planId}/snapshots?limit=5&serviceID=${serviceId}`, 'serviceID'],
      ['GET', `/v1/plans/${planId}/runs?page=2`, 'page'],
      ['GET', `/v1/restores?serviceId=${serviceId}&status=done`, 'status'],
      // Routes that read no query: every parameter is unknown.
      ['GET', '/v1/services?name=app', 'name'],
      ['GET', `/v1/services/${serviceId}/freshness?verbose`, 'verbose'],
      ['GET', `/v1/targets/${targetId}?fields=name`, 'fields'],
      ['GET', '/v1/plans?limit=1', 'limit'],
      ['PATCH', `/v1/plans/${planId}?force=1`, 'force'],
      ['POST', `/v1/plans/${planId}/runs?dryRun=true`, 'dryRun'],
      ['DELETE', `/v1/services/${serviceId}?cascade=1`, 'cascade'],
      ['GET', '/health?deep=1', 'deep'],
      // A live event stream: a 400 before the stream opens, not an error event inside it.
      ['GET', `/v1/runs/${planId}/events?since=1`, 'since'],
      // Express's simple parser keeps brackets in the name: not an object in disguise.
      ['GET', `/v1/restores?serviceId[x]=1`, 'serviceId[x]'],
    ];
    for (const [method, path, field] of cases) {
      const res = await api.call(method, path, method === 'PATCH' ? {} : undefined);
      assert.equal(res.status, 400, `${method} ${path}: ${JSON.stringify(res.json)}`);
      const err = (res.json as ErrorJson).error;
      assert.equal(err.code, 'VALIDATION_FAILED');
      assert.deepEqual(err.fields, [{ path: field, message: 'is not a known field' }], path);
      assert.match(
        err.message,
        new RegExp(`^query: ${field.replace(/[[\]]/g, '\\$&')}: is not a known field`),
      );
    }
    assert.equal((await api.call('GET', `/v1/services/${serviceId}`)).status, 200, 'the DELETE did not run');
    // The token is checked first: a caller without one learns nothing about parameters.
    assert.equal((await api.call('GET', '/v1/services?name=app', undefined, null)).status, 401);
    // Known parameters still work (no such plan: a 404 means the query passed).
    assert.equal(
      (await api.call('GET', `/v1/plans/${planId}/snapshots?limit=5&serviceId=${serviceId}`)).status,
      404,
    );
    assert.equal((await api.call('GET', `/v1/restores?serviceId=${serviceId}&limit=3`)).status, 200);
    assert.equal((await api.call('GET', '/v1/services')).status, 200);
  });

  test('query strings: an invalid value or a repeated parameter is a 400 naming it', async () => {
    const cases: [string, string, string][] = [
      [`/v1/plans/${planId}/runs?limit=0`, 'limit', 'must be at least 1'],
      [`/v1/plans/${planId}/runs?limit=x`, 'limit', 'must be a whole number'],
      [`/v1/restores?limit=501`, 'limit', 'must be a whole number from 1 to 500'],
      [`/v1/restores?serviceId=nope`, 'serviceId', ''],
      [`/v1/plans/${planId}/runs?limit=1&limit=2`, 'limit', 'must be given once'],
      [
        `/v1/plans/${planId}/snapshots?targetId=${targetId}&targetId=${targetId}`,
        'targetId',
        'must be given once',
      ],
      [`/v1/restores?serviceId=${serviceId}&serviceId=${serviceId}`, 'serviceId', 'must be given once'],
      ['/v1/services?x=1&x=2', 'x', 'must be given once'],
    ];
    for (const [path, field, message] of cases) {
      const res = await api.call('GET', path);
      assert.equal(res.status, 400, `${path}: ${JSON.stringify(res.json)}`);
      const fields = (res.json as ErrorJson).error.fields ?? [];
      assert.deepEqual(
        fields.map((f) => f.path),
        [field],
        path,
      );
      if (message) assert.equal(fields[0]!.message, message, path);
    }
  });
});

describe('API boundary: the database is down', () => {
  let api: TestApi;
  let proxy: Awaited<ReturnType<typeof startDbProxy>>;

  before(async () => {
    proxy = await startDbProxy();
    api = await startTestApi(
      'api_boundary_db',
      {},
      {
        appDatabaseUrl: (url) => {
          const u = new URL(url);
          u.port = String(proxy.port);
          return u.toString();
        },
      },
    );
  });

  after(async () => {
    await api?.close();
    await proxy?.cut();
  });

  test('authenticated routes answer 503 UNAVAILABLE, not 500, and recover with the database', async () => {
    assert.equal((await api.call('GET', '/v1/services')).status, 200);
    await proxy.cut();
    // The guard's token update is the first query of every authenticated request.
    for (const [method, path, body] of [
      ['GET', '/v1/services', undefined],
      ['POST', '/v1/services', { name: 'x', dataPath: '/srv/x', arch: 'x86_64' }],
      ['GET', '/v1/plans', undefined],
    ] as const) {
      const res = await api.call(method, path, body);
      assert.equal(res.status, 503, `${method} ${path}: ${JSON.stringify(res.json)}`);
      const error = (res.json as ErrorJson).error;
      assert.equal(error.code, 'UNAVAILABLE');
      assert.ok(!error.message.includes(String(proxy.port)), 'no host or port in the message');
    }
    assert.equal((await fetch(api.baseUrl + '/health')).status, 503);
    await proxy.restore();
    assert.equal((await api.call('GET', '/v1/services')).status, 200);
  });
});
