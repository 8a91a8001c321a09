import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { BlobType, openBlob, sealBlobParts } from './blob';
import { Chunker } from './chunker';
import { SEAL_OVERHEAD_MAX, nativeCodec, openBlobInto, sealBlobInto, useNativeCodec } from './codec';
import { keyedHash } from './crypto';

const key = randomBytes(32);
const idKey = randomBytes(32);

function text(n: number): Buffer {
  const words = ['backup', 'restore', 'snapshot', 'pack', 'index', 'tree', 'chunk', 'vault'];
  let s = '';
  for (let i = 0; s.length < n; i++) s += `${words[(i * 7) % words.length]} ${i % 97} `;
  return Buffer.from(s.slice(0, n));
}

const samples: [string, Buffer][] = [
  ['empty', Buffer.alloc(0)],
  ['tiny', Buffer.from('abc')],
  ['small text', text(12_000)],
  ['small random', randomBytes(12_000)],
  ['zeros', Buffer.alloc(200_000)],
  ['large text', text(300_000)],
  ['large random', randomBytes(300_000)],
];

describe('blob codec', () => {
  after(() => useNativeCodec(true));

  test('the native codec is built here (npm run build compiles it)', () => {
    assert.ok(nativeCodec(), 'dist/native/vaultline_codec.node did not load');
  });

  for (const [name, plain] of samples) {
    test(`${name}: native and JavaScript read what the other wrote`, () => {
      const id = keyedHash(idKey, plain);
      useNativeCodec(true);
      const out = Buffer.alloc(plain.length + SEAL_OVERHEAD_MAX + 7);
      const n = sealBlobInto(key, BlobType.Data, id, plain, 3, out, 7);
      assert.ok(n <= plain.length + SEAL_OVERHEAD_MAX);
      const sealed = Buffer.from(out.subarray(7, 7 + n));
      assert.deepEqual(openBlob(key, idKey, BlobType.Data, id, sealed, plain.length), plain);

      const js = Buffer.concat(sealBlobParts(key, BlobType.Data, id, plain, 3));
      const back = Buffer.alloc(plain.length + 3);
      openBlobInto(key, idKey, BlobType.Data, id, js, plain.length, back, 3);
      assert.deepEqual(back.subarray(3), plain);

      useNativeCodec(false);
      const viaJs = Buffer.alloc(plain.length + SEAL_OVERHEAD_MAX);
      const m = sealBlobInto(key, BlobType.Data, id, plain, 3, viaJs, 0);
      const plainOut = Buffer.alloc(plain.length);
      openBlobInto(key, idKey, BlobType.Data, id, viaJs.subarray(0, m), plain.length, plainOut, 0);
      assert.deepEqual(plainOut, plain);
      useNativeCodec(true);
    });
  }

  test('compressible data is compressed, random data stored raw', () => {
    const id = randomBytes(32);
    const out = Buffer.alloc(400_000);
    assert.ok(sealBlobInto(key, BlobType.Data, id, text(12_000), 3, out, 0) < 6_000);
    assert.equal(
      sealBlobInto(key, BlobType.Data, id, randomBytes(12_000), 3, out, 0),
      12_000 + SEAL_OVERHEAD_MAX,
    );
    assert.equal(
      sealBlobInto(key, BlobType.Data, id, randomBytes(300_000), 3, out, 0),
      300_000 + SEAL_OVERHEAD_MAX,
    );
  });

  test('tampering, a wrong type or a wrong id is refused', () => {
    const plain = text(5_000);
    const id = keyedHash(idKey, plain);
    const out = Buffer.alloc(6_000);
    const n = sealBlobInto(key, BlobType.Data, id, plain, 3, out, 0);
    const sealed = out.subarray(0, n);
    const into = Buffer.alloc(plain.length);
    const flipped = Buffer.from(sealed);
    flipped[20]! ^= 1;
    assert.throws(() => openBlobInto(key, idKey, BlobType.Data, id, flipped, plain.length, into, 0), {
      code: 'CORRUPT',
    });
    assert.throws(() => openBlobInto(key, idKey, BlobType.Tree, id, sealed, plain.length, into, 0), {
      code: 'CORRUPT',
    });
    const otherId = keyedHash(idKey, Buffer.from('other'));
    assert.throws(() => openBlobInto(key, idKey, BlobType.Data, otherId, sealed, plain.length, into, 0), {
      code: 'CORRUPT',
    });
    assert.throws(
      () =>
        openBlobInto(
          key,
          idKey,
          BlobType.Data,
          id,
          sealed,
          plain.length + 1,
          Buffer.alloc(plain.length + 1),
          0,
        ),
      {
        code: 'CORRUPT',
      },
    );
  });

  test('the native gear loop cuts exactly where the JavaScript one does', () => {
    const params = { min: 4096, avg: 16384, max: 65536 };
    const data = Buffer.concat([randomBytes(500_000), text(300_000), Buffer.alloc(100_000)]);
    const seed = randomBytes(32);
    useNativeCodec(true);
    const native = new Chunker(params, seed).split(data);
    useNativeCodec(false);
    const js = new Chunker(params, seed).split(data);
    useNativeCodec(true);
    assert.deepEqual(native, js);
    assert.ok(native.length > 20);
  });
});
