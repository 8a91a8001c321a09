import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { Chunker, DEFAULT_CHUNKER, validateChunkerParams } from './chunker';

const SMALL = { min: 2048, avg: 8192, max: 65536 };

function noise(seed: number, n: number): Buffer {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(n));
}

function boundaries(lengths: number[]): number[] {
  let pos = 0;
  return lengths.map((l) => (pos += l));
}

test('chunks cover the input exactly and respect min/max', () => {
  const c = new Chunker(SMALL, randomBytes(32));
  const data = noise(1, 2_000_000);
  const lengths = c.split(data);
  assert.equal(
    lengths.reduce((a, b) => a + b, 0),
    data.length,
  );
  lengths.slice(0, -1).forEach((l) => assert.ok(l >= SMALL.min && l <= SMALL.max, `chunk of ${l}`));
  const mean = data.length / lengths.length;
  assert.ok(mean > SMALL.avg * 0.6 && mean < SMALL.avg * 1.6, `mean ${mean} near ${SMALL.avg}`);
});

test('an insertion near the start moves only the boundaries next to it', () => {
  const c = new Chunker(SMALL, Buffer.alloc(32, 7));
  const data = noise(2, 1_000_000);
  const edited = Buffer.concat([data.subarray(0, 1000), Buffer.from('inserted bytes!'), data.subarray(1000)]);
  const before = new Set(boundaries(c.split(data)));
  const after = boundaries(c.split(edited)).map((b) => b - 15);
  const shared = after.filter((b) => before.has(b)).length;
  assert.ok(shared >= before.size - 2, `${shared} of ${before.size} boundaries survive`);
});

test('in-place edits leave distant chunks identical', () => {
  const c = new Chunker(SMALL, Buffer.alloc(32, 9));
  const data = noise(3, 1_000_000);
  const edited = Buffer.from(data);
  edited.fill(0xaa, 500_000, 504_096);
  const a = boundaries(c.split(data));
  const b = new Set(boundaries(c.split(edited)));
  const kept = a.filter((x) => b.has(x)).length;
  assert.ok(kept >= a.length - 3, `${kept} of ${a.length} boundaries kept`);
});

test('the gear table is keyed: another repository secret cuts elsewhere', () => {
  const data = noise(4, 500_000);
  const a = new Chunker(SMALL, Buffer.alloc(32, 1)).split(data);
  const b = new Chunker(SMALL, Buffer.alloc(32, 2)).split(data);
  assert.notDeepEqual(a, b);
  assert.deepEqual(a, new Chunker(SMALL, Buffer.alloc(32, 1)).split(data), 'deterministic for one key');
});

test('data shorter than min is one chunk; empty input yields none', () => {
  const c = new Chunker(DEFAULT_CHUNKER, Buffer.alloc(32));
  assert.deepEqual(c.split(Buffer.alloc(1000)), [1000]);
  assert.deepEqual(c.split(Buffer.alloc(0)), []);
});

test('invalid parameters are refused with a clear error', () => {
  assert.throws(
    () => validateChunkerParams({ min: 10, avg: 8192, max: 65536 }),
    /invalid chunker parameters/,
  );
  assert.throws(() => validateChunkerParams({ min: 2048, avg: 9000, max: 65536 }), /power of two/);
  assert.throws(() => validateChunkerParams({ min: 2048, avg: 8192, max: 4096 }), /invalid chunker/);
});
