import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BlobType, openBlob, sealBlob } from './blob';
import {
  generateX25519,
  keyedHash,
  open,
  sessionKeyFromEphemeral,
  sessionKeyFromRepoPrivate,
} from './crypto';
import {
  DEFAULT_KDF,
  exportWriterKey,
  generateMasterKeys,
  parseWriterKey,
  unwrapMasterKeys,
  wrapMasterKeys,
} from './keys';

const KDF = { memory: 1024, passes: 1 };

test('a key file opens with its password and not with another', async () => {
  const keys = generateMasterKeys('repo1');
  const file = await wrapMasterKeys(keys, 'hunter22', KDF);
  assert.equal(JSON.stringify(file).includes('hunter22'), false, 'password not stored');
  const back = await unwrapMasterKeys(file, 'hunter22');
  assert.ok(back);
  assert.deepEqual(back.privateKey, keys.privateKey);
  assert.deepEqual(back.metaKey, keys.metaKey);
  assert.equal(await unwrapMasterKeys(file, 'hunter23'), null);
});

test('a key file is opened with the parameters it stores: p = 1 files from before the p = 4 default still open', async () => {
  const keys = generateMasterKeys('repo1');
  const old = await wrapMasterKeys(keys, 'hunter22', { ...KDF, parallelism: 1 });
  assert.equal(old.kdf.parallelism, 1);
  const made = await wrapMasterKeys(keys, 'hunter22', KDF);
  assert.equal(made.kdf.parallelism, DEFAULT_KDF.parallelism);
  assert.equal(DEFAULT_KDF.parallelism, 4);
  for (const file of [old, made])
    assert.deepEqual((await unwrapMasterKeys(file, 'hunter22'))?.metaKey, keys.metaKey);
  // Same salt and password, other lane count: another key, so the stored parameter is what counts.
  assert.equal(await unwrapMasterKeys({ ...old, kdf: { ...old.kdf, parallelism: 4 } }, 'hunter22'), null);
});

test('passwords shorter than 4 characters are refused', async () => {
  await assert.rejects(wrapMasterKeys(generateMasterKeys('r'), 'abc', KDF), { code: 'PASSWORD_TOO_SHORT' });
  await assert.doesNotReject(wrapMasterKeys(generateMasterKeys('r'), 'äöüß', KDF));
});

test('writer key round-trips and carries no private key', () => {
  const keys = generateMasterKeys('repo2');
  const text = exportWriterKey(keys);
  const parsed = parseWriterKey(text);
  assert.equal(parsed.repoId, 'repo2');
  assert.deepEqual(parsed.publicKey, keys.publicKey);
  assert.equal('privateKey' in parsed, false);
  assert.equal(text.includes(keys.privateKey.toString('base64')), false);
  assert.throws(() => parseWriterKey('nonsense'), /malformed/);
  assert.throws(
    () => parseWriterKey('vlwk1.' + Buffer.from('{"repo":"x"}').toString('base64url')),
    /malformed/,
  );
});

test('reader and writer agree on the session key; the writer secrets cannot open sealed data', () => {
  const keys = generateMasterKeys('repo3');
  const eph = generateX25519();
  const writerSide = sessionKeyFromEphemeral(eph, keys.publicKey);
  const readerSide = sessionKeyFromRepoPrivate(eph.publicKey, keys.privateKey, keys.publicKey);
  assert.deepEqual(writerSide, readerSide);

  const plain = Buffer.from('the content only the owner may read');
  const id = keyedHash(keys.idKey, plain);
  const sealed = sealBlob(writerSide, BlobType.Data, id, plain, 3);
  assert.deepEqual(openBlob(readerSide, keys.idKey, BlobType.Data, id, sealed, plain.length), plain);

  // Everything a writer holds once its session ended: the writer key set and the ephemeral public key.
  const writer = parseWriterKey(exportWriterKey(keys));
  const candidates = [writer.idKey, writer.chunkerSeed, writer.metaKey, writer.publicKey, eph.publicKey];
  for (const k of candidates) {
    assert.throws(() => openBlob(k, writer.idKey, BlobType.Data, id, sealed, plain.length), {
      code: 'CORRUPT',
    });
  }
  // Agreeing with the public key against itself (all a writer could try) yields another key.
  const bogus = { publicKey: eph.publicKey, privateKey: randomBytes(32) };
  assert.notDeepEqual(sessionKeyFromEphemeral(bogus, keys.publicKey), readerSide);
});

test('sealed data is authenticated: a flipped bit, a wrong id or type is refused', () => {
  const key = randomBytes(32);
  const idKey = randomBytes(32);
  const plain = Buffer.alloc(10_000, 'x');
  const id = keyedHash(idKey, plain);
  const sealed = sealBlob(key, BlobType.Data, id, plain, 3);
  const flipped = Buffer.from(sealed);
  flipped[20]! ^= 1;
  assert.throws(
    () => openBlob(key, idKey, BlobType.Data, id, flipped, plain.length),
    /failed authentication/,
  );
  assert.throws(() => openBlob(key, idKey, BlobType.Tree, id, sealed, plain.length), /failed authentication/);
  const otherId = keyedHash(idKey, Buffer.from('other'));
  assert.throws(
    () => openBlob(key, idKey, BlobType.Data, otherId, sealed, plain.length),
    /failed authentication/,
  );
  assert.throws(() => open(key, sealed.subarray(0, 10), Buffer.alloc(0), 'x'), /truncated/);
});
