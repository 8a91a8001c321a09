import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BlobType } from './blob';
import { BlobIndex, type IndexedBlob } from './blob-index';

describe('blob index', () => {
  test('hasHex answers as has() does, and no for what is no id', () => {
    const index = new BlobIndex();
    const ids = Array.from({ length: 3000 }, () => randomBytes(32));
    for (const [i, id] of ids.entries()) {
      index.add(id, { type: BlobType.Data, pack: `p${i % 7}`, offset: i, length: 10, rawLength: 10 }, 'eph');
    }
    for (const id of ids) {
      assert.equal(index.hasHex(id.toString('hex')), true);
      assert.equal(
        index.hasHex(id.toString('hex').toUpperCase()),
        index.has(Buffer.from(id.toString('hex').toUpperCase(), 'hex')),
      );
    }
    const unknown = randomBytes(32).toString('hex');
    assert.equal(index.hasHex(unknown), false);
    const known = ids[5]!.toString('hex');
    assert.equal(index.hasHex(known.slice(0, 62)), false, 'too short');
    assert.equal(index.hasHex(`${known}00`), false, 'too long');
    assert.equal(index.hasHex(`${known.slice(0, 60)}zz${known.slice(62)}`), false, 'not hex');
    // A failed lookup leaves nothing behind for the next one.
    assert.equal(index.hasHex(known), true);
  });

  test('addPack: the same entries as add() for each blob; the first location wins; bad ids are corrupt', () => {
    const ids = Array.from({ length: 5000 }, () => randomBytes(32));
    const blobs = (from: number, to: number): IndexedBlob[] =>
      ids.slice(from, to).map((id, i) => [BlobType.Data, id.toString('hex'), i * 10, 10, 12]);
    const byPack = new BlobIndex();
    byPack.addPack({ id: 'p1', eph: 'e1', blobs: blobs(0, 3000) });
    // Overlaps the first pack: those ids keep their p1 location.
    byPack.addPack({ id: 'p2', eph: 'e2', blobs: blobs(2000, 5000) });
    const oneByOne = new BlobIndex();
    for (const [pack, eph, list] of [
      ['p1', 'e1', blobs(0, 3000)],
      ['p2', 'e2', blobs(2000, 5000)],
    ] as const) {
      for (const [type, hex, offset, length, rawLength] of list) {
        oneByOne.add(Buffer.from(hex, 'hex'), { type, pack, offset, length, rawLength }, eph);
      }
    }
    assert.equal(byPack.size, 5000);
    assert.deepEqual([...byPack.entries()], [...oneByOne.entries()]);
    assert.deepEqual(byPack.get(ids[2500]!), {
      type: BlobType.Data,
      pack: 'p1',
      offset: 25000,
      length: 10,
      rawLength: 12,
    });
    assert.equal(byPack.pack('p2')?.eph, 'e2');
    for (const bad of ['zz'.repeat(32), 'ab'.repeat(31), 'ab'.repeat(33)]) {
      assert.throws(() => byPack.addPack({ id: 'p3', eph: 'e3', blobs: [[BlobType.Data, bad, 0, 1, 1]] }), {
        code: 'CORRUPT',
      });
    }
    assert.equal(byPack.size, 5000, 'nothing of a bad entry was added');
  });
});
