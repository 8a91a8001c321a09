/**
 * The outbound policy at call time, against real servers: an S3-protocol server (s3rver) reached
 * through a target's storage, an HTTP server as a hook and as the report webhook. A name that
 * resolves to a denied address is refused when the connection is made, including a name that
 * resolved to an allowed address when it was checked (DNS rebinding); the default policy keeps
 * loopback servers reachable.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { OutboundPolicy, type Resolver, Secret } from '@vaultline/config';
import { formatSealed, recordIds, sealWithServerKey, serverKeys } from '@vaultline/secrets';
import { StorageError } from '@vaultline/storage';
import { openTargetStorage, type TargetRow } from '@vaultline/targets';

import { deliverWebhook } from '../../apps/report/src/webhook';
import { runHook } from '../../apps/worker/src/hooks';
import { startS3Server, type S3TestServer } from '../support/s3server';

/** Answers from a table; a list of answers is handed out in turn, the last one repeating. */
function resolver(answers: Record<string, string[][]>): Resolver {
  const asked = new Map<string, number>();
  return (host) => {
    const list = answers[host];
    if (!list) return Promise.reject(Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
    const n = asked.get(host) ?? 0;
    asked.set(host, n + 1);
    return Promise.resolve(
      list[Math.min(n, list.length - 1)]!.map((address): LookupAddress => ({
        address,
        family: address.includes(':') ? 6 : 4,
      })),
    );
  };
}

const LOOPBACK = '127.0.0.0/8,::1/128';

describe('outbound policy at call time: S3 targets', () => {
  let s3: S3TestServer;
  const keys = serverKeys({ serverSecret: new Secret(randomBytes(32)) });
  before(async () => {
    s3 = await startS3Server({ buckets: ['backups'] });
  });
  after(async () => {
    await s3?.stop();
  });

  const target = (host: string): TargetRow => {
    const id = randomUUID();
    const sealed = sealWithServerKey(
      keys,
      'target-credentials',
      recordIds.targetCredentials(id),
      s3.secretKey,
    );
    return {
      id,
      kind: 's3',
      path: null,
      s3Endpoint: `http://${host}:${new URL(s3.endpoint).port}`,
      s3Bucket: 'backups',
      s3Prefix: 'outbound',
      s3Region: 'us-east-1',
      s3AccessKey: s3.accessKey,
      s3SecretEnc: formatSealed(sealed),
    };
  };
  const open = (t: TargetRow, outbound: OutboundPolicy) =>
    openTargetStorage(keys, t, 's3://backups/outbound/repo', { create: false, outbound });

  test('the default policy reaches the loopback server by address and by name', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const backend = await open(target(host), new OutboundPolicy());
      await backend.put('hello', Buffer.from('hi'));
      assert.equal((await backend.get('hello')).toString(), 'hi');
      await backend.close();
    }
  });

  test('localhost with loopback denied: refused at connect time, with a message that names no address', async () => {
    const denied: string[][] = [];
    const policy = new OutboundPolicy({
      deny: LOOPBACK,
      onDenied: (d) => void denied.push([...d.addresses]),
    });
    const err = await open(target('localhost'), policy).catch((e: unknown) => e);
    assert.ok(err instanceof StorageError, String(err));
    assert.equal(err.code, 'PERMISSION_DENIED');
    assert.match(err.message, /S3 endpoint http:\/\/localhost:\d+ is refused by the outbound policy/);
    assert.doesNotMatch(err.message, /127\.0\.0\.1|::1/);
    assert.ok(
      denied.some((a) => a.includes('127.0.0.1')),
      `the log hears the addresses: ${JSON.stringify(denied)}`,
    );
  });

  test('DNS rebinding: a name checked as public, then resolving to the metadata address, is refused', async () => {
    const policy = new OutboundPolicy({
      resolve: resolver({ 's3.rebind.test': [['192.0.2.80'], ['169.254.169.254']] }),
    });
    await policy.check('s3.rebind.test'); // what registration saw
    const err = await open(target('s3.rebind.test'), policy).catch((e: unknown) => e);
    assert.ok(err instanceof StorageError && err.code === 'PERMISSION_DENIED', String(err));
  });

  test('a name with a denied and an allowed address is connected to the allowed one only', async () => {
    // localhost, because s3rver takes any other name for a virtual-hosted bucket.
    const policy = new OutboundPolicy({
      deny: LOOPBACK,
      allow: '127.0.0.1',
      resolve: resolver({ localhost: [['::1', '127.0.0.1']] }),
    });
    const backend = await open(target('localhost'), policy);
    assert.equal((await backend.get('hello')).toString(), 'hi');
    await backend.close();
  });
});

describe('outbound policy at call time: HTTP hooks and the report webhook', () => {
  let server: Server;
  let port = 0;
  let hits = 0;
  before(async () => {
    server = createServer((req, res) => {
      hits++;
      req.resume();
      res.writeHead(200).end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const logger = { warn: () => undefined };

  test('the default policy delivers to loopback', async () => {
    await runHook(
      { kind: 'http', url: `http://localhost:${port}/pre` },
      'pre',
      undefined,
      null,
      new OutboundPolicy(),
    );
    const out = await deliverWebhook(`http://localhost:${port}/hook`, { a: 1 }, {}, logger, {
      outbound: new OutboundPolicy(),
    });
    assert.deepEqual(out, { delivered: true, attempts: 1 });
  });

  test('localhost with loopback denied: the hook fails and the webhook is not retried; nothing reaches the server', async () => {
    const policy = new OutboundPolicy({ deny: LOOPBACK });
    const before = hits;
    await assert.rejects(
      runHook({ kind: 'http', url: `http://localhost:${port}/pre?token=t` }, 'pre', undefined, null, policy),
      (err: Error) => {
        assert.match(err.message, /pre-hook is refused by the outbound policy \(http:\/\/localhost:\d+\)/);
        assert.doesNotMatch(err.message, /token|127\.0\.0\.1/);
        return true;
      },
    );
    const out = await deliverWebhook(`http://localhost:${port}/hook`, {}, {}, logger, {
      outbound: policy,
      retryDelayMs: 1,
    });
    assert.deepEqual(out, { delivered: false, attempts: 1, error: 'refused by the outbound policy' });
    assert.equal(hits, before);
  });

  test('DNS rebinding: allowed when checked, the metadata address when called: refused', async () => {
    const policy = new OutboundPolicy({
      resolve: resolver({ 'hook.rebind.test': [['127.0.0.1'], ['169.254.169.254']] }),
    });
    await policy.check('hook.rebind.test');
    await assert.rejects(
      runHook({ kind: 'http', url: `http://hook.rebind.test:${port}/` }, 'post', undefined, null, policy),
      /post-hook is refused by the outbound policy/,
    );
  });
});
