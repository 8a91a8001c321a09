import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { collect, describeBackendContract, names, rejectsWithCode } from './testing/backend-contract.spec';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the shared S3 test server lives in test/support for the integration tests too
import { startS3Server, type S3TestServer } from '../../../test/support/s3server';
import type { StorageBackend } from './backend';
import type { StorageError } from './errors';
import { openBackend, openS3Backend } from './location';
import { DEFAULT_RETRY, S3Backend, backoffDelay } from './s3-backend';

const BUCKET = 'vaultline-test';
/** Quick retries so failure paths finish in milliseconds. */
const FAST_RETRY = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 };

let server: S3TestServer;

before(async () => {
  server = await startS3Server({ buckets: [BUCKET] });
});
after(async () => {
  await server.stop();
});

/** Remove every object under a location's prefix, so each test leaves the bucket as it found it. */
async function emptyOut(backend: StorageBackend): Promise<void> {
  for (const o of await collect(backend.list(''))) await backend.delete(o.name);
}

describeBackendContract('S3Backend', async () => {
  // A fresh key prefix per test: the contract suite expects an empty repository each time.
  const location = `s3://${BUCKET}/contract/${randomBytes(6).toString('hex')}`;
  const backend = await openBackend(location, server.env);
  return {
    backend,
    cleanup: async () => {
      const sweeper = await openBackend(location, server.env);
      await emptyOut(sweeper);
      await sweeper.close();
    },
  };
});

/** A closed loopback port: connecting to it is refused at once. */
async function closedPort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => probe.close((err) => (err ? reject(err) : resolve())));
  return port;
}

interface FakeS3 {
  endpoint: string;
  requests: string[];
  close(): Promise<void>;
}

/** A scripted S3 stand-in for failures s3rver cannot produce (5xx, throttling, chatty errors). */
async function fakeS3(
  respond: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void,
): Promise<FakeS3> {
  const requests: string[] = [];
  const srv = http.createServer((req, res) => {
    requests.push(`${req.method ?? '?'} ${req.url ?? '?'}`);
    // Drain the body before answering so keep-alive connections stay usable.
    req.resume();
    req.on('end', () => respond(req, res, requests.length));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}

function s3ErrorXml(res: http.ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  );
}

describe('S3Backend against s3rver', () => {
  test('two prefixes in one bucket do not see each other', async () => {
    const a = await openBackend(`s3://${BUCKET}/tenant-a`, server.env);
    const ab = await openBackend(`s3://${BUCKET}/tenant-ab`, server.env);
    try {
      assert.equal(a.location, `s3://${BUCKET}/tenant-a`);
      await a.put('config', Buffer.from('config of a'));
      await a.put('data/00/p1', Buffer.from('pack of a'));
      await ab.put('config', Buffer.from('config of ab'));
      assert.equal((await a.get('config')).toString(), 'config of a');
      assert.equal((await ab.get('config')).toString(), 'config of ab');
      assert.deepEqual(await names(a.list('')), ['config', 'data/00/p1']);
      assert.deepEqual(await names(ab.list('')), ['config']);
      assert.equal(await ab.stat('data/00/p1'), null);
      await ab.delete('config');
      assert.equal((await a.get('config')).toString(), 'config of a');
    } finally {
      await emptyOut(a);
      await emptyOut(ab);
      await a.close();
      await ab.close();
    }
  });

  test('a spool lives in an unlinked local file: nothing in TMPDIR, even before commit', async () => {
    const b = await openBackend(`s3://${BUCKET}/spool-${randomBytes(4).toString('hex')}`, server.env);
    const dir = await mkdtemp(path.join(tmpdir(), 'vaultline-spool-test-'));
    const saved = process.env['TMPDIR'];
    process.env['TMPDIR'] = dir;
    try {
      const body = randomBytes(2 * 1024 * 1024 + 17);
      const s = await b.spool!('data');
      await s.write([body.subarray(0, 1024 * 1024)]);
      await s.write([body.subarray(1024 * 1024)]);
      assert.deepEqual(await readdir(dir), []);
      assert.deepEqual(await names(b.list('')), []);
      await s.commit('data/aa/aa77');
      assert.ok((await b.get('data/aa/aa77')).equals(body));
      const d = await b.spool!('data');
      await d.write([body]);
      await d.discard();
      assert.deepEqual(await names(b.list('')), ['data/aa/aa77']);
      assert.deepEqual(await readdir(dir), []);
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
      await rm(dir, { recursive: true, force: true });
      await emptyOut(b);
      await b.close();
    }
  });

  test('openS3Backend takes typed settings and never reads the environment', async () => {
    const env = server.env;
    const settings = {
      endpoint: env['VAULTLINE_S3_ENDPOINT']!,
      region: env['VAULTLINE_S3_REGION'] ?? null,
      accessKey: env['VAULTLINE_S3_ACCESS_KEY']!,
      secretKey: env['VAULTLINE_S3_SECRET_KEY']!,
    };
    const saved = { ...process.env };
    // Credentials in the environment that would fail: the typed settings must win.
    process.env['VAULTLINE_S3_ACCESS_KEY'] = 'wrong';
    process.env['VAULTLINE_S3_ENDPOINT'] = 'http://127.0.0.1:9';
    try {
      const typed = await openS3Backend(`s3://${BUCKET}/typed`, settings);
      await typed.put('data/x', Buffer.from('typed'));
      const viaEnv = await openBackend(`s3://${BUCKET}/typed`, env);
      assert.equal((await viaEnv.get('data/x')).toString(), 'typed');
      await emptyOut(typed);
      await typed.close();
      await viaEnv.close();
    } finally {
      process.env = saved;
    }
    await rejectsWithCode(openS3Backend('/srv/not-s3', settings), 'INVALID_LOCATION');
    await rejectsWithCode(openS3Backend('s3://Bad_Bucket/x', settings), 'INVALID_LOCATION');
  });

  test('objects are stored under the key prefix', async () => {
    const prefixed = await openBackend(`s3://${BUCKET}/deep/key/prefix/`, server.env);
    const bucketRoot = await openBackend(`s3://${BUCKET}`, server.env);
    try {
      assert.equal(prefixed.location, `s3://${BUCKET}/deep/key/prefix`);
      await prefixed.put('keys/k1', Buffer.from('k'));
      assert.deepEqual(await names(bucketRoot.list('deep/')), ['deep/key/prefix/keys/k1']);
    } finally {
      await emptyOut(prefixed);
      await prefixed.close();
      await bucketRoot.close();
    }
  });

  test('a missing bucket is NOT_FOUND, and create makes it', async () => {
    const err = await rejectsWithCode(openBackend('s3://no-such-bucket', server.env), 'NOT_FOUND');
    assert.equal(err.message, `bucket no-such-bucket does not exist at ${server.endpoint}`);
    const b = await openBackend('s3://made-on-init/repo', server.env, { create: true });
    await b.put('config', Buffer.from('c'));
    await b.close();
    // Opening again (and creating again) finds the same bucket and data.
    const again = await openBackend('s3://made-on-init/repo', server.env, { create: true });
    assert.equal((await again.get('config')).toString(), 'c');
    await emptyOut(again);
    await again.close();
  });

  test('an unknown access key is PERMISSION_DENIED and not retried', async () => {
    const started = Date.now();
    const err = await rejectsWithCode(
      openBackend(`s3://${BUCKET}`, { ...server.env, VAULTLINE_S3_ACCESS_KEY: 'NOT-A-KEY' }),
      'PERMISSION_DENIED',
    );
    assert.match(err.message, /access denied/);
    assert.ok(Date.now() - started < 1000);
  });

  test('the secret key never appears in error messages', async () => {
    const secret = 'Sup3rSecretValue-DoNotLeak';
    const env = { ...server.env, VAULTLINE_S3_SECRET_KEY: secret };
    const port = await closedPort();
    const failures: StorageError[] = [
      await rejectsWithCode(openBackend('s3://no-such-bucket', env), 'NOT_FOUND'),
      await rejectsWithCode(
        openBackend(`s3://${BUCKET}`, { ...env, VAULTLINE_S3_ACCESS_KEY: 'NOPE' }),
        'PERMISSION_DENIED',
      ),
      await rejectsWithCode(
        openBackend(
          `s3://${BUCKET}`,
          { ...env, VAULTLINE_S3_ENDPOINT: `http://127.0.0.1:${port}` },
          { retry: FAST_RETRY },
        ),
        'UNREACHABLE',
      ),
      await rejectsWithCode(openBackend(`s3://user:${secret}@${BUCKET}/x`, env), 'INVALID_LOCATION'),
    ];
    const b = await openBackend(`s3://${BUCKET}/secrets`, env);
    failures.push(await rejectsWithCode(b.get('nope'), 'NOT_FOUND'));
    await b.close();

    // A server that echoes request details (some do) must not leak it through our message either.
    const chatty = await fakeS3((_req, res) =>
      s3ErrorXml(res, 400, 'InvalidArgument', `bad request signed with ${secret}`),
    );
    try {
      const c = new S3Backend({
        endpoint: chatty.endpoint,
        bucket: BUCKET,
        accessKey: 'AK',
        secretKey: secret,
        retry: FAST_RETRY,
      });
      failures.push(await rejectsWithCode(c.get('config'), 'IO'));
      await c.close();
    } finally {
      await chatty.close();
    }
    for (const f of failures) {
      assert.ok(!f.message.includes(secret), f.message);
      assert.ok(!String(f.stack).includes(secret), String(f.stack));
    }
    assert.match(failures.at(-1)?.message ?? '', /bad request signed with \*\*\*/);
  });
});

describe('S3Backend failure handling', () => {
  test('an unreachable endpoint is UNREACHABLE within a few seconds, naming only the endpoint', async () => {
    const port = await closedPort();
    const started = Date.now();
    const err = await rejectsWithCode(
      openBackend(
        `s3://${BUCKET}/x`,
        { ...server.env, VAULTLINE_S3_ENDPOINT: `http://127.0.0.1:${port}` },
        { retry: FAST_RETRY },
      ),
      'UNREACHABLE',
    );
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
    assert.match(
      err.message,
      new RegExp(
        `^S3 endpoint http://127\\.0\\.0\\.1:${port} unreachable: .*ECONNREFUSED.*\\(after 3 attempts\\)$`,
      ),
    );
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  });

  test('5xx and throttling responses are retried until they succeed', async () => {
    const fake = await fakeS3((req, res, n) => {
      if (n === 1) return s3ErrorXml(res, 503, 'SlowDown', 'Please reduce your request rate.');
      if (n === 2) return s3ErrorXml(res, 500, 'InternalError', 'We encountered an internal error.');
      if (n === 3) return s3ErrorXml(res, 400, 'RequestTimeout', 'Your socket connection timed out.');
      if (req.method === 'HEAD') {
        res.writeHead(200);
        return res.end();
      }
      res.writeHead(200, { 'content-length': '5' });
      res.end('hello');
    });
    try {
      const b = new S3Backend({
        endpoint: fake.endpoint,
        bucket: BUCKET,
        accessKey: 'AK',
        secretKey: 'SK',
        retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
      });
      assert.equal((await b.get('config')).toString(), 'hello');
      assert.equal(fake.requests.length, 4);
      assert.ok(
        fake.requests.every((r) => r === `GET /${BUCKET}/config`),
        fake.requests.join(', '),
      );
      await b.close();
    } finally {
      await fake.close();
    }
  });

  test('persistent 503s give up after the configured attempts with an IO error', async () => {
    const fake = await fakeS3((_req, res) =>
      s3ErrorXml(res, 503, 'SlowDown', 'Please reduce your request rate.'),
    );
    try {
      const b = new S3Backend({
        endpoint: fake.endpoint,
        bucket: BUCKET,
        accessKey: 'AK',
        secretKey: 'SK',
        retry: FAST_RETRY,
      });
      const err = await rejectsWithCode(b.put('data/00/p', Buffer.from('x')), 'IO');
      assert.match(
        err.message,
        /kept failing writing data\/00\/p in s3:\/\/vaultline-test: HTTP 503 \(after 3 attempts\)/,
      );
      assert.equal(fake.requests.length, 3);
      await b.close();
    } finally {
      await fake.close();
    }
  });

  test('NoSuchKey, NoSuchBucket and AccessDenied are never retried', async () => {
    const answers: [string, number, StorageError['code']][] = [
      ['NoSuchKey', 404, 'NOT_FOUND'],
      ['NoSuchBucket', 404, 'NOT_FOUND'],
      ['AccessDenied', 403, 'PERMISSION_DENIED'],
    ];
    for (const [code, status, expected] of answers) {
      const fake = await fakeS3((_req, res) => s3ErrorXml(res, status, code, code));
      try {
        const b = new S3Backend({
          endpoint: fake.endpoint,
          bucket: BUCKET,
          accessKey: 'AK',
          secretKey: 'SK',
          retry: FAST_RETRY,
        });
        await rejectsWithCode(b.get('config'), expected);
        assert.equal(fake.requests.length, 1, `${code} was retried`);
        await b.close();
      } finally {
        await fake.close();
      }
    }
  });

  test('a stalled connection times out and is retried', async () => {
    const fake = await fakeS3((_req, res, n) => {
      if (n === 1) return; // never answer
      res.writeHead(200, { 'content-length': '2' });
      res.end('ok');
    });
    try {
      const b = new S3Backend({
        endpoint: fake.endpoint,
        bucket: BUCKET,
        accessKey: 'AK',
        secretKey: 'SK',
        retry: FAST_RETRY,
        requestTimeoutMs: 200,
      });
      assert.equal((await b.get('config')).toString(), 'ok');
      assert.equal(fake.requests.length, 2);
      await b.close();
    } finally {
      await fake.close();
    }
  });

  test('list follows continuation tokens across pages', async () => {
    // s3rver cannot do this under Node 17+: its continuation tokens use DES, which OpenSSL 3 lacks.
    const pages = [
      { keys: ['index/i0', 'index/i1'], next: 'token-1' },
      { keys: ['index/i2', 'index/i3'], next: 'token-2' },
      { keys: ['index/i4'], next: '' },
    ];
    const fake = await fakeS3((req, res) => {
      const token = new URL(req.url ?? '/', 'http://x').searchParams.get('continuation-token') ?? '';
      const page = pages[token === '' ? 0 : Number(token.slice('token-'.length))];
      if (page === undefined) return s3ErrorXml(res, 400, 'InvalidArgument', 'bad token');
      const contents = page.keys
        .map(
          (k) =>
            `<Contents><Key>repo/${k}</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>` +
            `<ETag>"x"</ETag><Size>${k.length}</Size></Contents>`,
        )
        .join('');
      const truncated = page.next === '' ? 'false' : 'true';
      const next = page.next === '' ? '' : `<NextContinuationToken>${page.next}</NextContinuationToken>`;
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(
        `<ListBucketResult><IsTruncated>${truncated}</IsTruncated>${next}${contents}</ListBucketResult>`,
      );
    });
    try {
      const b = new S3Backend({
        endpoint: fake.endpoint,
        bucket: BUCKET,
        prefix: 'repo',
        accessKey: 'AK',
        secretKey: 'SK',
        retry: FAST_RETRY,
        listPageSize: 2,
      });
      const listed = await collect(b.list('index/'));
      assert.deepEqual(
        listed.map((o) => [o.name, o.size]),
        pages.flatMap((p) => p.keys).map((k) => [k, k.length]),
      );
      assert.equal(listed[0]?.mtime?.toISOString(), '2024-01-02T03:04:05.000Z');
      assert.equal(fake.requests.length, 3);
      assert.match(fake.requests[0] ?? '', /prefix=repo%2Findex%2F/);
      assert.match(fake.requests[0] ?? '', /max-keys=2/);
      assert.match(fake.requests[2] ?? '', /continuation-token=token-2/);
      await b.close();
    } finally {
      await fake.close();
    }
  });

  test('backoff grows exponentially with jitter and stays under the cap', () => {
    for (let retry = 1; retry <= 10; retry++) {
      const ceiling = Math.min(DEFAULT_RETRY.maxDelayMs, DEFAULT_RETRY.baseDelayMs * 2 ** (retry - 1));
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(retry, DEFAULT_RETRY);
        assert.ok(d >= ceiling / 2 && d <= ceiling, `retry ${retry}: ${d}`);
      }
    }
    assert.deepEqual(DEFAULT_RETRY, { attempts: 5, baseDelayMs: 200, maxDelayMs: 5000 });
  });
});
