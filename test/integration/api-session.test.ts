/**
 * Web UI sign-in against the real API, Postgres and Redis: create-user (the CLI), POST/GET/DELETE
 * /v1/session, the cookie's attributes, the session cookie as a credential on other routes with
 * its CSRF token, bearer tokens unchanged, the failed sign-in limit, idle and absolute expiry, and
 * the SSE route signed in by the cookie.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashToken } from '../../apps/api/src/auth/api-tokens';
import { verifyPassword } from '../../apps/api/src/auth/passwords';
import {
  createTestUser,
  openEventStream,
  type SignedIn,
  signIn,
  startTestApi,
  type TestApi,
} from '../support/api-app';
import { baseEnv, NODE, ROOT, runFile } from '../support/cli-runner';

const CREATE_USER = path.join(ROOT, 'dist/apps/api/src/create-user.js');
const PASSWORD = 'a long enough password';

interface ErrorJson {
  error: { code: string; message: string };
}
interface SessionJson {
  user: { name: string };
  csrfToken: string;
  expiresAt: string;
}

/** fetch with a JSON body and the given headers; the status, headers and parsed body. */
async function request(
  api: TestApi,
  method: string,
  route: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<{ status: number; headers: Headers; json: unknown }> {
  const res = await fetch(api.baseUrl + route, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as unknown) : null };
}

const login = (api: TestApi, name: string, password: string, headers: Record<string, string> = {}) =>
  request(api, 'POST', '/v1/session', headers, { name, password });

const codeOf = (json: unknown): string => (json as ErrorJson).error.code;

describe('API: web UI sessions', () => {
  let api: TestApi;

  before(async () => {
    api = await startTestApi('api_session');
    await createTestUser(api, 'alice', PASSWORD);
  });
  after(async () => {
    await api?.close();
  });

  describe('create-user', () => {
    const run = (args: string[], env: Record<string, string> = {}, input?: string) =>
      runFile(
        NODE,
        [CREATE_USER, ...args],
        {
          ...baseEnv(),
          DATABASE_URL: api.databaseUrl,
          VAULTLINE_SERVER_SECRET: api.env['VAULTLINE_SERVER_SECRET'],
          VAULTLINE_USER_KDF_MEMORY_KIB: '1024',
          LOG_LEVEL: 'silent',
          ...env,
        },
        input === undefined ? {} : { input: Buffer.from(input) },
      );

    test('the password from stdin: the user signs in; only an Argon2id hash is stored', async () => {
      const r = await run(['bob'], {}, 'bob password 1\n');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '');
      assert.doesNotMatch(r.stderr, /bob password 1/);
      const row = await api.prisma.user.findUniqueOrThrow({ where: { name: 'bob' } });
      assert.match(row.passwordHash, /^\$argon2id\$v=19\$m=1024,t=3,p=1\$/);
      assert.ok(await verifyPassword(row.passwordHash, 'bob password 1'));
      assert.equal((await login(api, 'bob', 'bob password 1')).status, 201);
    });

    test('the password from VAULTLINE_USER_PASSWORD', async () => {
      const r = await run(['carol'], { VAULTLINE_USER_PASSWORD: 'carol password' });
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await login(api, 'carol', 'carol password')).status, 201);
    });

    test('a password under 8 characters, a bad name or no name: refused, nothing stored', async () => {
      const short = await run(['dave'], { VAULTLINE_USER_PASSWORD: 'short' });
      assert.equal(short.code, 2);
      assert.match(short.stderr, /at least 8 characters/);
      assert.doesNotMatch(short.stderr, /short\b.*short/);
      const badName = await run(['no spaces'], { VAULTLINE_USER_PASSWORD: PASSWORD });
      assert.equal(badName.code, 2);
      assert.match(badName.stderr, /letters, digits/);
      assert.equal((await run([])).code, 2);
      assert.equal(await api.prisma.user.count({ where: { name: { in: ['dave', 'no spaces'] } } }), 0);
    });

    test('an existing name: a clear error; --reset-password sets a new one and ends the sessions', async () => {
      const dup = await run(['alice'], { VAULTLINE_USER_PASSWORD: 'another password' });
      assert.equal(dup.code, 1);
      assert.match(dup.stderr, /user "alice" already exists .*--reset-password/);
      assert.equal((await login(api, 'alice', PASSWORD)).status, 201, 'the old password still works');

      await run(['erin'], { VAULTLINE_USER_PASSWORD: 'erin password' });
      const session = await signIn(api, 'erin', 'erin password');
      const reset = await run(['--reset-password', 'erin'], {}, 'erin new password\n');
      assert.equal(reset.code, 0, reset.stderr);
      assert.equal((await login(api, 'erin', 'erin password')).status, 401);
      assert.equal((await login(api, 'erin', 'erin new password')).status, 201);
      assert.equal((await request(api, 'GET', '/v1/session', { cookie: session.cookie })).status, 401);
      const nobody = await run(['--reset-password', 'nobody'], { VAULTLINE_USER_PASSWORD: PASSWORD });
      assert.equal(nobody.code, 1);
      assert.match(nobody.stderr, /no user "nobody"/);
    });
  });

  test('sign-in: 201 with the user, a CSRF token, the expiry and an HttpOnly SameSite=Strict cookie', async () => {
    const before = Date.now();
    const res = await login(api, 'alice', PASSWORD);
    assert.equal(res.status, 201);
    const body = res.json as SessionJson;
    assert.deepEqual(Object.keys(body).sort(), ['csrfToken', 'expiresAt', 'user']);
    assert.deepEqual(body.user, { name: 'alice' });
    assert.match(body.csrfToken, /^[A-Za-z0-9_-]{43}$/);
    // The default idle timeout (720 min) ends it before the absolute end (168 h).
    const expires = Date.parse(body.expiresAt) - before;
    assert.ok(expires > 719 * 60_000 && expires <= 721 * 60_000, `${expires} ms`);

    const cookie = res.headers.get('set-cookie') ?? '';
    const [pair, ...attributes] = cookie.split(';').map((s) => s.trim());
    assert.match(pair ?? '', /^vaultline_session=[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(
      attributes.sort(),
      ['HttpOnly', 'Path=/', 'SameSite=Strict'],
      'no Secure over plain http',
    );
    const token = pair!.split('=')[1]!;
    const row = await api.prisma.session.findUniqueOrThrow({ where: { tokenHash: hashToken(token) } });
    assert.ok(row.expiresAt.getTime() - row.createdAt.getTime() === 168 * 3_600_000);
    const user = await api.prisma.user.findUniqueOrThrow({ where: { name: 'alice' } });
    assert.ok(user.lastLoginAt && user.lastLoginAt.getTime() >= before - 1000);
    assert.equal(
      await api.prisma.session.count({ where: { tokenHash: token } }),
      0,
      'the cookie value itself is not stored',
    );
  });

  test('wrong password and unknown name: the same 401', async () => {
    const wrong = await login(api, 'alice', 'not the password');
    const unknown = await login(api, 'nobody-here', PASSWORD);
    for (const res of [wrong, unknown]) {
      assert.equal(res.status, 401);
      assert.deepEqual(res.json, { error: { code: 'UNAUTHORIZED', message: 'invalid name or password' } });
      assert.equal(res.headers.get('set-cookie'), null);
    }
  });

  test('the body is strict: an unknown or missing field is a 400', async () => {
    const extra = await request(api, 'POST', '/v1/session', {}, { name: 'alice', password: PASSWORD, x: 1 });
    assert.equal(extra.status, 400);
    assert.equal(codeOf(extra.json), 'VALIDATION_FAILED');
    const missing = await request(api, 'POST', '/v1/session', {}, { name: 'alice' });
    assert.equal(missing.status, 400);
  });

  test('GET /v1/session: the same session and CSRF token; 401 without a cookie or with a bad one', async () => {
    const s = await signIn(api, 'alice', PASSWORD);
    const got = await request(api, 'GET', '/v1/session', { cookie: s.cookie });
    assert.equal(got.status, 200);
    assert.equal((got.json as SessionJson).csrfToken, s.csrfToken);
    assert.deepEqual((got.json as SessionJson).user, { name: 'alice' });
    assert.equal((await request(api, 'GET', '/v1/session')).status, 401);
    const forged = await request(api, 'GET', '/v1/session', {
      cookie: `vaultline_session=${'A'.repeat(43)}`,
    });
    assert.equal(forged.status, 401);
    assert.equal(codeOf(forged.json), 'UNAUTHORIZED');
  });

  describe('the cookie as a credential', () => {
    let s: SignedIn;
    before(async () => {
      s = await signIn(api, 'alice', PASSWORD);
    });
    const target = (name: string) => ({ name, kind: 'local', path: `/srv/backups/${name}` });

    test('GET works with the cookie alone', async () => {
      const res = await request(api, 'GET', '/v1/targets', { cookie: s.cookie });
      assert.equal(res.status, 200);
    });

    test('a change without X-CSRF-Token, or with a wrong one: 403 CSRF, nothing done', async () => {
      const missing = await request(api, 'POST', '/v1/targets', { cookie: s.cookie }, target('t-missing'));
      assert.equal(missing.status, 403);
      assert.equal(codeOf(missing.json), 'CSRF');
      const other = await signIn(api, 'alice', PASSWORD);
      for (const wrong of ['x', other.csrfToken, `${s.csrfToken}x`]) {
        const res = await request(
          api,
          'POST',
          '/v1/targets',
          { cookie: s.cookie, 'x-csrf-token': wrong },
          target('t-wrong'),
        );
        assert.equal(res.status, 403, wrong);
        assert.equal(codeOf(res.json), 'CSRF');
      }
      assert.equal(await api.prisma.target.count({ where: { name: { in: ['t-missing', 't-wrong'] } } }), 0);
    });

    test('with its X-CSRF-Token the change goes through', async () => {
      const res = await request(
        api,
        'POST',
        '/v1/targets',
        { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
        target('t-ok'),
      );
      assert.equal(res.status, 201, JSON.stringify(res.json));
      const id = (res.json as { id: string }).id;
      const removed = await request(api, 'DELETE', `/v1/targets/${id}`, {
        cookie: s.cookie,
        'x-csrf-token': s.csrfToken,
      });
      assert.equal(removed.status, 204);
    });

    test('bearer tokens need no CSRF token, and the bearer header alone decides', async () => {
      const res = await api.call('POST', '/v1/targets', target('t-bearer'));
      assert.equal(res.status, 201);
      const wrongBearer = await request(api, 'GET', '/v1/targets', {
        authorization: 'Bearer vlt_wrong',
        cookie: s.cookie,
      });
      assert.equal(wrongBearer.status, 401, 'a wrong token is not rescued by a cookie');
    });

    test('the SSE stream of a run works with the cookie', async () => {
      const plan = await api.factories.newPlan({ fields: { name: 'nightly' } });
      const run = await api.factories.newRun(plan.id);
      const stream = await openEventStream(api, `/v1/runs/${run.id}/events`, { cookie: s.cookie });
      try {
        assert.equal(stream.status, 200);
        const first = await stream.next();
        assert.equal(first?.type, 'state');
        assert.equal((JSON.parse(first?.data ?? '{}') as { id: string }).id, run.id);
      } finally {
        await stream.close();
      }
    });
  });

  test('an idle session ends, and its row is deleted', async () => {
    const s = await signIn(api, 'alice', PASSWORD);
    const tokenHash = hashToken(s.cookie.split('=')[1]!);
    await api.prisma.session.update({
      where: { tokenHash },
      data: { lastSeenAt: new Date(Date.now() - 721 * 60_000) },
    });
    const res = await request(api, 'GET', '/v1/targets', { cookie: s.cookie });
    assert.equal(res.status, 401);
    assert.equal(codeOf(res.json), 'UNAUTHORIZED');
    assert.equal(await api.prisma.session.count({ where: { tokenHash } }), 0);
  });

  test('a session past its absolute end has ended, however recently it was used', async () => {
    const s = await signIn(api, 'alice', PASSWORD);
    const tokenHash = hashToken(s.cookie.split('=')[1]!);
    await api.prisma.session.update({
      where: { tokenHash },
      data: { createdAt: new Date(Date.now() - 169 * 3_600_000), expiresAt: new Date(Date.now() - 1000) },
    });
    assert.equal((await request(api, 'GET', '/v1/session', { cookie: s.cookie })).status, 401);
  });

  test('use moves the idle end along', async () => {
    const s = await signIn(api, 'alice', PASSWORD);
    const tokenHash = hashToken(s.cookie.split('=')[1]!);
    await api.prisma.session.update({
      where: { tokenHash },
      data: { lastSeenAt: new Date(Date.now() - 700 * 60_000) },
    });
    assert.equal((await request(api, 'GET', '/v1/targets', { cookie: s.cookie })).status, 200);
    const row = await api.prisma.session.findUniqueOrThrow({ where: { tokenHash } });
    assert.ok(Date.now() - row.lastSeenAt.getTime() < 60_000);
  });

  test('sign-out: 204, the cookie cleared, the row deleted, the cookie no longer works', async () => {
    const s = await signIn(api, 'alice', PASSWORD);
    const tokenHash = hashToken(s.cookie.split('=')[1]!);
    const out = await request(api, 'DELETE', '/v1/session', { cookie: s.cookie });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /^vaultline_session=; .*Max-Age=0/);
    assert.equal(await api.prisma.session.count({ where: { tokenHash } }), 0);
    assert.equal((await request(api, 'GET', '/v1/session', { cookie: s.cookie })).status, 401);
    assert.equal((await request(api, 'GET', '/v1/targets', { cookie: s.cookie })).status, 401);
    assert.equal((await request(api, 'DELETE', '/v1/session')).status, 204, 'idempotent');
  });
});

describe('API: web UI sessions behind a trusted proxy, and the sign-in limit', () => {
  let api: TestApi;
  let plain: TestApi;

  before(async () => {
    api = await startTestApi('api_session_proxy', {
      VAULTLINE_TRUST_PROXY: '1',
      VAULTLINE_LOGIN_FAILURES_PER_MINUTE: '3',
    });
    plain = await startTestApi('api_session_plain');
    await createTestUser(api, 'alice', PASSWORD);
    await createTestUser(api, 'bob', PASSWORD);
    await createTestUser(plain, 'alice', PASSWORD);
  });
  after(async () => {
    await api?.close();
    await plain?.close();
  });

  const from = (address: string, proto = 'http') => ({
    'x-forwarded-for': `203.0.113.77, ${address}`,
    'x-forwarded-proto': proto,
  });

  test('Secure when the trusted proxy saw https; X-Forwarded-Proto ignored without VAULTLINE_TRUST_PROXY', async () => {
    const https = await login(api, 'alice', PASSWORD, from('198.51.100.1', 'https'));
    assert.equal(https.status, 201);
    assert.match(https.headers.get('set-cookie') ?? '', /; Secure$/);
    const http = await login(api, 'alice', PASSWORD, from('198.51.100.1', 'http'));
    assert.doesNotMatch(http.headers.get('set-cookie') ?? '', /Secure/);
    const untrusted = await login(plain, 'alice', PASSWORD, { 'x-forwarded-proto': 'https' });
    assert.equal(untrusted.status, 201);
    assert.doesNotMatch(untrusted.headers.get('set-cookie') ?? '', /Secure/);
  });

  test('failures per name: over the limit even the right password gets 429 with Retry-After', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await login(api, 'alice', 'wrong password', from(`198.51.100.${10 + i}`));
      assert.equal(res.status, 401);
    }
    const limited = await login(api, 'alice', PASSWORD, from('198.51.100.20'));
    assert.equal(limited.status, 429);
    assert.equal(codeOf(limited.json), 'RATE_LIMITED');
    const retry = Number(limited.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    assert.equal(limited.headers.get('set-cookie'), null);
    // Another name from another address is not affected.
    assert.equal((await login(api, 'bob', PASSWORD, from('198.51.100.21'))).status, 201);
  });

  test('failures per address: over the limit every name from it gets 429', async () => {
    for (const name of ['x1', 'x2', 'x3']) {
      assert.equal((await login(api, name, 'whatever password', from('192.0.2.9'))).status, 401);
    }
    const limited = await login(api, 'bob', PASSWORD, from('192.0.2.9'));
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    // The address is the proxy's last entry: a client cannot escape by sending its own first one.
    const spoofed = await login(api, 'bob', PASSWORD, { 'x-forwarded-for': '10.9.9.9, 192.0.2.9' });
    assert.equal(spoofed.status, 429);
    assert.equal((await login(api, 'bob', PASSWORD, from('192.0.2.10'))).status, 201);
  });
});
