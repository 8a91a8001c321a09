import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ArenaRecycler, BufferPool, freeNow } from './util';

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
    assert.equal(odd.detached, true, 'a size not pooled is freed at once, not left to the GC');
  });

  test('arenas of a size no job asked for in 16 requests are freed (the large files are over)', () => {
    const r = new ArenaRecycler(new Set([1024, 4096]), 1 << 20);
    const step = new ArrayBuffer(4096);
    const small = new ArrayBuffer(1024);
    assert.deepEqual(r.take(1, 4096), []);
    r.settle([new Uint8Array(step), new Uint8Array(small)]);
    for (let i = 0; i < 16; i++) assert.deepEqual(r.take(0, 1024), []);
    assert.equal(step.detached, false, 'still within 16 requests');
    r.take(0, 1024);
    assert.equal(step.detached, true);
    assert.deepEqual(r.take(1, 4096), []);
    assert.deepEqual(r.take(1, 1024), [small], 'the size in use stays pooled');
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

describe('freeNow', () => {
  test('detaches a buffer (its memory goes back at once) and leaves what it cannot free alone', () => {
    const ab = new ArrayBuffer(1 << 20);
    const view = new Uint8Array(ab);
    freeNow(ab);
    assert.equal(ab.detached, true);
    assert.equal(view.length, 0, 'views read as empty');
    assert.doesNotThrow(() => freeNow(ab), 'twice is harmless');
    const shared = new SharedArrayBuffer(16);
    assert.doesNotThrow(() => freeNow(shared));
    assert.equal(new Uint8Array(shared).length, 16, 'shared memory is not ours to free');
  });

  test('a buffer pool frees what it does not keep', () => {
    const pool = new BufferPool(64 * 1024);
    const a = pool.borrow(1000);
    const b = pool.borrow(1000);
    pool.release(a);
    pool.release(b);
    assert.equal(a.buffer.byteLength, 64 * 1024, 'kept');
    assert.equal((b.buffer as ArrayBuffer).detached, true, 'over the limit: freed');
    const shared = Buffer.from('a slice of the shared pool');
    pool.release(shared);
    assert.equal(shared.toString(), 'a slice of the shared pool', 'not of a size class: left alone');
  });
});
