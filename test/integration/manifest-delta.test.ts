/**
 * Manifests stored as deltas of their parent's (snapshot format 3): what a backup stores, how
 * long chains get, and that forget, prune and check keep every base a remaining snapshot needs;
 * and manifests of format 1 (JSON, test/fixtures/repo-v3) beside format 2 (binary columns).
 * Real repositories on a real filesystem, real worker threads.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, mkdirSync, readFileSync, readlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FsBackend } from '@vaultline/storage';
import {
  Lock,
  MAX_MANIFEST_CHAIN,
  ManifestFiles,
  Repository,
  backup,
  check,
  contentName,
  encodeManifest,
  forget,
  loadManifest,
  loadManifestChain,
  prune,
  restore,
  sealCompressed,
  sealJson,
  type SnapshotInfo,
} from '@vaultline/engine';
import { assertSameTree, initFsRepo, snapshotOf, tempDir } from '../support/fixtures';

function manyFiles(dir: string, n: number): void {
  for (let i = 0; i < n; i++) {
    mkdirSync(join(dir, `d${i % 8}`), { recursive: true });
    writeFileSync(join(dir, `d${i % 8}`, `f${i}.txt`), `file ${i}\n`.repeat(20));
  }
}

async function manifestNames(repo: Repository): Promise<string[]> {
  return (await repo.listNames('manifests/')).map((n) => n.slice('manifests/'.length)).sort();
}

async function storedSize(repo: Repository, id: string): Promise<number> {
  return (await repo.backend.get(`manifests/${id}`)).length;
}

function snapshotVersion(dir: string, s: SnapshotInfo): number {
  return (JSON.parse(readFileSync(join(dir, 'snapshots', s.id), 'utf8')) as { v: number }).v;
}

describe('manifests stored as deltas', () => {
  test('a small change stores a small delta; restores, diffs and check see the whole manifest', async () => {
    const t = tempDir('mdelta');
    try {
      const src = join(t.path, 'src');
      manyFiles(src, 400);
      const dir = join(t.path, 'repo');
      const repo = await initFsRepo(dir);
      const first = (await backup(repo, { source: src, service: 's' })).snapshot;
      assert.equal(first.manifestBases, undefined);
      assert.equal(
        snapshotVersion(dir, first),
        4,
        'format-2 manifests: versions reading at most 3 refuse it',
      );

      writeFileSync(join(src, 'd1', 'f1.txt'), 'changed\n');
      unlinkSync(join(src, 'd2', 'f2.txt'));
      writeFileSync(join(src, 'd3', 'new.txt'), 'new\n');
      const second = (await backup(repo, { source: src, service: 's' })).snapshot;
      assert.deepEqual(second.manifestBases, [first.manifest]);
      assert.equal(snapshotVersion(dir, second), 4);
      const whole = await storedSize(repo, first.manifest);
      const delta = await storedSize(repo, second.manifest);
      assert.ok(delta * 5 < whole, `delta ${delta} B vs whole ${whole} B`);

      // Resolved, the delta is exactly the manifest of the tree as it is now.
      const resolved = await loadManifest(repo, second.manifest);
      assert.equal(resolved.files.size, 400);
      const out = join(t.path, 'out');
      await restore(repo, { snapshot: second.id, target: out });
      assertSameTree(snapshotOf(out), snapshotOf(src));
      assert.deepEqual((await check(repo)).errors, []);

      // A third backup with no change shares the delta and its bases.
      const third = (await backup(repo, { source: src, service: 's' })).snapshot;
      assert.equal(third.manifest, second.manifest);
      assert.deepEqual(third.manifestBases, second.manifestBases);
      assert.equal(third.stats.bytesRead, 0);
    } finally {
      t.cleanup();
    }
  });

  test(`chains stop at ${MAX_MANIFEST_CHAIN} bases; a change to most files stores a whole manifest`, async () => {
    const t = tempDir('mchain');
    try {
      const src = join(t.path, 'src');
      manyFiles(src, 40);
      const repo = await initFsRepo(join(t.path, 'repo'));
      let last = (await backup(repo, { source: src, service: 's' })).snapshot;
      const lengths: number[] = [];
      for (let i = 0; i < MAX_MANIFEST_CHAIN + 2; i++) {
        writeFileSync(join(src, 'd0', 'f0.txt'), `generation ${i}\n`);
        last = (await backup(repo, { source: src, service: 's' })).snapshot;
        lengths.push(last.manifestBases?.length ?? 0);
      }
      assert.deepEqual(
        lengths,
        [...Array.from({ length: MAX_MANIFEST_CHAIN }, (_, i) => i + 1), 0, 1],
        'grows to the limit, then starts again from a whole manifest',
      );

      for (let i = 0; i < 40; i++) writeFileSync(join(src, `d${i % 8}`, `f${i}.txt`), `rewritten ${i}\n`);
      const rewritten = (await backup(repo, { source: src, service: 's' })).snapshot;
      assert.equal(rewritten.manifestBases, undefined, 'every file changed: a delta would save nothing');
      assert.deepEqual((await check(repo)).errors, []);
    } finally {
      t.cleanup();
    }
  });

  test('forget keeps the bases remaining snapshots need; prune and check agree; forgetting all frees them', async () => {
    const t = tempDir('mforget');
    try {
      const src = join(t.path, 'src');
      manyFiles(src, 100);
      const repo = await initFsRepo(join(t.path, 'repo'));
      const snaps: SnapshotInfo[] = [];
      for (let i = 0; i < 4; i++) {
        writeFileSync(join(src, 'd0', 'f0.txt'), `generation ${i}\n`);
        snaps.push((await backup(repo, { source: src, service: 's' })).snapshot);
      }
      assert.deepEqual(snaps[3]!.manifestBases, [snaps[2]!.manifest, snaps[1]!.manifest, snaps[0]!.manifest]);

      // Keep only the newest: the three manifests it builds on stay.
      await forget(repo, { policy: { keepLast: 1 }, service: 's' });
      assert.deepEqual(
        (await repo.listSnapshots()).map((s) => s.id),
        [snaps[3]!.id],
      );
      assert.deepEqual(await manifestNames(repo), snaps.map((s) => s.manifest).sort());
      await prune(repo, { safetyMarginMs: 0 });
      assert.deepEqual(
        await manifestNames(repo),
        snaps.map((s) => s.manifest).sort(),
        'prune keeps bases too',
      );
      assert.deepEqual((await check(repo, { readData: 100 })).errors, []);
      const out = join(t.path, 'out');
      await restore(repo, { snapshot: 'latest', target: out, verify: true });
      assertSameTree(snapshotOf(out), snapshotOf(src));

      // The next backup builds on the remaining chain.
      writeFileSync(join(src, 'd0', 'f0.txt'), 'generation 4\n');
      const next = (await backup(repo, { source: src, service: 's' })).snapshot;
      assert.deepEqual(next.manifestBases, [snaps[3]!.manifest, ...snaps[3]!.manifestBases]);

      await forget(repo, { all: true, service: 's' });
      assert.deepEqual(await manifestNames(repo), []);
    } finally {
      t.cleanup();
    }
  });

  test('forget leaves manifests to prune while a backup runs (it may be writing a delta of one)', async () => {
    const t = tempDir('mrace');
    try {
      const src = join(t.path, 'src');
      manyFiles(src, 20);
      const repo = await initFsRepo(join(t.path, 'repo'));
      const first = (await backup(repo, { source: src, service: 's' })).snapshot;
      const running = await Lock.acquire(repo.backend, 'shared', 'backup');
      try {
        await forget(repo, { all: true, service: 's' });
      } finally {
        await running.release();
      }
      assert.deepEqual(await repo.listSnapshots(), []);
      assert.deepEqual(await manifestNames(repo), [first.manifest], 'kept while the backup ran');
      const result = await prune(repo, { safetyMarginMs: 0 });
      assert.equal(result.orphanManifestsDeleted, 1);
      assert.deepEqual(await manifestNames(repo), []);
    } finally {
      t.cleanup();
    }
  });

  test('a missing or malformed base is reported, not read around', async () => {
    const t = tempDir('mbroken');
    try {
      const src = join(t.path, 'src');
      manyFiles(src, 40);
      const dir = join(t.path, 'repo');
      const repo = await initFsRepo(dir);
      const first = (await backup(repo, { source: src, service: 's' })).snapshot;
      writeFileSync(join(src, 'd0', 'f0.txt'), 'changed\n');
      const second = (await backup(repo, { source: src, service: 's' })).snapshot;
      unlinkSync(join(dir, 'manifests', first.manifest));
      await assert.rejects(loadManifest(repo, second.manifest), {
        code: 'CORRUPT',
        message: new RegExp(`base manifest ${first.manifest.slice(0, 8)} is missing`),
      });
      const c = await check(repo);
      assert.ok(
        c.errors.some((e) => /base manifest .* is missing/.test(e)),
        c.errors.join('\n'),
      );
      // The next backup does not build on the broken chain: it reads everything, stores a whole
      // manifest, and later ones build on that.
      const healed = (await backup(repo, { source: src, service: 's' })).snapshot;
      assert.equal(healed.parent, null);
      assert.equal(healed.manifestBases, undefined);
      assert.equal(healed.stats.filesNew, 40);
      const out = join(t.path, 'out');
      await restore(repo, { snapshot: healed.id, target: out });
      assertSameTree(snapshotOf(out), snapshotOf(src));
    } finally {
      t.cleanup();
    }
  });

  test('a format-2 delta on a format-1 base resolves (a repository written before format 2 goes on)', async () => {
    const t = tempDir('mformats');
    try {
      const repo = await initFsRepo(join(t.path, 'repo'));
      const fp = (name: string): string =>
        createHash('sha256').update(name).digest().subarray(0, 16).toString('base64url');
      const hex = (c: string) => c.repeat(64);
      const json = {
        files: { [fp('a')]: [1, '10', '11', '12', [hex('a')]], [fp('b')]: [2, '20', '21', '22', [hex('b')]] },
        trees: [hex('1')],
      };
      const baseBytes = sealJson(repo.keys.metaKey, 'manifest', json);
      const base = contentName('manifests', baseBytes);
      await repo.backend.put(base.name, baseBytes);
      const next = new ManifestFiles();
      next.setStored(fp('a'), [3, '30', '31', '32', [hex('c'), hex('d')]], 'test');
      next.setStored(fp('new'), [0, '1', '1', '1', []], 'test');
      const deltaBytes = await sealCompressed(
        repo.keys.metaKey,
        'manifest',
        encodeManifest({
          base: base.id,
          files: next,
          removed: Buffer.from(fp('b'), 'base64url'),
          trees: [hex('2')],
        }),
      );
      const delta = contentName('manifests', deltaBytes);
      await repo.backend.put(delta.name, deltaBytes);
      const { manifest, bases } = await loadManifestChain(repo, delta.id);
      assert.deepEqual(bases, [base.id]);
      assert.deepEqual(manifest.trees, [hex('2')]);
      assert.deepEqual(manifest.files.toRecord(), {
        [fp('a')]: [3, '30', '31', '32', [hex('c'), hex('d')]],
        [fp('new')]: [0, '1', '1', '1', []],
      });
      // The base read alone is unchanged by the delta applied on top of it.
      assert.deepEqual((await loadManifest(repo, base.id)).files.toRecord(), json.files);
    } finally {
      t.cleanup();
    }
  });

  test('a repository written with JSON manifests (test/fixtures/repo-v3) checks, restores, is built on and pruned', async () => {
    const t = tempDir('repo-v3');
    try {
      const dir = join(t.path, 'repo');
      cpSync(resolve(__dirname, '../../../test/fixtures/repo-v3'), dir, { recursive: true });
      mkdirSync(join(dir, 'locks'), { recursive: true });
      const repo = await Repository.open(await FsBackend.open(dir), { password: 'fixture-password' });
      const [second, first] = await repo.listSnapshots();
      assert.deepEqual([first!.manifestBases, second!.manifestBases], [undefined, [first!.manifest]]);
      assert.deepEqual([snapshotVersion(dir, first!), snapshotVersion(dir, second!)], [2, 3]);
      assert.deepEqual((await check(repo, { readData: 100 })).errors, []);
      const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

      const outs: string[] = [];
      for (const [s, f1] of [
        [first!, 'file 1\n'],
        [second!, 'changed\n'],
      ] as const) {
        const out = join(t.path, `out-${s.id.slice(0, 8)}`);
        await restore(repo, { snapshot: s.id, target: out, verify: true });
        assert.equal(readFileSync(join(out, 'docs/f1.txt'), 'utf8'), f1);
        assert.equal(readFileSync(join(out, 'docs/f40.txt'), 'utf8'), 'file 40\n');
        assert.equal(
          sha(join(out, 'hello.txt')),
          '87a6d43e105d5308c8d7ff5156a0db76cf07f80225695cdb6d8e61bfb75cdbbb',
        );
        assert.equal(
          sha(join(out, 'docs/random.bin')),
          '3542653133e446bb00e916d70d4f4b51cd853326893911b95c49441d7d17a675',
        );
        assert.equal(
          sha(join(out, 'docs/deep/numbers.txt')),
          'f6351f5ead9a700e34275480b3856ea738122a7c57bdeb744a631251c069587a',
        );
        const hello = lstatSync(join(out, 'hello.txt'), { bigint: true });
        assert.equal(hello.mode & 0o777n, 0o640n);
        assert.equal(hello.mtimeNs, 1577934245123456789n);
        assert.equal(readlinkSync(join(out, 'docs/link')), '../hello.txt');
        assert.ok(lstatSync(join(out, 'empty')).isDirectory());
        outs.push(out);
      }

      // A backup built on the JSON-manifest snapshot (every file re-read: other inodes), then the
      // old snapshots forgotten and pruned: what is left checks and restores.
      const src = outs[1]!;
      const third = (await backup(repo, { source: src, service: 'fixture', parent: second!.id })).snapshot;
      assert.equal(third.parent, second!.id);
      assert.equal(snapshotVersion(dir, third), 4);
      await forget(repo, { ids: [first!.id, second!.id] });
      await prune(repo, { safetyMarginMs: 0 });
      assert.deepEqual(await manifestNames(repo), [...manifestsOfSnapshot(third)].sort());
      assert.deepEqual((await check(repo, { readData: 100 })).errors, []);
      const out = join(t.path, 'out-third');
      await restore(repo, { snapshot: third.id, target: out, verify: true });
      assertSameTree(snapshotOf(out), snapshotOf(src));

      // A snapshot of a format this version does not know is refused, not half-read.
      const file = JSON.parse(readFileSync(join(dir, 'snapshots', third.id), 'utf8')) as { v: number };
      const future = Buffer.from(JSON.stringify({ ...file, v: 5 }));
      const named = contentName('snapshots', future);
      await repo.backend.put(named.name, future);
      await assert.rejects(repo.readSnapshotFile(named.id), {
        code: 'UNSUPPORTED_VERSION',
        message: /format version 5/,
      });
    } finally {
      t.cleanup();
    }
  });
});

function manifestsOfSnapshot(s: SnapshotInfo): string[] {
  return [s.manifest, ...(s.manifestBases ?? [])];
}
