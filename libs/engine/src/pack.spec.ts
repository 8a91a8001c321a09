import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BlobType, sealBlob } from './blob';
import { BlobIndex } from './blob-index';
import { contentHash, generateX25519, keyedHash } from './crypto';
import { PackBuilder, packEphemeral, readPackHeader } from './pack';

function buildPack(): { bytes: Buffer; key: Buffer; ids: Buffer[]; id: string } {
  const key = randomBytes(32);
  const idKey = randomBytes(32);
  const eph = generateX25519();
  const b = new PackBuilder(eph.publicKey);
  const ids: Buffer[] = [];
  for (let i = 0; i < 5; i++) {
    const plain = Buffer.from(`blob ${i} `.repeat(100 * (i + 1)));
    const id = keyedHash(idKey, plain);
    ids.push(id);
    b.add(
      i % 2 ? BlobType.Tree : BlobType.Data,
      id,
      [sealBlob(key, BlobType.Data, id, plain, 3)],
      plain.length,
    );
  }
  const { id, parts, size } = b.finish(key);
  const bytes = Buffer.concat(parts);
  assert.equal(bytes.length, size);
  return { bytes, key, ids, id };
}

test('pack header round-trips and the name is the content hash', () => {
  const { bytes, key, ids, id } = buildPack();
  assert.equal(contentHash(bytes).toString('hex'), id);
  const entries = readPackHeader(bytes, key, 'pack');
  assert.deepEqual(
    entries.map((e) => e.id),
    ids,
  );
  assert.equal(entries[1]!.type, BlobType.Tree);
  assert.equal(packEphemeral(bytes, 'pack').length, 32);
});

test('a tampered or truncated pack is detected', () => {
  const { bytes, key } = buildPack();
  const tampered = Buffer.from(bytes);
  tampered[tampered.length - 10]! ^= 0xff;
  assert.throws(() => readPackHeader(tampered, key, 'pack'), /failed authentication/);
  assert.throws(() => readPackHeader(bytes.subarray(0, 20), key, 'pack'), /not a Vaultline pack/);
  assert.throws(
    () => readPackHeader(bytes.subarray(0, bytes.length - 100), key, 'pack'),
    /repository damaged/,
  );
  assert.throws(() => readPackHeader(bytes, randomBytes(32), 'pack'), /failed authentication/);
});

test('blob index: many entries, lookups, first location wins', () => {
  const index = new BlobIndex();
  const ids = Array.from({ length: 5000 }, () => randomBytes(32));
  ids.forEach((id, i) =>
    assert.ok(
      index.add(
        id,
        { type: BlobType.Data, pack: `p${i % 7}`, offset: i, length: i + 1, rawLength: i + 2 },
        'e',
      ),
    ),
  );
  assert.equal(index.size, 5000);
  assert.equal(index.packCount, 7);
  assert.deepEqual(index.get(ids[4321]!), {
    type: BlobType.Data,
    pack: 'p2',
    offset: 4321,
    length: 4322,
    rawLength: 4323,
  });
  assert.equal(
    index.add(ids[0]!, { type: BlobType.Data, pack: 'other', offset: 0, length: 1, rawLength: 1 }, 'e'),
    false,
  );
  assert.equal(index.get(ids[0]!)!.pack, 'p0');
  assert.equal(index.has(randomBytes(32)), false);
  assert.equal([...index.entries()].length, 5000);
});
