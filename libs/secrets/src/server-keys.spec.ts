import assert from 'node:assert/strict';
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';

import { Secret } from '@vaultline/config';

import { PASSWORD_ENVELOPE_TTL_MS, openPasswordEnvelope, sealPasswordEnvelope } from './password-envelope';
import {
  SecretsError,
  ServerKeys,
  formatSealed,
  openWithServerKey,
  parseSealed,
  sealWithServerKey,
  serverKeys,
  type SealedBox,
  type SecretsErrorCode,
} from './server-keys';

const SECRET = Buffer.from('3f1c9a7be2d45086a1f0c3b2e9d87a6541f2c0b3a9d8e7f6a5b4c3d2e1f00112', 'hex');
const OTHER = Buffer.from('c0ffee00112233445566778899aabbccddeeff0123456789abcdef0fedcba987', 'hex');
const keys = serverKeys({ serverSecret: new Secret(SECRET) });

function code(fn: () => unknown): SecretsErrorCode {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SecretsError, `expected a SecretsError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected a SecretsError');
}

/** Flips one bit of a base64url field. */
function flip(value: string, byte = 0): string {
  const b = Buffer.from(value, 'base64url');
  b[byte] = (b[byte] ?? 0) ^ 1;
  return b.toString('base64url');
}

describe('server keys', () => {
  test('round trip: what is sealed for a record opens for that record', () => {
    const box = sealWithServerKey(keys, 'writer-key', 'plan_1/tgt_1', 'vlwk1.writer-key-material');
    assert.equal(
      openWithServerKey(keys, 'writer-key', 'plan_1/tgt_1', box).toString(),
      'vlwk1.writer-key-material',
    );
    const bytes = Buffer.from([0, 1, 2, 255]);
    const box2 = sealWithServerKey(keys, 'target-credentials', 'tgt_1', bytes);
    assert.deepEqual(openWithServerKey(keys, 'target-credentials', 'tgt_1', box2), bytes);
    // The keys are derived, not the secret itself: a new handle from the same secret opens it.
    const again = serverKeys({ serverSecret: new Secret(SECRET) });
    assert.deepEqual(openWithServerKey(again, 'target-credentials', 'tgt_1', box2), bytes);
  });

  test('a fresh nonce each time: sealing twice gives different ciphertexts', () => {
    const a = sealWithServerKey(keys, 'writer-key', 'r', 'same');
    const b = sealWithServerKey(keys, 'writer-key', 'r', 'same');
    assert.notEqual(a.nonce, b.nonce);
    assert.notEqual(a.ciphertext, b.ciphertext);
    assert.equal(Buffer.from(a.nonce, 'base64url').length, 12);
    assert.equal(Buffer.from(a.ciphertext, 'base64url').length, 4 + 16);
  });

  test('wrong purpose, record id or server secret: OPEN_FAILED', () => {
    const box = sealWithServerKey(keys, 'writer-key', 'plan_1', 'secret stuff');
    assert.equal(
      code(() => openWithServerKey(keys, 'target-credentials', 'plan_1', box)),
      'OPEN_FAILED',
    );
    assert.equal(
      code(() => openWithServerKey(keys, 'writer-key', 'plan_2', box)),
      'OPEN_FAILED',
    );
    const other = serverKeys({ serverSecret: new Secret(OTHER) });
    assert.equal(
      code(() => openWithServerKey(other, 'writer-key', 'plan_1', box)),
      'OPEN_FAILED',
    );
  });

  test('the stored format: HKDF key per purpose, AD = JSON [v1, purpose, record id]', () => {
    // Built by hand with node:crypto: pins the format of values stored in the database, and shows
    // that the purpose is bound by the associated data as well as by the key.
    const seal = (purpose: string, ad: unknown[]): SealedBox => {
      const key = Buffer.from(hkdfSync('sha256', SECRET, 'vaultline/server-keys/v1', purpose, 32));
      const nonce = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, nonce);
      c.setAAD(Buffer.from(JSON.stringify(ad)));
      const ct = Buffer.concat([c.update('data'), c.final(), c.getAuthTag()]);
      return { nonce: nonce.toString('base64url'), ciphertext: ct.toString('base64url') };
    };
    const good = seal('writer-key', ['v1', 'writer-key', 'x']);
    assert.equal(openWithServerKey(keys, 'writer-key', 'x', good).toString(), 'data');
    const otherPurposeInAd = seal('writer-key', ['v1', 'target-credentials', 'x']);
    assert.equal(
      code(() => openWithServerKey(keys, 'writer-key', 'x', otherPurposeInAd)),
      'OPEN_FAILED',
    );
    const otherVersion = seal('writer-key', ['v2', 'writer-key', 'x']);
    assert.equal(
      code(() => openWithServerKey(keys, 'writer-key', 'x', otherVersion)),
      'OPEN_FAILED',
    );
  });

  test('any altered bit: OPEN_FAILED; garbage: MALFORMED', () => {
    const box = sealWithServerKey(keys, 'writer-key', 'r', 'payload');
    assert.equal(
      code(() => openWithServerKey(keys, 'writer-key', 'r', { ...box, ciphertext: flip(box.ciphertext) })),
      'OPEN_FAILED',
    );
    assert.equal(
      code(() =>
        openWithServerKey(keys, 'writer-key', 'r', { ...box, ciphertext: flip(box.ciphertext, 10) }),
      ),
      'OPEN_FAILED',
    );
    assert.equal(
      code(() => openWithServerKey(keys, 'writer-key', 'r', { ...box, nonce: flip(box.nonce) })),
      'OPEN_FAILED',
    );
    assert.equal(
      code(() => openWithServerKey(keys, 'writer-key', 'r', { ...box, nonce: 'AAAA' })),
      'MALFORMED',
    );
    assert.equal(
      code(() =>
        openWithServerKey(keys, 'writer-key', 'r', { nonce: box.nonce, ciphertext: 'no+base64url' }),
      ),
      'MALFORMED',
    );
  });

  test('misuse is refused: no record id, unknown purpose, keys not from serverKeys()', () => {
    assert.equal(
      code(() => sealWithServerKey(keys, 'writer-key', '', 'x')),
      'INVALID_ARGUMENT',
    );
    assert.equal(
      code(() => sealWithServerKey(keys, 'session' as 'writer-key', 'r', 'x')),
      'INVALID_ARGUMENT',
    );
    const forged = Object.create(ServerKeys.prototype) as ServerKeys;
    assert.equal(
      code(() => sealWithServerKey(forged, 'writer-key', 'r', 'x')),
      'INVALID_ARGUMENT',
    );
  });

  test('one string for a database column', () => {
    const box = sealWithServerKey(keys, 'target-credentials', 'tgt_9', '{"accessKey":"AK","secretKey":"SK"}');
    const text = formatSealed(box);
    assert.match(text, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    const back: SealedBox = parseSealed(text);
    assert.equal(
      openWithServerKey(keys, 'target-credentials', 'tgt_9', back).toString(),
      '{"accessKey":"AK","secretKey":"SK"}',
    );
    for (const bad of ['v2.a.b', 'v1.a', 'v1..b', 'plain text'])
      assert.equal(
        code(() => parseSealed(bad)),
        'MALFORMED',
        bad,
      );
  });

  test('the keys never print', () => {
    for (const text of [
      String(keys),
      JSON.stringify({ keys }),
      inspect(keys, { showHidden: true, depth: 5 }),
    ]) {
      assert.match(text, /redacted/);
      assert.ok(!text.includes(SECRET.toString('hex')));
    }
  });
});

describe('password envelope', () => {
  const now = new Date('2025-03-01T02:00:00.000Z');

  test('opens for its restore until it expires', () => {
    const env = sealPasswordEnvelope(keys, 'rst_1', 'correct horse', { now });
    assert.equal(env.expiresAt, new Date(now.getTime() + PASSWORD_ENVELOPE_TTL_MS).toISOString());
    assert.ok(!JSON.stringify(env).includes('correct horse'));
    assert.equal(openPasswordEnvelope(keys, 'rst_1', env, new Date(now.getTime() + 60_000)), 'correct horse');
    assert.equal(
      code(() => openPasswordEnvelope(keys, 'rst_1', env, new Date(env.expiresAt))),
      'EXPIRED',
    );
  });

  test('another restore, another server secret: OPEN_FAILED', () => {
    const env = sealPasswordEnvelope(keys, 'rst_1', 'pw-1234', { now });
    assert.equal(
      code(() => openPasswordEnvelope(keys, 'rst_2', env, now)),
      'OPEN_FAILED',
    );
    assert.equal(
      code(() => openPasswordEnvelope(serverKeys({ serverSecret: new Secret(OTHER) }), 'rst_1', env, now)),
      'OPEN_FAILED',
    );
  });

  test('extending expiresAt in Redis does not extend its life', () => {
    const env = sealPasswordEnvelope(keys, 'rst_1', 'pw-1234', { now, ttlMs: 1000 });
    const later = new Date(now.getTime() + 3_600_000);
    const extended = { ...env, expiresAt: new Date(later.getTime() + 1000).toISOString() };
    assert.equal(
      code(() => openPasswordEnvelope(keys, 'rst_1', extended, later)),
      'OPEN_FAILED',
    );
  });

  test('a password envelope is not a writer-key record', () => {
    const env = sealPasswordEnvelope(keys, 'rst_1', 'pw-1234', { now });
    assert.equal(
      code(() => openWithServerKey(keys, 'writer-key', `restore/rst_1/${env.expiresAt}`, env)),
      'OPEN_FAILED',
    );
  });

  test('unicode passwords survive', () => {
    const env = sealPasswordEnvelope(keys, 'rst_1', 'pässwörd 🔑', { now });
    assert.equal(openPasswordEnvelope(keys, 'rst_1', env, now), 'pässwörd 🔑');
  });

  test('a positive ttl is required', () => {
    assert.equal(
      code(() => sealPasswordEnvelope(keys, 'rst_1', 'pw-1234', { ttlMs: 0 })),
      'INVALID_ARGUMENT',
    );
  });
});
