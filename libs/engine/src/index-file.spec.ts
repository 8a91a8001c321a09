import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BlobType } from './blob';
import { BlobIndex, type IndexedBlob, type IndexedPack } from './blob-index';
import { decodeIndex, encodeIndex, indexColumns, indexPacks } from './index-file';

const hex = () => randomBytes(32).toString('hex');
const eph = () => randomBytes(32).toString('base64');

function packs(shape: number[]): IndexedPack[] {
  return shape.map((n) => ({
    id: hex(),
    eph: eph(),
    blobs: Array.from({ length: n }, (_, i) => [
      i % 3 === 0 ? BlobType.Tree : BlobType.Data,
      hex(),
      i * 1000,
      999 + (i % 7),
      0xffff_ffff - i,
    ]),
  }));
}

const encoded = (p: IndexedPack[]) => Buffer.concat([...encodeIndex(indexColumns(p))]);

function assertCorrupt(fn: () => unknown, message: RegExp) {
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'CORRUPT', `${err.message} is CORRUPT`);
    assert.match(err.message, message);
    return true;
  });
}

describe('index file', () => {
  test('format 2 round-trips: packs → columns → bytes → columns → packs', () => {
    for (const shape of [[], [0], [1], [5, 0, 3000, 1]]) {
      const before = packs(shape);
      const bytes = encoded(before);
      assert.equal(bytes.subarray(0, 4).toString('latin1'), 'VLI\x02');
      const blobs = shape.reduce((a, b) => a + b, 0);
      assert.equal(bytes.length, 12 + shape.length * 68 + blobs * 45);
      assert.deepEqual(indexPacks(decodeIndex(bytes, 'index/x')), before);
    }
  });

  test('format 1 (JSON) still reads, to the same packs', () => {
    const before = packs([4, 2]);
    const json = Buffer.from(JSON.stringify({ packs: before }));
    assert.deepEqual(indexPacks(decodeIndex(json, 'index/x')), before);
    assert.deepEqual(decodeIndex(json, 'index/x'), decodeIndex(encoded(before), 'index/x'));
  });

  test('a BlobIndex built from columns equals one built pack by pack; the first location wins across files', () => {
    const a = packs([300, 200]);
    const b = packs([100]);
    // b's pack repeats 50 of a's blobs at other offsets: they keep a's location.
    b[0]!.blobs.push(...a[1]!.blobs.slice(0, 50).map(([t, id]): IndexedBlob => [t, id, 7, 8, 9]));
    const byColumns = new BlobIndex();
    for (const file of [a, b]) byColumns.addColumns(decodeIndex(encoded(file), 'index/x'));
    const byPack = new BlobIndex();
    for (const p of [...a, ...b]) byPack.addPack(p);
    assert.equal(byColumns.size, 600);
    assert.equal(byColumns.size, byPack.size);
    for (const p of [...a, ...b]) {
      for (const [, id] of p.blobs) {
        const raw = Buffer.from(id, 'hex');
        assert.deepEqual(byColumns.get(raw), byPack.get(raw));
      }
    }
    const repeated = Buffer.from(a[1]!.blobs[10]![1], 'hex');
    assert.equal(byColumns.get(repeated)?.pack, a[1]!.id);
    assert.equal(byColumns.get(repeated)?.offset, 10_000);
  });

  test('a damaged or forged format-2 file is CORRUPT, never a short or shifted index', () => {
    const good = encoded(packs([3, 2]));
    assertCorrupt(() => decodeIndex(good.subarray(0, 10), 'index/t'), /index\/t .*truncated/);
    assertCorrupt(
      () => decodeIndex(good.subarray(0, good.length - 1), 'index/t'),
      /bytes where its counts make/,
    );
    assertCorrupt(() => decodeIndex(Buffer.concat([good, Buffer.alloc(1)]), 'index/t'), /bytes where/);
    // More blobs claimed (and bytes to match) than the packs' counts add up to.
    const claimed = Buffer.concat([good, Buffer.alloc(45)]);
    claimed.writeUInt32LE(6, 8);
    assertCorrupt(() => decodeIndex(claimed, 'index/t'), /counts do not add up/);
    // One pack's count raised: the counts no longer add up to the blobs there are.
    const shifted = Buffer.from(good);
    shifted.writeUInt32LE(4, 12 + 64);
    assertCorrupt(() => decodeIndex(shifted, 'index/t'), /counts do not add up/);
    const typed = Buffer.from(good);
    typed[12 + 2 * 68 + 1] = 7;
    assertCorrupt(() => decodeIndex(typed, 'index/t'), /unknown type/);
    // A huge claimed count is refused before anything is allocated for it.
    const huge = Buffer.from(good);
    huge.writeUInt32LE(0xffff_ffff, 8);
    assertCorrupt(() => decodeIndex(huge, 'index/t'), /bytes where/);
  });

  test('a format-1 file with unknown fields or invalid values is CORRUPT', () => {
    const valid = { id: hex(), eph: eph(), blobs: [[BlobType.Data, hex(), 0, 10, 12]] };
    const cases: [unknown, RegExp][] = [
      [{ packs: [valid], extra: 1 }, /not a valid index file/],
      [{ packs: [{ ...valid, note: 'x' }] }, /not a valid index file/],
      [{ packs: [{ ...valid, id: valid.id.toUpperCase() }] }, /not a valid index file/],
      [{ packs: [{ ...valid, eph: 'short' }] }, /not a valid index file/],
      [{ packs: [{ ...valid, blobs: [[0, hex(), 0, 10]] }] }, /not a valid index file/],
      [{ packs: [{ ...valid, blobs: [[0, hex(), 0, 10, 12, 1]] }] }, /not a valid index file/],
      [{ packs: [{ ...valid, blobs: [[2, hex(), 0, 10, 12]] }] }, /unknown type/],
      [{ packs: [{ ...valid, blobs: [[0, 'ab', 0, 10, 12]] }] }, /invalid blob id/],
      [{ packs: [{ ...valid, blobs: [[0, hex(), -1, 10, 12]] }] }, /invalid offset or length/],
      [{ packs: [{ ...valid, blobs: [[0, hex(), 0, 1.5, 12]] }] }, /invalid offset or length/],
      [{ packs: [{ ...valid, blobs: [[0, hex(), 0, 10, 2 ** 32]] }] }, /invalid offset or length/],
      [{ packs: [{ ...valid, blobs: [[0, hex(), '0', 10, 12]] }] }, /invalid offset or length/],
      [{ packs: {} }, /not a valid index file/],
      [[], /not a valid index file/],
    ];
    for (const [body, message] of cases) {
      assertCorrupt(() => decodeIndex(Buffer.from(JSON.stringify(body)), 'index/j'), message);
    }
    assertCorrupt(() => decodeIndex(Buffer.from('{"packs": ['), 'index/j'), /index\/j is not valid/);
    assertCorrupt(() => decodeIndex(Buffer.from([0xff, 0xfe, 0x00]), 'index/j'), /index\/j is not valid/);
  });
});
