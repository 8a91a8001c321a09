import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  manifestDelta,
  sameManifests,
  validStoredManifest,
  type Manifest,
  type ManifestFile,
} from './manifest';

const entry = (size: number, chunk = 'aa'): ManifestFile => [size, '1', '2', '3', [chunk]];

function manifest(n: number): Manifest {
  const files: Record<string, ManifestFile> = {};
  for (let i = 0; i < n; i++) files[`fp${i}`] = entry(i);
  return { files, trees: ['t1', 't2'] };
}

describe('manifest deltas', () => {
  test('a delta holds exactly the new and changed entries and the removed fingerprints', () => {
    const parent = manifest(100);
    const next = manifest(100);
    next.files.fp3 = entry(3, 'bb');
    delete next.files.fp7;
    next.files.added = entry(1);
    assert.deepEqual(manifestDelta(parent, next), {
      files: { fp3: entry(3, 'bb'), added: entry(1) },
      removed: ['fp7'],
    });
  });

  test('no delta when a quarter of the files or more changed', () => {
    const parent = manifest(8);
    const next = manifest(8);
    next.files.fp0 = entry(9);
    assert.ok(manifestDelta(parent, next), 'one of eight');
    next.files.fp1 = entry(9);
    next.files.fp2 = entry(9);
    assert.equal(manifestDelta(parent, next), null, 'three of eight');
  });

  test('sameManifests ignores key order, not content', () => {
    const a = manifest(3);
    const b: Manifest = { files: { fp2: entry(2), fp0: entry(0), fp1: entry(1) }, trees: ['t1', 't2'] };
    assert.ok(sameManifests(a, b));
    b.files.fp1 = entry(1, 'cc');
    assert.ok(!sameManifests(a, b));
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
