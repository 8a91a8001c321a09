/**
 * The HTTP API's targets: CRUD, the S3 secret sealed at rest and never returned, and the
 * reachability probe on folders and on an S3-protocol server.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatSealed, recordIds, sealWithServerKey, serverKeys } from '@vaultline/secrets';
import { startTestApi, type TestApi } from '../support/api-app';
import { startS3Server, type S3TestServer } from '../support/s3server';

interface TargetJson {
  id: string;
  name: string;
  kind: string;
  path: string | null;
  s3Bucket: string | null;
  hasSecret: boolean;
}
interface ProbeJson {
  reachable: boolean;
  writable: boolean;
  freeBytes: number | null;
  error?: { code: string; message: string };
  fsType?: string;
}
interface ErrorJson {
  error: { code: string; fields?: { path: string; message: string }[] };
}

const SECRET = 'super-secret-key-4f9a1c';

describe('API: targets', () => {
  let api: TestApi;
  let s3: S3TestServer;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'vaultline-api-target-'));
    s3 = await startS3Server({ buckets: ['backups'] });
    api = await startTestApi('api_targets');
  });
  after(async () => {
    await api?.close();
    await s3?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const s3Target = (name: string, secretKey = SECRET): Record<string, string> => ({
    name,
    kind: 's3',
    endpoint: s3.endpoint,
    bucket: 'backups',
    prefix: 'vaultline',
    accessKey: s3.accessKey,
    secretKey,
  });

  test('the probe names the file system of a folder target (a tmpfs mounted here, as root)', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to mount a tmpfs');
    const mnt = path.join(dir, 'tmpfs-mount');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'vaultline-probe', mnt]);
    try {
      const created = await api.call('POST', '/v1/targets', { name: 'on-tmpfs', kind: 'local', path: mnt });
      const id = (created.json as TargetJson).id;
      const p = (await api.call('POST', `/v1/targets/${id}/test`)).json as ProbeJson;
      assert.equal(p.reachable, true);
      assert.equal(p.fsType, 'tmpfs');
      assert.equal((await api.call('DELETE', `/v1/targets/${id}`)).status, 204);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  test('a folder target: create, list, get, update, test, delete', async () => {
    const created = await api.call('POST', '/v1/targets', { name: 'usb', kind: 'local', path: dir });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const t = created.json as TargetJson;
    assert.equal(t.path, dir);
    assert.equal(t.hasSecret, false);
    assert.deepEqual((await api.call('GET', '/v1/targets')).json, [t]);
    assert.deepEqual((await api.call('GET', `/v1/targets/${t.id}`)).json, t);

    const probe = await api.call('POST', `/v1/targets/${t.id}/test`);
    assert.equal(probe.status, 200);
    const p = probe.json as ProbeJson;
    assert.equal(p.reachable, true);
    assert.equal(p.writable, true);
    assert.ok((p.freeBytes ?? 0) > 0, 'reports free space');
    assert.equal(p.error, undefined);
    assert.match(p.fsType ?? '', /^([a-z0-9]+|0x[0-9a-f]+)$/, 'names the file system');

    const renamed = await api.call('PATCH', `/v1/targets/${t.id}`, { name: 'usb-drive' });
    assert.equal((renamed.json as TargetJson).name, 'usb-drive');
    const wrongKind = await api.call('PATCH', `/v1/targets/${t.id}`, { bucket: 'backups' });
    assert.equal(wrongKind.status, 400);
    assert.deepEqual(
      (wrongKind.json as ErrorJson).error.fields?.map((f) => f.path),
      ['bucket'],
    );

    assert.equal((await api.call('DELETE', `/v1/targets/${t.id}`)).status, 204);
    assert.equal((await api.call('POST', `/v1/targets/${t.id}/test`)).status, 404);
  });

  test('a folder that does not exist: reachable false with a clear error', async () => {
    const missing = path.join(dir, 'not', 'mounted');
    const t = (await api.call('POST', '/v1/targets', { name: 'nas', kind: 'network', path: missing }))
      .json as TargetJson;
    const p = (await api.call('POST', `/v1/targets/${t.id}/test`)).json as ProbeJson;
    assert.deepEqual(
      { reachable: p.reachable, writable: p.writable, freeBytes: p.freeBytes, code: p.error?.code },
      { reachable: false, writable: false, freeBytes: null, code: 'NOT_FOUND' },
    );
    assert.match(p.error?.message ?? '', /does not exist/);
    assert.ok(p.error?.message.includes(missing));
  });

  test('an S3 target: the secret is sealed in the database and never appears in a response', async () => {
    const responses: string[] = [];
    const call = async (
      method: string,
      p: string,
      body?: unknown,
    ): Promise<{ status: number; json: unknown }> => {
      const res = await api.call(method, p, body);
      responses.push(JSON.stringify(res.json));
      return res;
    };
    const created = await call('POST', '/v1/targets', s3Target('minio'));
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const t = created.json as TargetJson;
    assert.equal(t.hasSecret, true);
    assert.equal(t.s3Bucket, 'backups');

    const row = await api.prisma.target.findUniqueOrThrow({ where: { id: t.id } });
    const sealed = row.s3SecretEnc ?? '';
    assert.ok(sealed.startsWith('v1.'), 'stored in the sealed format');
    assert.ok(!sealed.includes(SECRET) && !sealed.includes(Buffer.from(SECRET).toString('base64url')));

    await call('GET', '/v1/targets');
    await call('GET', `/v1/targets/${t.id}`);
    const probe = await call('POST', `/v1/targets/${t.id}/test`);
    assert.deepEqual(probe.json, { reachable: true, writable: true, freeBytes: null });

    const rotated = await call('PATCH', `/v1/targets/${t.id}`, { secretKey: 'another-secret-0b7e' });
    assert.equal(rotated.status, 200);
    const after = await api.prisma.target.findUniqueOrThrow({ where: { id: t.id } });
    assert.notEqual(after.s3SecretEnc, row.s3SecretEnc);
    await call('PATCH', `/v1/targets/${t.id}`, { path: '/mnt' }); // a 400: the body must not echo anything secret either

    for (const body of responses) {
      assert.ok(!body.includes(SECRET) && !body.includes('another-secret-0b7e'), body);
      assert.ok(!body.includes('s3SecretEnc') && !body.includes('secretKey":'), body);
    }
  });

  test('the S3 probe says only "target unreachable": missing bucket, closed port, not an S3 server', async () => {
    // A closed port: listen, note the port, close.
    const closed = createNetServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    // Something that answers HTTP but is not S3.
    const other = createHttpServer((_req, res) => {
      res.statusCode = 404;
      res.end('<html>router login</html>');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      const endpoints: [string, Record<string, string>][] = [
        ['gone', { bucket: 'no-such-bucket' }],
        ['closed', { endpoint: `http://127.0.0.1:${closedPort}` }],
        ['not-s3', { endpoint: `http://127.0.0.1:${(other.address() as AddressInfo).port}` }],
      ];
      for (const [name, change] of endpoints) {
        const created = await api.call('POST', '/v1/targets', { ...s3Target(name), ...change });
        assert.equal(created.status, 201, JSON.stringify(created.json));
        const probe = await api.call('POST', `/v1/targets/${(created.json as TargetJson).id}/test`);
        assert.equal(probe.status, 200);
        assert.deepEqual(
          probe.json,
          {
            reachable: false,
            writable: false,
            freeBytes: null,
            error: { code: 'UNREACHABLE', message: 'target unreachable' },
          },
          name,
        );
      }
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  test('an S3 endpoint at a cloud metadata or link-local address is a 400 naming endpoint', async () => {
    for (const endpoint of [
      'http://169.254.169.254',
      'http://[fd00:ec2::254]:9000',
      'http://100.100.100.200',
      'http://[::ffff:169.254.169.254]',
    ]) {
      const res = await api.call('POST', '/v1/targets', { ...s3Target('meta'), endpoint });
      assert.equal(res.status, 400, endpoint);
      assert.deepEqual(
        (res.json as ErrorJson).error.fields?.map((f) => f.path),
        ['endpoint'],
        endpoint,
      );
    }
    const ok = (await api.call('POST', '/v1/targets', s3Target('to-move'))).json as TargetJson;
    const moved = await api.call('PATCH', `/v1/targets/${ok.id}`, { endpoint: 'http://169.254.169.254' });
    assert.equal(moved.status, 400);
    assert.deepEqual(
      (moved.json as ErrorJson).error.fields?.map((f) => f.path),
      ['endpoint'],
    );
  });

  test('OUTBOUND_DENY_CIDRS: a name resolving to a denied address is refused; the allow list wins', async () => {
    const strict = await startTestApi('api_targets_strict', {
      OUTBOUND_DENY_CIDRS: '127.0.0.0/8,::1/128',
      OUTBOUND_ALLOW_CIDRS: '127.0.0.2/32',
    });
    try {
      const port = new URL(s3.endpoint).port;
      for (const host of ['localhost', '127.0.0.1']) {
        const res = await strict.call('POST', '/v1/targets', {
          ...s3Target(`deny-${host}`),
          endpoint: `http://${host}:${port}`,
        });
        assert.equal(res.status, 400, host);
        assert.deepEqual(
          (res.json as ErrorJson).error.fields?.map((f) => f.path),
          ['endpoint'],
        );
      }
      const allowed = await strict.call('POST', '/v1/targets', {
        ...s3Target('allowed'),
        endpoint: `http://127.0.0.2:${port}`,
      });
      assert.equal(allowed.status, 201, JSON.stringify(allowed.json));
    } finally {
      await strict.close();
    }
  });

  test('OUTBOUND_DENY_CIDRS at call time: a target stored before the policy is refused when probed', async () => {
    const strict = await startTestApi('api_targets_calltime', { OUTBOUND_DENY_CIDRS: '127.0.0.0/8,::1/128' });
    try {
      // Stored straight in the catalog, as a row registered before the policy denied loopback; its
      // secret sealed to the id it is given.
      const id = randomUUID();
      const sealed = sealWithServerKey(
        serverKeys(strict.config),
        'target-credentials',
        recordIds.targetCredentials(id),
        s3.secretKey,
      );
      const row = await strict.factories.newTarget({
        id,
        name: 'old',
        kind: 's3',
        path: null,
        s3Endpoint: `http://localhost:${new URL(s3.endpoint).port}`,
        s3Bucket: 'backups',
        s3AccessKey: s3.accessKey,
        s3SecretEnc: formatSealed(sealed),
      });
      const probe = await strict.call('POST', `/v1/targets/${row.id}/test`);
      assert.equal(probe.status, 200);
      // The same answer as a closed port: the probe does not tell what the name resolved to.
      assert.deepEqual(probe.json, {
        reachable: false,
        writable: false,
        freeBytes: null,
        error: { code: 'UNREACHABLE', message: 'target unreachable' },
      });
    } finally {
      await strict.close();
    }
  });

  test('invalid targets are 400s naming the field; duplicates 409', async () => {
    const cases: [Record<string, unknown>, string[]][] = [
      [{ name: 'a', kind: 'local', path: 'relative' }, ['path']],
      [{ name: 'a', kind: 'tape', path: '/x' }, ['kind']],
      [{ ...s3Target('b'), bucket: 'Bad_Bucket' }, ['bucket']],
      [{ ...s3Target('b'), endpoint: 'ftp://x' }, ['endpoint']],
      [{ ...s3Target('b'), endpoint: 'http://host:9000/path' }, ['endpoint']],
      [{ ...s3Target('b'), prefix: '/lead' }, ['prefix']],
      [{ ...s3Target('b'), secretKey: undefined }, ['secretKey']],
    ];
    for (const [body, fields] of cases) {
      const res = await api.call('POST', '/v1/targets', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.deepEqual(
        (res.json as ErrorJson).error.fields?.map((f) => f.path),
        fields,
        JSON.stringify(res.json),
      );
    }
    assert.equal(
      (await api.call('POST', '/v1/targets', { name: 'twice', kind: 'local', path: dir })).status,
      201,
    );
    assert.equal(
      (await api.call('POST', '/v1/targets', { name: 'twice', kind: 'local', path: dir })).status,
      409,
    );
  });
});
