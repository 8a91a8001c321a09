import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BlobType } from './blob';
import { BlobIndex } from './blob-index';

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
});
