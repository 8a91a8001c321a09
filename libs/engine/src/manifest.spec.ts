import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ManifestFiles,
  manifestDelta,
  sameManifests,
  storedManifestJson,
  validStoredManifest,
  type Manifest,
  type ManifestFile,
  type StoredManifest,
} from './manifest';

const id = (c: string): string => c.repeat(64);
const entry = (size: number, chunk = 'a'): ManifestFile => [size, '1', '2', '3', [id(chunk)]];

function manifest(n: number): Manifest {
  const files = new ManifestFiles();
  for (let i = 0; i < n; i++) files.setStored(`fp${i}`, entry(i), 'test');
  return { files, trees: ['t1', 't2'] };
}

describe('manifest deltas', () => {
  test('a delta holds exactly the new and changed entries and the removed fingerprints', () => {
    const parent = manifest(100);
    const next = manifest(100);
    next.files.setStored('fp3', entry(3, 'b'), 'test');
    next.files.delete('fp7');
    next.files.setStored('added', entry(1), 'test');
    assert.deepEqual(manifestDelta(parent, next), {
      files: { fp3: entry(3, 'b'), added: entry(1) },
      removed: ['fp7'],
    });
  });

  test('no delta when a quarter of the files or more changed', () => {
    const parent = manifest(8);
    const next = manifest(8);
    next.files.setStored('fp0', entry(9), 'test');
    assert.ok(manifestDelta(parent, next), 'one of eight');
    next.files.setStored('fp1', entry(9), 'test');
    next.files.setStored('fp2', entry(9), 'test');
    assert.equal(manifestDelta(parent, next), null, 'three of eight');
    const fewer = manifest(8);
    for (const fp of ['fp0', 'fp1', 'fp2']) fewer.files.delete(fp);
    assert.equal(manifestDelta(parent, fewer), null, 'three of eight removed');
  });

  test('sameManifests ignores the order entries were set in, not content', () => {
    const a = manifest(3);
    const files = new ManifestFiles();
    for (const i of [2, 0, 1]) files.setStored(`fp${i}`, entry(i), 'test');
    const b: Manifest = { files, trees: ['t1', 't2'] };
    assert.ok(sameManifests(a, b));
    b.files.setStored('fp1', entry(1, 'c'), 'test');
    assert.ok(!sameManifests(a, b));
    b.files.setStored('fp1', [1, '1', '2', '4', [id('a')]], 'test');
    assert.ok(!sameManifests(a, b), 'another inode');
    b.files.setStored('fp1', entry(1), 'test');
    assert.ok(sameManifests(a, b), 'replaced back');
    assert.ok(!sameManifests(a, { ...manifest(3), trees: ['t2', 't1'] }));
  });

  test('stored manifests are checked strictly', () => {
    const base = 'ab'.repeat(32);
    assert.ok(validStoredManifest({ files: {}, trees: [] }));
    assert.ok(validStoredManifest({ base, files: { x: entry(1) }, removed: ['y'], trees: ['t'] }));
    assert.ok(!validStoredManifest({ files: {}, trees: [], extra: 1 }), 'unknown field');
    assert.ok(!validStoredManifest({ base: '../x', files: {}, trees: [] }), 'base is an id');
    assert.ok(!validStoredManifest({ files: {}, removed: ['y'], trees: [] }), 'removed without a base');
    assert.ok(!validStoredManifest({ files: { x: [1, '1', '2', '3'] }, trees: [] }), 'short entry');
    assert.ok(!validStoredManifest({ files: { x: entry(1) } }), 'no trees');
    assert.ok(!validStoredManifest(null));
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
    t.setStored('big', big, 'test');
    t.setStored('many', many, 'test');
    assert.deepEqual(t.toRecord(), { big, many });
    assert.equal(t.size, 2);
    const row = t.row('many');
    assert.equal(t.mtime(row), 1733000000123456789n);
    assert.deepEqual(t.chunkHex(row), many[4]);
    assert.equal(t.row('none'), -1);
    // A copy within the table while it grows keeps the bytes.
    for (let i = 0; i < 600; i++) t.copy(`c${i}`, t, row);
    assert.deepEqual(t.entry(t.row('c599')), many);
    assert.equal(t.size, 602);
  });

  test('chunksIn asks the index about every chunk, at its place in the pool', () => {
    const t = new ManifestFiles();
    const row = t.setStored('f', [1, '1', '1', '1', [id('a'), id('b')]], 'test');
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

  test('values a manifest never holds are refused, not wrapped', () => {
    const t = new ManifestFiles();
    const bad: [string, ManifestFile][] = [
      ['size', [-1, '1', '1', '1', []]],
      ['fraction', [1.5, '1', '1', '1', []]],
      ['hex time', [1, '0x10', '1', '1', []]],
      ['minus alone', [1, '-', '1', '1', []]],
      ['21 digits', [1, '1'.repeat(21), '1', '1', []]],
      ['space', [1, ' 1', '1', '1', []]],
      ['empty', [1, '', '1', '1', []]],
      ['past int64', [1, '9223372036854775808', '1', '1', []]],
      ['negative inode', [1, '1', '1', '-1', []]],
      ['past uint64', [1, '1', '1', '18446744073709551616', []]],
      ['short id', [1, '1', '1', '1', ['ab']]],
      ['not hex', [1, '1', '1', '1', ['a'.repeat(62) + 'g0']]],
      ['long id', [1, '1', '1', '1', ['a'.repeat(66)]]],
    ];
    for (const [what, f] of bad)
      assert.throws(() => t.setStored('x', f, 'manifest m'), { code: 'CORRUPT' }, what);
    assert.equal(t.size, 0);
  });
});

describe('storedManifestJson', () => {
  test('writes what JSON.stringify writes, in pieces, for tables and plain objects', () => {
    const m = manifest(500);
    const whole = JSON.stringify({ files: m.files.toRecord(), trees: m.trees });
    const pieces = [...storedManifestJson(m, 1000)];
    assert.ok(pieces.length > 10, `${pieces.length} pieces`);
    assert.equal(pieces.join(''), whole);
    const delta: StoredManifest = {
      base: 'ab'.repeat(32),
      files: { 'a"b\\': entry(1) },
      removed: Array.from({ length: 300 }, (_, i) => `r${i}`),
      trees: ['t'],
    };
    assert.equal([...storedManifestJson(delta, 100)].join(''), JSON.stringify(delta));
    const empty: StoredManifest = { files: {}, trees: [] };
    assert.equal([...storedManifestJson(empty)].join(''), JSON.stringify(empty));
  });
});
