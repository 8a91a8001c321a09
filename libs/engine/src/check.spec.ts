import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';

import { packSlice } from './check';

describe('check slices', () => {
  it('N consecutive slices cover every pack exactly once', () => {
    const ids = Array.from({ length: 500 }, () => randomBytes(32).toString('hex'));
    for (const n of [1, 2, 3, 10, 34, 100]) {
      const seen = new Map<string, number>();
      for (let k = 0; k < n; k++)
        for (const id of ids.filter((i) => packSlice(i, n) === k)) seen.set(id, (seen.get(id) ?? 0) + 1);
      assert.equal(seen.size, ids.length, `count ${n}: every pack is in a slice`);
      assert.ok(
        [...seen.values()].every((c) => c === 1),
        `count ${n}: no pack is in two slices`,
      );
    }
  });

  it('a pack stays in its slice (a rotation reads what it has not read)', () => {
    const id = randomBytes(32).toString('hex');
    assert.equal(packSlice(id, 7), packSlice(id, 7));
    assert.ok(packSlice(id, 7) >= 0 && packSlice(id, 7) < 7);
  });
});
