import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { OutboundDenied, OutboundPolicy, parseCidr, type Resolver } from './outbound';
import { outboundRequest } from './outbound-request';

describe('outbound policy', () => {
  test('by default: metadata and link-local denied, loopback, private and public allowed', () => {
    const p = new OutboundPolicy();
    for (const a of ['169.254.169.254', '169.254.170.2', '100.100.100.200', 'fd00:ec2::254', 'fe80::1'])
      assert.equal(p.allows(a), false, a);
    for (const a of [
      '127.0.0.1',
      '::1',
      '10.1.2.3',
      '192.168.0.10',
      'fd12::5',
      '93.184.216.34',
      '2606:4700::1',
    ])
      assert.equal(p.allows(a), true, a);
  });

  test('IPv4-mapped IPv6 addresses are checked as the IPv4 address they reach', () => {
    const p = new OutboundPolicy({ deny: '10.0.0.0/8' });
    assert.equal(p.allows('::ffff:169.254.169.254'), false);
    assert.equal(p.allows('::ffff:10.0.0.1'), false);
    assert.equal(p.allows('::ffff:8.8.8.8'), true);
  });

  test('OUTBOUND_DENY_CIDRS denies private ranges; OUTBOUND_ALLOW_CIDRS wins over every denial', () => {
    const p = new OutboundPolicy({
      deny: '127.0.0.0/8, ::1/128, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7',
      allow: '10.0.5.0/24, 169.254.169.254',
    });
    for (const a of ['127.0.0.1', '::1', '10.1.2.3', '172.20.0.1', '192.168.1.1', 'fd12::5'])
      assert.equal(p.allows(a), false, a);
    assert.equal(p.allows('10.0.5.9'), true, 'allowed subnet inside a denied one');
    assert.equal(p.allows('169.254.169.254'), true, 'metadata only when explicitly allowed');
    assert.equal(p.allows('169.254.1.1'), false);
    assert.equal(p.allows('8.8.8.8'), true);
  });

  test('bad CIDRs are refused with the reason; garbage addresses are never allowed', () => {
    assert.throws(() => parseCidr('10.0.0.0/33'), /not an IPv4 or IPv6 address or CIDR/);
    assert.throws(() => parseCidr('example.com'), /not an IPv4/);
    assert.throws(() => new OutboundPolicy({ deny: '10.0.0.0/8,nope' }), /"nope"/);
    assert.equal(new OutboundPolicy().allows('not-an-ip'), false);
  });

  test('check resolves names and refuses when any address is denied', async () => {
    const p = new OutboundPolicy({ deny: '127.0.0.0/8,::1/128' });
    await assert.rejects(p.check('169.254.169.254'), OutboundDenied);
    await assert.rejects(p.check('[fd00:ec2::254]'), OutboundDenied);
    await assert.rejects(p.check('localhost'), /connection to localhost refused by the outbound policy/);
    assert.deepEqual(await new OutboundPolicy().check('127.0.0.1'), [{ address: '127.0.0.1', family: 4 }]);
  });
});

/** A resolver that answers from a table, and counts how often it was asked (rebinding tests). */
function table(answers: Record<string, readonly (readonly string[])[]>): Resolver & { calls: number } {
  const asked: Record<string, number> = {};
  const resolve = Object.assign(
    (host: string): Promise<LookupAddress[]> => {
      resolve.calls++;
      const list = answers[host];
      if (!list)
        return Promise.reject(
          Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }),
        );
      const n = asked[host] ?? 0;
      asked[host] = n + 1;
      // The last answer repeats: a rebinding name gives one answer to the check, another after.
      return Promise.resolve(
        list[Math.min(n, list.length - 1)]!.map((address) => ({
          address,
          family: address.includes(':') ? 6 : 4,
        })),
      );
    },
    { calls: 0 },
  );
  return resolve;
}

describe('outbound lookup (what sockets connect to)', () => {
  const lookupOf = (p: OutboundPolicy) =>
    promisify((host: string, options: object, cb: (err: Error | null, a: unknown, f?: number) => void) =>
      p.lookup(host, options, (err, address, family) =>
        cb(err, family === undefined ? address : { address, family }),
      ),
    );

  test('hands the socket only allowed addresses, in both lookup forms', async () => {
    const p = new OutboundPolicy({
      deny: '10.0.0.0/8',
      resolve: table({ mixed: [['10.0.0.5', '192.0.2.7', '2001:db8::1']] }),
    });
    const lookup = lookupOf(p);
    assert.deepEqual(await lookup('mixed', { all: true }), [
      { address: '192.0.2.7', family: 4 },
      { address: '2001:db8::1', family: 6 },
    ]);
    assert.deepEqual(await lookup('mixed', {}), { address: '192.0.2.7', family: 4 });
    assert.deepEqual(await lookup('mixed', { family: 6 }), { address: '2001:db8::1', family: 6 });
  });

  test('no allowed address: OUTBOUND_DENIED, with the addresses for the log only', async () => {
    const seen: OutboundDenied[] = [];
    const p = new OutboundPolicy({
      resolve: table({ meta: [['169.254.169.254']] }),
      onDenied: (d) => void seen.push(d),
    });
    const err = (await lookupOf(p)('meta', { all: true }).catch((e: unknown) => e)) as OutboundDenied;
    assert.ok(err instanceof OutboundDenied);
    assert.equal(err.code, 'OUTBOUND_DENIED');
    assert.equal(err.message, 'connection to meta refused by the outbound policy');
    assert.doesNotMatch(err.message, /169\.254/);
    assert.deepEqual(
      seen.map((d) => [d.host, d.addresses]),
      [['meta', ['169.254.169.254']]],
    );
  });

  test('resolver errors reach the socket unchanged', async () => {
    const p = new OutboundPolicy({ resolve: table({}) });
    await assert.rejects(lookupOf(p)('nowhere', {}), { code: 'ENOTFOUND' });
  });
});

describe('outbound agent and request (a real local HTTP server)', () => {
  let server: Server;
  let port = 0;
  let hits = 0;
  before(async () => {
    server = createServer((_req, res) => {
      hits++;
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('the default policy reaches a loopback server, by address and by name', async () => {
    const p = new OutboundPolicy({ resolve: table({ 'svc.test': [['127.0.0.1']] }) });
    assert.equal(await outboundRequest(p, `http://127.0.0.1:${port}/`), 204);
    assert.equal(await outboundRequest(p, `http://svc.test:${port}/`), 204);
  });

  test('a denied address literal is refused before any connection', async () => {
    const p = new OutboundPolicy({ deny: '127.0.0.0/8' });
    const before = hits;
    await assert.rejects(outboundRequest(p, `http://127.0.0.1:${port}/`), OutboundDenied);
    await assert.rejects(outboundRequest(p, `http://169.254.169.254/latest/meta-data/`), OutboundDenied);
    assert.equal(hits, before);
  });

  test('DNS rebinding: a name that passed the check but then resolves to a denied address is refused', async () => {
    // First answer public (what a check at registration sees), then loopback, which is denied here.
    const resolve = table({ rebind: [['192.0.2.10'], ['127.0.0.1']] });
    const p = new OutboundPolicy({ deny: '127.0.0.0/8', resolve });
    await p.check('rebind');
    const before = hits;
    await assert.rejects(outboundRequest(p, `http://rebind:${port}/`), { code: 'OUTBOUND_DENIED' });
    assert.equal(hits, before, 'the server was never reached');
    assert.equal(resolve.calls, 2, 'the connection used its own lookup, not the earlier answer');
  });

  test('the system resolver: localhost with loopback denied is refused, allowed again by OUTBOUND_ALLOW_CIDRS', async () => {
    const denied = new OutboundPolicy({ deny: '127.0.0.0/8,::1/128' });
    await assert.rejects(outboundRequest(denied, `http://localhost:${port}/`), OutboundDenied);
    const allowed = new OutboundPolicy({ deny: '127.0.0.0/8,::1/128', allow: '127.0.0.1' });
    assert.equal(await outboundRequest(allowed, `http://localhost:${port}/`), 204);
  });
});
