import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { OutboundDenied, OutboundPolicy, parseCidr } from './outbound';

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
    await assert.rejects(p.check('localhost'), /localhost is a denied address/);
    assert.deepEqual(await new OutboundPolicy().check('127.0.0.1'), [{ address: '127.0.0.1', family: 4 }]);
  });
});
