import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BlobType } from './blob';
import { BlobIndex, type IndexedBlob } from './blob-index';

describe('blob index', () => {
  test('hasAt answers as has() does, for an id anywhere in a buffer', () => {
    const index = new BlobIndex();
    const ids = Array.from({ length: 3000 }, () => randomBytes(32));
    for (const [i, id] of ids.entries()) {
      index.add(id, { type: BlobType.Data, pack: `p${i % 7}`, offset: i, length: 10, rawLength: 10 }, 'eph');
    }
    // The ids side by side after 3 bytes of something else, as in a pool of ids.
    const pool = Buffer.concat([Buffer.from([1, 2, 3]), ...ids]);
    for (let i = 0; i < ids.length; i++) assert.equal(index.hasAt(pool, 3 + i * 32), true);
    const unknown = randomBytes(32);
    assert.equal(index.hasAt(Buffer.concat([pool, unknown]), pool.length), false);
    assert.equal(index.hasAt(pool, 4), index.has(pool.subarray(4, 36)), 'an id shifted by one byte');
    assert.equal(index.has(pool.subarray(4, 36)), false);
    // A failed lookup leaves nothing behind for the next one.
    assert.equal(index.hasAt(pool, 3 + 5 * 32), true);
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
