import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ArenaRecycler } from './util';

describe('ArenaRecycler', () => {
  test('an arena comes back only when no pack holds it any more', () => {
    const r = new ArenaRecycler(new Set([1024]), 4096);
    const a = new ArrayBuffer(1024);
    r.hold(a); // pack 1
    r.hold(a); // pack 2 (the arena straddles two packs)
    r.release(a);
    assert.deepEqual(r.take(4), []);
    r.release(a);
    assert.deepEqual(r.take(4), [a]);
    assert.deepEqual(r.take(4), [], 'taken once');
  });

  test('arenas no pack took are free at once; other sizes and the pool limit are not kept', () => {
    const r = new ArenaRecycler(new Set([1024]), 2048);
    const held = new ArrayBuffer(1024);
    const unused = new ArrayBuffer(1024);
    const odd = new ArrayBuffer(1000);
    r.hold(held);
    r.settle([new Uint8Array(held), new Uint8Array(unused), new Uint8Array(odd)]);
    assert.deepEqual(r.take(4), [unused]);
    for (let i = 0; i < 3; i++) r.settle([new Uint8Array(new ArrayBuffer(1024))]);
    assert.equal(r.take(4).length, 2, 'no more than 2048 bytes pooled');
  });

  test('take gives arenas of the size asked for', () => {
    const r = new ArenaRecycler(new Set([1024, 4096]), 1 << 20);
    const small = [new ArrayBuffer(1024), new ArrayBuffer(1024)];
    const big = new ArrayBuffer(4096);
    r.settle([new Uint8Array(small[0]!), new Uint8Array(big), new Uint8Array(small[1]!)]);
    assert.deepEqual(r.take(1, 4096), [big]);
    assert.deepEqual(r.take(1, 4096), []);
    assert.equal(r.take(5, 1024).length, 2);
  });
});
