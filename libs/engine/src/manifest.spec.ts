import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { zstdCompressSync } from 'node:zlib';
import { seal } from './crypto';
import {
  FP_LEN,
  ManifestFiles,
  encodeManifest,
  manifestDelta,
  openManifest,
  sameManifests,
  validManifestJson,
  type Manifest,
  type ManifestFile,
} from './manifest';
import { metaAad, sealCompressed, sealJson } from './meta';

const id = (c: string): string => c.repeat(64);
/** A fingerprint (16 bytes, base64url) derived from a name, as uniform as real ones. */
const fp = (name: string): string =>
  createHash('sha256').update(name).digest().subarray(0, FP_LEN).toString('base64url');
const fpBytes = (name: string): Buffer => Buffer.from(fp(name), 'base64url');
const entry = (size: number, chunk = 'a'): ManifestFile => [size, '1', '2', '3', [id(chunk)]];

function manifest(n: number): Manifest {
  const files = new ManifestFiles();
  for (let i = 0; i < n; i++) files.setStored(fp(`f${i}`), entry(i), 'test');
  return { files, trees: [id('1'), id('2')] };
}

/** Fingerprints (base64url) of a delta's rows and removals. */
function deltaOf(parent: Manifest, next: Manifest) {
  const d = manifestDelta(parent, next);
  if (!d) return null;
  const removed: string[] = [];
  for (let at = 0; at < d.removed.length; at += FP_LEN)
    removed.push(d.removed.subarray(at, at + FP_LEN).toString('base64url'));
  return {
    files: Object.fromEntries(
      d.rows.map((r) => [next.files.fingerprint(r).toString('base64url'), next.files.entry(r)]),
    ),
    removed,
  };
}

const KEY = randomBytes(32);

describe('manifest deltas', () => {
  test('a delta holds exactly the new and changed entries and the removed fingerprints', () => {
    const parent = manifest(100);
    const next = manifest(100);
    next.files.setStored(fp('f3'), entry(3, 'b'), 'test');
    next.files.delete(fpBytes('f7'));
    next.files.setStored(fp('added'), entry(1), 'test');
    assert.deepEqual(deltaOf(parent, next), {
      files: { [fp('f3')]: entry(3, 'b'), [fp('added')]: entry(1) },
      removed: [fp('f7')],
    });
  });

  test('no delta when a quarter of the files or more changed', () => {
    const parent = manifest(8);
    const next = manifest(8);
    next.files.setStored(fp('f0'), entry(9), 'test');
    assert.ok(manifestDelta(parent, next), 'one of eight');
    next.files.setStored(fp('f1'), entry(9), 'test');
    next.files.setStored(fp('f2'), entry(9), 'test');
    assert.equal(manifestDelta(parent, next), null, 'three of eight');
    const fewer = manifest(8);
    for (const name of ['f0', 'f1', 'f2']) fewer.files.delete(fpBytes(name));
    assert.equal(manifestDelta(parent, fewer), null, 'three of eight removed');
  });

  test('sameManifests ignores the order entries were set in, not content', () => {
    const a = manifest(3);
    const files = new ManifestFiles();
    for (const i of [2, 0, 1]) files.setStored(fp(`f${i}`), entry(i), 'test');
    const b: Manifest = { files, trees: [id('1'), id('2')] };
    assert.ok(sameManifests(a, b));
    b.files.setStored(fp('f1'), entry(1, 'c'), 'test');
    assert.ok(!sameManifests(a, b));
    b.files.setStored(fp('f1'), [1, '1', '2', '4', [id('a')]], 'test');
    assert.ok(!sameManifests(a, b), 'another inode');
    b.files.setStored(fp('f1'), entry(1), 'test');
    assert.ok(sameManifests(a, b), 'replaced back');
    assert.ok(!sameManifests(a, { ...manifest(3), trees: [id('2'), id('1')] }));
  });
});

describe('ManifestFiles', () => {
  test('an entry round-trips: 64-bit times and inodes, no chunks or many', () => {
    const t = new ManifestFiles();
    const big: ManifestFile = [
      2 ** 53 - 1,
      '-9223372036854775808',
      '9223372036854775807',
      '18446744073709551615',
      [],
    ];
    const many: ManifestFile = [5, '1733000000123456789', '0', '0', [id('1'), id('2'), id('1'), id('f')]];
    t.setStored(fp('big'), big, 'test');
    t.setStored(fp('many'), many, 'test');
    assert.deepEqual(t.toRecord(), { [fp('big')]: big, [fp('many')]: many });
    assert.equal(t.size, 2);
    const row = t.rowOf(fp('many'));
    assert.equal(t.mtime(row), 1733000000123456789n);
    assert.deepEqual(t.chunkHex(row), many[4]);
    assert.equal(t.rowOf(fp('none')), -1);
    // Copies within the table while it grows (rows, pool and slots) keep the bytes.
    for (let i = 0; i < 3000; i++) t.copy(fpBytes(`c${i}`), 0, t, row);
    assert.deepEqual(t.entry(t.rowOf(fp('c2999'))), many);
    assert.deepEqual(t.entry(t.rowOf(fp('c0'))), many);
    assert.equal(t.size, 3002);
  });

  test('replacing, deleting and setting again: one live row per fingerprint', () => {
    const t = new ManifestFiles();
    for (let i = 0; i < 2000; i++) t.setStored(fp(`f${i}`), entry(i), 'test');
    for (let i = 0; i < 2000; i += 2) assert.ok(t.delete(fpBytes(`f${i}`)));
    assert.ok(!t.delete(fpBytes('f0')), 'already gone');
    for (let i = 0; i < 2000; i += 4) t.setStored(fp(`f${i}`), entry(i + 1), 'test');
    for (let i = 1; i < 2000; i += 2) t.setStored(fp(`f${i}`), entry(i * 2), 'test');
    assert.equal(t.size, 1500);
    assert.equal([...t.rows()].length, 1500);
    for (let i = 0; i < 2000; i++) {
      const want = i % 4 === 0 ? i + 1 : i % 2 === 1 ? i * 2 : -1;
      const r = t.rowOf(fp(`f${i}`));
      if (want < 0) assert.equal(r, -1, `f${i}`);
      else assert.equal(t.fileSize(r), want, `f${i}`);
    }
    const copy = t.clone();
    assert.deepEqual(copy.toRecord(), t.toRecord());
    assert.equal(copy.size, 1500);
  });

  test('chunksIn asks the index about every chunk, at its place in the pool', () => {
    const t = new ManifestFiles();
    const row = t.setStored(fp('f'), [1, '1', '1', '1', [id('a'), id('b')]], 'test');
    const asked: string[] = [];
    const index = (known: string[]) => ({
      hasAt(bytes: Uint8Array, at: number) {
        const hex = Buffer.from(bytes.subarray(at, at + 32)).toString('hex');
        asked.push(hex);
        return known.includes(hex);
      },
    });
    assert.ok(t.chunksIn(row, index([id('a'), id('b')])));
    assert.deepEqual(asked, [id('a'), id('b')]);
    assert.ok(!t.chunksIn(row, index([id('a')])));
  });

  test('format-1 values no writer stores are refused, not wrapped', () => {
    const t = new ManifestFiles();
    const bad: [string, string, ManifestFile][] = [
      ['size', fp('x'), [-1, '1', '1', '1', []]],
      ['fraction', fp('x'), [1.5, '1', '1', '1', []]],
      ['hex time', fp('x'), [1, '0x10', '1', '1', []]],
      ['minus alone', fp('x'), [1, '-', '1', '1', []]],
      ['21 digits', fp('x'), [1, '1'.repeat(21), '1', '1', []]],
      ['space', fp('x'), [1, ' 1', '1', '1', []]],
      ['empty', fp('x'), [1, '', '1', '1', []]],
      ['past int64', fp('x'), [1, '9223372036854775808', '1', '1', []]],
      ['negative inode', fp('x'), [1, '1', '1', '-1', []]],
      ['past uint64', fp('x'), [1, '1', '1', '18446744073709551616', []]],
      ['short id', fp('x'), [1, '1', '1', '1', ['ab']]],
      ['not hex', fp('x'), [1, '1', '1', '1', ['a'.repeat(62) + 'g0']]],
      ['long id', fp('x'), [1, '1', '1', '1', ['a'.repeat(66)]]],
      ['short fingerprint', 'abc', entry(1)],
      ['not base64url', '+'.repeat(22), entry(1)],
      ['non-canonical fingerprint', fp('x').slice(0, 21) + 'B', entry(1)],
    ];
    for (const [what, key, f] of bad)
      assert.throws(() => t.setStored(key, f, 'manifest m'), { code: 'CORRUPT' }, what);
    assert.equal(t.size, 0);
  });
});

describe('stored manifests', () => {
  const sealBinary = (m: Parameters<typeof encodeManifest>[0]) =>
    sealCompressed(KEY, 'manifest', encodeManifest(m));
  /** Seals `plain` (already the decompressed bytes) as a manifest. */
  const sealRaw = (plain: Buffer) => seal(KEY, zstdCompressSync(plain), metaAad('manifest'));

  test('format 2 round-trips whole manifests and deltas, empty or large', async () => {
    const m = manifest(5000);
    m.files.delete(fpBytes('f10'));
    const whole = openManifest(KEY, await sealBinary(m), 'm');
    assert.equal(whole.base, undefined);
    assert.equal(whole.removed.length, 0);
    assert.deepEqual(whole.trees, m.trees);
    assert.deepEqual(whole.files.toRecord(), m.files.toRecord());

    const next = manifest(5000);
    next.files.setStored(fp('f3'), [77, '-5', '6', '18446744073709551615', [id('c'), id('d')]], 'test');
    next.files.setStored(fp('new'), [0, '1', '1', '1', []], 'test');
    const d = manifestDelta(m, next)!;
    const base = id('e');
    const stored = openManifest(KEY, await sealBinary({ base, files: next.files, ...d, trees: [] }), 'm');
    assert.equal(stored.base, base);
    assert.deepEqual(stored.trees, []);
    assert.deepEqual(stored.files.toRecord(), {
      [fp('f3')]: next.files.entry(next.files.rowOf(fp('f3'))),
      [fp('new')]: [0, '1', '1', '1', []],
      [fp('f10')]: entry(10),
    });
    assert.deepEqual(stored.removed, Buffer.alloc(0));

    const empty = openManifest(KEY, await sealBinary({ files: new ManifestFiles(), trees: [] }), 'm');
    assert.equal(empty.files.size, 0);
  });

  test('format 1 (JSON) still reads, into the same table', () => {
    const json = {
      base: id('b'),
      files: { [fp('a')]: entry(1), [fp('b')]: entry(2, 'c') },
      removed: [fp('gone')],
      trees: [id('t')],
    };
    assert.ok(validManifestJson(json));
    const stored = openManifest(KEY, sealJson(KEY, 'manifest', json), 'm');
    assert.equal(stored.base, id('b'));
    assert.deepEqual(stored.files.toRecord(), json.files);
    assert.deepEqual(stored.removed, fpBytes('gone'));
    assert.deepEqual(stored.trees, [id('t')]);
  });

  test('format-1 shapes are checked strictly', () => {
    const base = 'ab'.repeat(32);
    assert.ok(validManifestJson({ files: {}, trees: [] }));
    assert.ok(validManifestJson({ base, files: { x: entry(1) }, removed: ['y'], trees: ['t'] }));
    assert.ok(!validManifestJson({ files: {}, trees: [], extra: 1 }), 'unknown field');
    assert.ok(!validManifestJson({ base: '../x', files: {}, trees: [] }), 'base is an id');
    assert.ok(!validManifestJson({ files: {}, removed: ['y'], trees: [] }), 'removed without a base');
    assert.ok(!validManifestJson({ files: { x: [1, '1', '2', '3'] }, trees: [] }), 'short entry');
    assert.ok(!validManifestJson({ files: { x: entry(1) } }), 'no trees');
    assert.ok(!validManifestJson(null));
    assert.throws(() => openManifest(KEY, sealJson(KEY, 'manifest', { files: {}, trees: [], x: 1 }), 'm'), {
      code: 'CORRUPT',
    });
  });

  test('a damaged or forged format-2 manifest is refused as CORRUPT', () => {
    const m = manifest(3);
    const plain = Buffer.concat([...encodeManifest(m)]);
    const at = {
      counts: 24 + 3 * (16 + 8 * 4),
      sizes: 24 + 3 * 16,
    };
    const variants: [string, Buffer][] = [
      ['truncated', plain.subarray(0, plain.length - 1)],
      ['one byte more', Buffer.concat([plain, Buffer.alloc(1)])],
      ['header only', plain.subarray(0, 10)],
      [
        'unknown flag',
        (() => {
          const b = Buffer.from(plain);
          b.writeUInt32LE(2, 4);
          return b;
        })(),
      ],
      [
        'chunk counts that do not add up',
        (() => {
          const b = Buffer.from(plain);
          b.writeUInt32LE(0, at.counts);
          b.writeUInt32LE(2, at.counts + 4);
          b.writeUInt32LE(2, at.counts + 8);
          return b;
        })(),
      ],
      [
        'a size past 2^53',
        (() => {
          const b = Buffer.from(plain);
          b.writeBigUInt64LE(1n << 60n, at.sizes);
          return b;
        })(),
      ],
      [
        'a fingerprint twice',
        (() => {
          const b = Buffer.from(plain);
          b.copy(b, 24 + 16, 24, 24 + 16);
          return b;
        })(),
      ],
      [
        'removed entries without a base',
        (() => {
          const b = Buffer.concat([plain, Buffer.alloc(16)]);
          b.writeUInt32LE(1, 12);
          return b;
        })(),
      ],
    ];
    for (const [what, bytes] of variants)
      assert.throws(() => openManifest(KEY, sealRaw(bytes), 'm'), { code: 'CORRUPT' }, what);
    assert.equal(openManifest(KEY, sealRaw(plain), 'm').files.size, 3, 'the intact bytes read');
  });
});
