/**
 * Engine integration: real repositories on a real filesystem and on a real S3-protocol server
 * (s3rver, started here), real files, real worker threads.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  linkSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { FsBackend, type StorageBackend } from '@vaultline/storage';
import {
  ManifestFiles,
  Repository,
  WorkerPool,
  WriterSession,
  backup,
  check,
  compilePatterns,
  exportWriterKey,
  findInTree,
  forget,
  parseWriterKey,
  prune,
  restore,
  type Progress,
} from '@vaultline/engine';
import {
  PASSWORD,
  TEST_KDF,
  assertSameTree,
  initFsRepo,
  makeSource,
  pseudoRandom,
  snapshotOf,
  tempDir,
} from '../support/fixtures';
import { repositoryBackends } from '../support/backends';
import { forge } from '../support/forge';

const SMALL_CHUNKS = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };

async function dirSize(backend: StorageBackend, prefix: string): Promise<number> {
  let n = 0;
  for await (const o of backend.list(prefix)) n += o.size;
  return n;
}

/** Temp files (`.tmp-…`: spools, interrupted puts) anywhere in a filesystem repository. */
function tempLeftovers(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) =>
    p.split('/').some((s) => s.startsWith('.tmp-')),
  );
}

const backends = repositoryBackends('vaultline-test');

/** A writer session on a one-worker pool of its own, for tests that talk to the workers directly. */
async function withWorkerSession<T>(
  repo: Repository,
  fn: (session: WriterSession, pool: WorkerPool) => Promise<T>,
): Promise<T> {
  const { index } = await repo.loadIndex();
  const pool = new WorkerPool(1);
  try {
    return await fn(new WriterSession(repo, index, pool), pool);
  } finally {
    await pool.close();
  }
}

for (const kind of backends) {
  describe(`backup → restore on ${kind.name}`, () => {
    test('bit-exact round trip: modes, mtimes, symlinks, empty dirs and files, unicode, large files', async () => {
      const t = tempDir('rt');
      try {
        const src = join(t.path, 'src');
        mkdirSync(src);
        makeSource(src, { largeBytes: 9 * 1024 * 1024 + 7 });
        const backend = await kind.open(t.path, `rt-${Date.now()}`);
        const repo = await Repository.init(backend, {
          password: PASSWORD,
          kdf: TEST_KDF,
          chunker: SMALL_CHUNKS,
          packSize: 1024 * 1024,
        });
        const result = await backup(repo, {
          source: src,
          service: 'nextcloud',
          plan: 'nightly',
          tags: ['t1'],
          excludes: ['cache/'],
        });
        assert.deepEqual(result.errors, []);
        assert.equal(result.snapshot.service, 'nextcloud');
        assert.equal(result.snapshot.arch, 'x86_64');

        const out = join(t.path, 'out');
        const reopened = await Repository.open(backend, { password: PASSWORD });
        const r = await restore(reopened, {
          snapshot: result.snapshot.id.slice(0, 10),
          target: out,
          verify: true,
        });
        assert.equal(r.verified, true);
        assertSameTree(
          snapshotOf(out),
          snapshotOf(src, { exclude: (p) => p === 'cache' || p.startsWith('cache/') }),
        );
        assert.equal(statSync(out).mode & 0o7777, statSync(src).mode & 0o7777);

        const checked = await check(reopened, { readData: 100 });
        assert.deepEqual(checked.errors, []);
        assert.equal(checked.contentsVerified, true);
        await backend.close();
      } finally {
        t.cleanup();
      }
    });
  });
}

describe('engine behaviour (filesystem repository)', () => {
  test('150,000 files below one folder: backup, no-change backup, find and restore (the manifest once overflowed the call stack)', async () => {
    const t = tempDir('wide');
    try {
      const src = join(t.path, 'src');
      const many = join(src, 'data', 'many');
      mkdirSync(many, { recursive: true });
      const count = 150_000;
      for (let i = 0; i < count; i++) writeFileSync(join(many, `f${i}`), i % 1000 === 0 ? `file ${i}\n` : '');
      writeFileSync(join(src, 'top.txt'), 'top\n');
      const repo = await initFsRepo(join(t.path, 'repo'));
      const first = await backup(repo, { source: src });
      assert.deepEqual(first.errors, []);
      assert.equal(first.snapshot.stats.files, count + 1);
      // The manifest comes out in the same order every time: nothing changed, nothing is stored.
      const second = await backup(repo, { source: src });
      assert.equal(second.snapshot.stats.filesUnmodified, count + 1);
      assert.equal(second.snapshot.stats.blobsAdded, 0);
      assert.equal(second.snapshot.manifest, first.snapshot.manifest);

      const { index } = await repo.loadIndex();
      const { body } = await repo.readSnapshotBody(second.snapshot.id);
      const found = await findInTree(repo, index, body.tree, compilePatterns(['f*']));
      assert.equal(found.length, count);

      const out = join(t.path, 'out');
      await restore(repo, { snapshot: 'latest', target: out });
      assert.equal(readdirSync(join(out, 'data', 'many')).length, count);
      assert.equal(readFileSync(join(out, 'data', 'many', 'f3000'), 'utf8'), 'file 3000\n');
    } finally {
      t.cleanup();
    }
  });

  test('no-change backup reads nothing; a change is picked up; dedup across services', async () => {
    const t = tempDir('incr');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      makeSource(src);
      const repo = await initFsRepo(join(t.path, 'repo'), { chunker: SMALL_CHUNKS });
      const first = await backup(repo, { source: src, service: 'a' });
      const second = await backup(repo, { source: src, service: 'a' });
      assert.equal(second.snapshot.parent, first.snapshot.id);
      assert.equal(second.snapshot.stats.bytesRead, 0);
      assert.equal(second.snapshot.stats.blobsAdded, 0);
      assert.equal(second.snapshot.stats.filesUnmodified, first.snapshot.stats.files);

      appendFileSync(join(src, 'docs/readme.txt'), 'one more line\n');
      const third = await backup(repo, { source: src, service: 'a' });
      assert.equal(third.snapshot.stats.filesChanged, 1);
      assert.ok(third.snapshot.stats.bytesRead < 200_000);

      // Another service with the same content stores (almost) nothing new.
      const fourth = await backup(repo, { source: src, service: 'b' });
      assert.equal(fourth.snapshot.parent, null);
      assert.ok(fourth.snapshot.stats.bytesAdded < 20_000, `added ${fourth.snapshot.stats.bytesAdded}`);

      const out = join(t.path, 'out');
      await restore(repo, { snapshot: 'latest', service: 'a', target: out });
      assertSameTree(snapshotOf(out), snapshotOf(src));
    } finally {
      t.cleanup();
    }
  });

  test('a long-lived process reads each index file and snapshot header once (metadata cache)', async () => {
    const t = tempDir('metacache');
    try {
      const dir = join(t.path, 'repo');
      await initFsRepo(dir);
      // Counts reads by folder through a wrapper: what a fleet worker backing up many services does.
      const reads = new Map<string, number>();
      const inner = await FsBackend.open(dir);
      const counting = new Proxy(inner, {
        get(target, prop, receiver) {
          if (prop === 'get') {
            return (name: string, ...rest: unknown[]) => {
              const folder = name.split('/')[0]!;
              reads.set(folder, (reads.get(folder) ?? 0) + 1);
              return (target.get as (...a: unknown[]) => unknown).call(target, name, ...rest);
            };
          }
          const v: unknown = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      }) as StorageBackend;
      const sources: string[] = [];
      for (let i = 0; i < 12; i++) {
        const src = join(t.path, `svc-${i}`);
        mkdirSync(src);
        writeFileSync(join(src, 'data.txt'), `service ${i}\n`.repeat(100));
        sources.push(src);
      }
      for (const [i, src] of sources.entries()) {
        // A new Repository per job, as the worker opens one per job.
        const repo = await Repository.open(counting, { password: PASSWORD });
        await backup(repo, { source: src, service: `svc-${i}` });
      }
      // Without the cache: 0+1+…+11 = 66 index reads and as many snapshot header reads.
      assert.equal(reads.get('index') ?? 0, 0, 'each index file was written by this process, never re-read');
      assert.equal(
        reads.get('snapshots') ?? 0,
        0,
        'each snapshot header was cached when it was written or read',
      );
      // check still reads and verifies the bytes.
      const repo = await Repository.open(counting, { password: PASSWORD });
      assert.deepEqual((await check(repo)).errors, []);
      assert.equal(reads.get('index'), 12);
      assert.ok((reads.get('snapshots') ?? 0) >= 12, `snapshot reads: ${reads.get('snapshots')}`);
    } finally {
      t.cleanup();
    }
  });

  test('restore of a sub-path keeps its place under the target', async () => {
    const t = tempDir('incl');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      makeSource(src);
      const repo = await initFsRepo(join(t.path, 'repo'));
      await backup(repo, { source: src });
      const out = join(t.path, 'out');
      await restore(repo, { snapshot: 'latest', target: out, include: 'docs/deep' });
      assert.deepEqual(readdirSync(out), ['docs']);
      assert.equal(readFileSync(join(out, 'docs/deep/deeper/notes.md'), 'utf8'), '# notes\n');
      await assert.rejects(restore(repo, { snapshot: 'latest', target: out, include: 'nope' }), {
        code: 'NOT_FOUND',
      });
      // A single file, deep or at the top: its folders are created, its bytes, mode and mtime kept.
      for (const [include, size] of [
        ['docs/deep/deeper/notes.md', 8],
        ['script.sh', 18],
        ['large.bin', 3 * 1024 * 1024 + 12345],
      ] as const) {
        const one = join(t.path, `one-${size}`);
        const r = await restore(repo, { snapshot: 'latest', target: one, include });
        assert.equal(r.files, 1, include);
        assert.deepEqual(readFileSync(join(one, include)), readFileSync(join(src, include)), include);
        const [a, b] = [
          statSync(join(one, include), { bigint: true }),
          statSync(join(src, include), { bigint: true }),
        ];
        assert.equal(a.mode, b.mode, include);
        assert.equal(a.mtimeNs, b.mtimeNs, include);
        assert.deepEqual(readdirSync(one), [include.split('/')[0]], include);
      }
    } finally {
      t.cleanup();
    }
  });

  test('wrong password, missing repository, foreign repository, double init', async () => {
    const t = tempDir('bad');
    try {
      const dir = join(t.path, 'repo');
      await initFsRepo(dir);
      const backend = await FsBackend.open(dir, { create: false });
      await assert.rejects(Repository.open(backend, { password: 'not the password' }), {
        code: 'WRONG_PASSWORD',
        message: /wrong password/,
      });
      await assert.rejects(Repository.init(backend, { password: PASSWORD, kdf: TEST_KDF }), {
        code: 'ALREADY_INITIALIZED',
      });
      const empty = await FsBackend.open(join(t.path, 'empty'), { create: true });
      await assert.rejects(Repository.open(empty, { password: PASSWORD }), {
        code: 'NO_REPOSITORY',
        message: /no Vaultline repository/,
      });
      const foreign = await FsBackend.open(join(t.path, 'foreign'), { create: true });
      await foreign.put('config', Buffer.from('{"something":"else"}'));
      await assert.rejects(Repository.open(foreign, { password: PASSWORD }), { code: 'FOREIGN_REPOSITORY' });
      // A writer key of another repository is refused.
      const other = await initFsRepo(join(t.path, 'other'));
      await assert.rejects(Repository.open(backend, { writerKey: other.keys }), {
        code: 'FOREIGN_REPOSITORY',
      });
    } finally {
      t.cleanup();
    }
  });

  test('the writer key backs up and deduplicates but cannot decrypt anything', async () => {
    const t = tempDir('writer');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      makeSource(src);
      const dir = join(t.path, 'repo');
      const owner = await initFsRepo(dir);
      const writerKey = parseWriterKey(exportWriterKey(owner.keys));
      const writer = await Repository.open(await FsBackend.open(dir, { create: false }), { writerKey });
      assert.equal(writer.canRead, false);
      const first = await backup(writer, { source: src, service: 'svc' });
      assert.equal(first.snapshot.writer, 'writer-key');
      const second = await backup(writer, { source: src, service: 'svc' });
      assert.equal(second.snapshot.stats.bytesRead, 0, 'change detection works without the password');

      await assert.rejects(restore(writer, { snapshot: 'latest', target: join(t.path, 'out') }), {
        code: 'NEEDS_PASSWORD',
      });
      await assert.rejects(writer.readSnapshotBody(first.snapshot.id), { code: 'NEEDS_PASSWORD' });
      const { index } = await writer.loadIndex();
      const anyPack = index.allPacks()[0]!;
      assert.throws(() => writer.readKey(anyPack.eph), { code: 'NEEDS_PASSWORD' });
      const c = await check(writer, { readData: 100 });
      assert.deepEqual(c.errors, []);
      assert.equal(c.contentsVerified, false);
      assert.ok(c.warnings.some((w) => /writer key/.test(w)));

      // The owner restores what the writer wrote.
      const out = join(t.path, 'out');
      await restore(owner, { snapshot: first.snapshot.id, target: out, verify: true });
      assertSameTree(snapshotOf(out), snapshotOf(src));
    } finally {
      t.cleanup();
    }
  });

  test('tampering is detected: pack bytes, truncated pack, snapshot file, tree blob', async () => {
    const t = tempDir('tamper');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      makeSource(src);
      const dir = join(t.path, 'repo');
      const repo = await initFsRepo(dir, { chunker: SMALL_CHUNKS, packSize: 256 * 1024 });
      const snap = (await backup(repo, { source: src })).snapshot;
      const { index } = await repo.loadIndex();
      const dataPack = [...index.entries()].find((e) => e.type === 0)!;
      const treePack = [...index.entries()].find((e) => e.type === 1)!;
      const packPath = (id: string): string => join(dir, 'data', id.slice(0, 2), id);

      // 1. A flipped byte inside a data blob.
      const bytes = readFileSync(packPath(dataPack.pack));
      bytes[dataPack.offset + 40]! ^= 0x01;
      writeFileSync(packPath(dataPack.pack), bytes);
      let c = await check(repo, { readData: 100 });
      assert.ok(
        c.errors.some((e) => e.includes(dataPack.pack) && /corrupted/.test(e)),
        c.errors.join('\n'),
      );
      await assert.rejects(restore(repo, { snapshot: snap.id, target: join(t.path, 'out1') }), {
        code: 'CORRUPT',
      });
      bytes[dataPack.offset + 40]! ^= 0x01;
      writeFileSync(packPath(dataPack.pack), bytes);
      assert.deepEqual((await check(repo, { readData: 100 })).errors, []);

      // 2. A truncated pack: seen by the structure check without reading data.
      writeFileSync(packPath(dataPack.pack), bytes.subarray(0, 100));
      c = await check(repo);
      assert.ok(
        c.errors.some((e) => /truncated/.test(e)),
        c.errors.join('\n'),
      );
      writeFileSync(packPath(dataPack.pack), bytes);

      // 3. A tree blob modified in place (re-hashing the pack name would not help: AEAD fails).
      const tb = readFileSync(packPath(treePack.pack));
      tb[treePack.offset + 30]! ^= 0x80;
      writeFileSync(packPath(treePack.pack), tb);
      c = await check(repo);
      assert.ok(
        c.errors.some((e) => /tree/.test(e) && /failed authentication/.test(e)),
        c.errors.join('\n'),
      );
      await assert.rejects(restore(repo, { snapshot: snap.id, target: join(t.path, 'out2') }), {
        code: 'CORRUPT',
      });
      tb[treePack.offset + 30]! ^= 0x80;
      writeFileSync(packPath(treePack.pack), tb);

      // 4. An edited snapshot file.
      const snapPath = join(dir, 'snapshots', snap.id);
      const original = readFileSync(snapPath, 'utf8');
      writeFileSync(snapPath, original.replace(/"v":(\d)/, '"v":$1 '));
      // This process wrote the snapshot, so its header comes from the metadata cache; whatever
      // reads the bytes (a fresh read, a restore) sees the edit.
      await assert.rejects(repo.readSnapshotInfo(snap.id, { fresh: true }), { code: 'CORRUPT' });
      await assert.rejects(restore(repo, { snapshot: snap.id, target: join(t.path, 'out3') }), {
        code: 'CORRUPT',
      });
      const forged = JSON.parse(original) as { header: string };
      forged.header = Buffer.from(forged.header, 'base64').fill(1, 20, 30).toString('base64');
      writeFileSync(snapPath, JSON.stringify(forged));
      c = await check(repo);
      assert.ok(
        c.errors.some((e) => e.startsWith(`snapshot ${snap.id.slice(0, 8)}`)),
        c.errors.join('\n'),
      );
      writeFileSync(snapPath, original);
      assert.deepEqual((await check(repo, { readData: 100 })).errors, []);
    } finally {
      t.cleanup();
    }
  });

  test('restore refuses unsafe names in a (forged) tree and writes nothing outside the target', async () => {
    for (const evil of ['..', '../escape', '/etc/passwd', 'a\0b', 'sub/../../x', '.']) {
      const t = tempDir('unsafe');
      try {
        const repo = await initFsRepo(join(t.path, 'repo'));
        await forge(repo, (file) => [file(evil, 'pwned')]);
        const target = join(t.path, 'target', 'inner');
        await assert.rejects(
          restore(repo, { snapshot: 'latest', target }),
          (err: NodeJS.ErrnoException & { code?: string }) => {
            assert.ok(
              err.code === 'UNSAFE_PATH' || err.code === 'CORRUPT',
              `${evil}: ${err.code} ${err.message}`,
            );
            return true;
          },
        );
        assert.equal(existsSync(join(t.path, 'target', 'escape')), false);
        assert.equal(existsSync(join(t.path, 'x')), false);
      } finally {
        t.cleanup();
      }
    }
  });

  test('restore replaces a symlink planted in the target instead of writing through it', async () => {
    const t = tempDir('plant');
    try {
      const src = join(t.path, 'src');
      mkdirSync(join(src, 'docs'), { recursive: true });
      writeFileSync(join(src, 'docs', 'f.txt'), 'inside');
      const repo = await initFsRepo(join(t.path, 'repo'));
      await backup(repo, { source: src });
      const out = join(t.path, 'out');
      const outside = join(t.path, 'outside');
      mkdirSync(outside);
      mkdirSync(out);
      const { symlinkSync } = await import('node:fs');
      symlinkSync(outside, join(out, 'docs'));
      await restore(repo, { snapshot: 'latest', target: out });
      assert.deepEqual(readdirSync(outside), []);
      assert.equal(readFileSync(join(out, 'docs', 'f.txt'), 'utf8'), 'inside');
    } finally {
      t.cleanup();
    }
  });

  test('restore never writes through a hard link planted in the target', async () => {
    const t = tempDir('hardlink');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'f.txt'), 'restored content');
      const repo = await initFsRepo(join(t.path, 'repo'));
      await backup(repo, { source: src });
      const outside = join(t.path, 'outside.txt');
      writeFileSync(outside, 'must stay');
      const out = join(t.path, 'out');
      mkdirSync(out);
      linkSync(outside, join(out, 'f.txt'));
      await restore(repo, { snapshot: 'latest', target: out });
      assert.equal(readFileSync(outside, 'utf8'), 'must stay');
      assert.equal(readFileSync(join(out, 'f.txt'), 'utf8'), 'restored content');
    } finally {
      t.cleanup();
    }
  });

  test('concurrent writers into one repository lose nothing', async () => {
    const t = tempDir('conc');
    try {
      const sources = ['one', 'two', 'three'].map((name, i) => {
        const src = join(t.path, name);
        mkdirSync(src);
        writeFileSync(join(src, 'shared.bin'), pseudoRandom(99, 2 * 1024 * 1024));
        writeFileSync(join(src, 'own.bin'), pseudoRandom(i, 3 * 1024 * 1024));
        return src;
      });
      const dir = join(t.path, 'repo');
      await initFsRepo(dir, { chunker: SMALL_CHUNKS, packSize: 512 * 1024 });
      const open = async (): Promise<Repository> =>
        Repository.open(await FsBackend.open(dir, { create: false }), { password: PASSWORD });
      const results = await Promise.all(
        sources.map(async (src, i) => backup(await open(), { source: src, service: `svc${i}` })),
      );
      const repo = await open();
      assert.equal((await repo.listSnapshots()).length, 3);
      for (const [i, r] of results.entries()) {
        const out = join(t.path, `out${i}`);
        await restore(repo, { snapshot: r.snapshot.id, target: out, verify: true });
        assertSameTree(snapshotOf(out), snapshotOf(sources[i]!));
      }
      assert.deepEqual((await check(repo, { readData: 100 })).errors, []);
    } finally {
      t.cleanup();
    }
  });

  test('a prune waits for nobody: it refuses while a backup holds the repository', async () => {
    const t = tempDir('lock');
    try {
      const repo = await initFsRepo(join(t.path, 'repo'));
      const { Lock } = await import('@vaultline/engine');
      const held = await Lock.acquire(repo.backend, 'shared', 'backup');
      await assert.rejects(prune(repo), { code: 'LOCKED', message: /locked by backup/ });
      await held.release();
      const stale = await Lock.acquire(repo.backend, 'shared', 'backup', { refreshMs: 60_000, staleMs: 1 });
      await new Promise((r) => setTimeout(r, 5));
      // Stale locks (a killed writer) do not block forever.
      await prune(repo, { lockTiming: { refreshMs: 60_000, staleMs: 1 } });
      await stale.release();
    } finally {
      t.cleanup();
    }
  });

  test('with retryMs a locked-out party tries again: it gets the lock once freed, or LOCKED at the end', async () => {
    const t = tempDir('lock-retry');
    try {
      const repo = await initFsRepo(join(t.path, 'repo'));
      const { Lock, DEFAULT_LOCK_TIMING } = await import('@vaultline/engine');
      const held = await Lock.acquire(repo.backend, 'shared', 'backup');
      // Held the whole time: refused after the retry window, and the message says it waited.
      const started = Date.now();
      await assert.rejects(prune(repo, { lockTiming: { ...DEFAULT_LOCK_TIMING, retryMs: 700 } }), {
        code: 'LOCKED',
        message: /locked by backup .*still locked after \d+ s of retrying/,
      });
      assert.ok(Date.now() - started >= 700, 'the prune gave up before its retry window ended');
      // Freed while the prune waits: the prune goes ahead.
      const pruning = prune(repo, { lockTiming: { ...DEFAULT_LOCK_TIMING, retryMs: 30_000 } });
      setTimeout(() => void held.release(), 400);
      assert.equal((await pruning).packsDeleted, 0);
      // Two exclusive parties racing both get their turn; none of their locks are left behind.
      const timing = { ...DEFAULT_LOCK_TIMING, retryMs: 30_000 };
      await Promise.all([prune(repo, { lockTiming: timing }), prune(repo, { lockTiming: timing })]);
      const { listLocks } = await import('@vaultline/engine');
      assert.deepEqual(await listLocks(repo.backend), []);
    } finally {
      t.cleanup();
    }
  });

  test('forget keeps exactly what the policy says; prune reclaims space and keeps the rest restorable', async () => {
    const t = tempDir('prune');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      const dir = join(t.path, 'repo');
      const repo = await initFsRepo(dir, { chunker: SMALL_CHUNKS, packSize: 256 * 1024 });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        writeFileSync(join(src, `gen${i}.bin`), pseudoRandom(100 + i, 1024 * 1024));
        if (i > 0) unlinkSync(join(src, `gen${i - 1}.bin`));
        ids.push((await backup(repo, { source: src, service: 'svc' })).snapshot.id);
      }
      const before = await dirSize(repo.backend, 'data/');
      const decisions = await forget(repo, { policy: { keepLast: 2 }, service: 'svc' });
      assert.deepEqual(
        decisions
          .filter((d) => d.keep)
          .map((d) => d.snapshot.id)
          .sort(),
        ids.slice(3).sort(),
      );
      assert.deepEqual((await repo.listSnapshots()).map((s) => s.id).sort(), ids.slice(3).sort());

      const result = await prune(repo, { safetyMarginMs: 0 });
      assert.ok(result.packsDeleted + result.packsRepacked > 0, JSON.stringify(result));
      const afterBytes = await dirSize(repo.backend, 'data/');
      assert.ok(afterBytes < before - 2 * 1024 * 1024, `pruned ${before} → ${afterBytes}`);
      assert.deepEqual((await check(repo, { readData: 100 })).errors, []);
      const out = join(t.path, 'out');
      await restore(repo, { snapshot: ids[3]!, target: out, verify: true });
      assert.deepEqual(readdirSync(out), ['gen3.bin']);

      // Deleting a plan: every snapshot of it goes, others stay.
      await backup(repo, { source: src, service: 'svc', plan: 'doomed' });
      await forget(repo, { all: true, plan: 'doomed' });
      assert.equal((await repo.listSnapshots()).filter((s) => s.plan === 'doomed').length, 0);
      assert.equal((await repo.listSnapshots()).length, 2);
    } finally {
      t.cleanup();
    }
  });

  test("prune removes what a killed backup's spools left once older than its margin, nothing younger", async () => {
    const t = tempDir('prune-tmp');
    try {
      const dir = join(t.path, 'repo');
      const repo = await initFsRepo(dir);
      const src = join(t.path, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'a.txt'), 'kept');
      await backup(repo, { source: src });
      mkdirSync(join(dir, 'data', 'ff'), { recursive: true });
      const stale = [join(dir, 'data', '.tmp-00aa'), join(dir, 'data', 'ff', '.tmp-00bb')];
      const fresh = join(dir, 'index', '.tmp-00cc');
      for (const f of [...stale, fresh]) writeFileSync(f, Buffer.alloc(1000));
      const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60_000);
      for (const f of stale) utimesSync(f, twoHoursAgo, twoHoursAgo);

      const dry = await prune(repo, { dryRun: true });
      assert.equal(dry.tempFilesDeleted, 0, 'a dry run deletes nothing');
      assert.ok(stale.every((f) => existsSync(f)));
      const result = await prune(repo);
      assert.equal(result.tempFilesDeleted, 2);
      assert.ok(result.bytesFreed >= 2000);
      assert.deepEqual(
        stale.map((f) => existsSync(f)),
        [false, false],
      );
      assert.ok(existsSync(fresh), 'a temporary file younger than the margin may be a write in progress');
      const out = join(t.path, 'out');
      await restore(repo, { snapshot: 'latest', target: out });
      assert.equal(readFileSync(join(out, 'a.txt'), 'utf8'), 'kept');
    } finally {
      t.cleanup();
    }
  });

  test('prune with only the writer key drops unused packs and leaves repacking to the password', async () => {
    const t = tempDir('wprune');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      const dir = join(t.path, 'repo');
      const owner = await initFsRepo(dir, { chunker: SMALL_CHUNKS, packSize: 4 * 1024 * 1024 });
      const writer = await Repository.open(owner.backend, {
        writerKey: parseWriterKey(exportWriterKey(owner.keys)),
      });
      writeFileSync(join(src, 'keep.bin'), pseudoRandom(1, 1024 * 1024));
      writeFileSync(join(src, 'drop.bin'), pseudoRandom(2, 1024 * 1024));
      await backup(writer, { source: src, service: 's' });
      unlinkSync(join(src, 'drop.bin'));
      writeFileSync(join(src, 'new.bin'), pseudoRandom(3, 6 * 1024 * 1024));
      await backup(writer, { source: src, service: 's' });
      await forget(writer, { policy: { keepLast: 1 } });
      const r = await prune(writer, { safetyMarginMs: 0 });
      assert.equal(r.packsRepacked, 0);
      assert.ok(r.packsNeedingPassword >= 1, JSON.stringify(r));
      const r2 = await prune(owner, { safetyMarginMs: 0 });
      assert.ok(r2.packsRepacked >= 1, JSON.stringify(r2));
      assert.deepEqual((await check(owner, { readData: 100 })).errors, []);
      const out = join(t.path, 'out');
      await restore(owner, { snapshot: 'latest', target: out, verify: true });
      assert.deepEqual(readdirSync(out).sort(), ['keep.bin', 'new.bin']);
    } finally {
      t.cleanup();
    }
  });

  test('a manifest that hides references is caught by check, and prune with the password keeps the data', async () => {
    const t = tempDir('forgedmanifest');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'data.bin'), pseudoRandom(77, 2 * 1024 * 1024));
      const repo = await initFsRepo(join(t.path, 'repo'), { chunker: SMALL_CHUNKS, packSize: 512 * 1024 });
      const real = (await backup(repo, { source: src, service: 'svc' })).snapshot;
      const { body } = await repo.readSnapshotBody(real.id);
      // A snapshot of the same trees whose manifest lists nothing (what a buggy or hostile writer
      // could store), then the honest snapshot is forgotten.
      const { id: _id, manifest: _m, bodyHash: _b, ...header } = real;
      const forged = await withWorkerSession(repo, async (session) => {
        await session.finish();
        return session.commitSnapshot({ files: new ManifestFiles(), trees: [] }, body, header);
      });
      await forget(repo, { ids: [real.id] });

      const c = await check(repo);
      assert.ok(
        c.errors.some((e) => /manifest omits/.test(e)),
        c.errors.join('\n'),
      );
      await prune(repo, { safetyMarginMs: 0 });
      const out = join(t.path, 'out');
      await restore(repo, { snapshot: forged.id, target: out, verify: true });
      assert.deepEqual(readFileSync(join(out, 'data.bin')), readFileSync(join(src, 'data.bin')));
    } finally {
      t.cleanup();
    }
  });

  test('keys: add, list, remove, change password — data is never re-encrypted', async () => {
    const t = tempDir('keys');
    try {
      const dir = join(t.path, 'repo');
      const repo = await initFsRepo(dir);
      const src = join(t.path, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'f'), 'data');
      await backup(repo, { source: src });
      const packsBefore = readdirSync(join(dir, 'data'), { recursive: true }).sort();
      const second = await repo.addKey('second password', TEST_KDF);
      assert.equal((await repo.listKeys()).length, 2);
      const backend = await FsBackend.open(dir, { create: false });
      const viaSecond = await Repository.open(backend, { password: 'second password' });
      await viaSecond.changePassword('third password', TEST_KDF);
      await assert.rejects(Repository.open(backend, { password: 'second password' }), {
        code: 'WRONG_PASSWORD',
      });
      const viaThird = await Repository.open(backend, { password: 'third password' });
      await restore(viaThird, { snapshot: 'latest', target: join(t.path, 'out') });
      assert.equal(readFileSync(join(t.path, 'out', 'f'), 'utf8'), 'data');
      assert.deepEqual(readdirSync(join(dir, 'data'), { recursive: true }).sort(), packsBefore);
      const keys = await viaThird.listKeys();
      assert.equal(
        keys.some((k) => k.id === second),
        false,
      );
      await viaThird.removeKey(keys.find((k) => !k.current)!.id);
      await assert.rejects(viaThird.removeKey(keys.find((k) => k.current)!.id), { code: 'LAST_KEY' });
      await assert.rejects(Repository.open(backend, { password: PASSWORD }), { code: 'WRONG_PASSWORD' });
      await assert.rejects(repo.addKey('abc', TEST_KDF), { code: 'PASSWORD_TOO_SHORT' });
    } finally {
      t.cleanup();
    }
  });

  test("progress totals: counted beside a first backup, the parent's figures for the next", async () => {
    const t = tempDir('progress-totals');
    try {
      const src = join(t.path, 'src');
      for (let d = 0; d < 20; d++) {
        mkdirSync(join(src, `d${d}`), { recursive: true });
        for (let f = 0; f < 10; f++)
          writeFileSync(join(src, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`.repeat(d + 1));
      }
      mkdirSync(join(src, 'cache'));
      writeFileSync(join(src, 'cache', 'skip.bin'), 'excluded');
      const totalBytes = Array.from({ length: 20 }, (_, d) => 10 * `file ${d}/0\n`.length * (d + 1)).reduce(
        (a, b) => a + b,
      );
      const repo = await initFsRepo(join(t.path, 'repo'));
      const seen: Progress[] = [];
      const first = await backup(repo, {
        source: src,
        excludes: ['cache/'],
        progressIntervalMs: 0,
        onProgress: (p) => seen.push(p),
      });
      const phases = seen.map((p) => p.phase);
      assert.equal(phases.at(-1), 'done');
      assert.equal(phases.indexOf('done'), phases.length - 1, 'nothing after done');
      const order = ['scan', 'backup', 'done'];
      assert.ok(
        phases.every((ph, i) => i === 0 || order.indexOf(ph) >= order.indexOf(phases[i - 1]!)),
        phases.join(),
      );
      const last = seen.at(-1)!;
      assert.deepEqual(
        [last.filesTotal, last.bytesTotal],
        [200, totalBytes],
        'the count leaves out the excludes',
      );
      assert.equal(first.snapshot.stats.files, 200);

      // The next backup starts from the parent's figures: no count of its own.
      writeFileSync(join(src, 'd0', 'new.txt'), 'one more');
      const next: Progress[] = [];
      await backup(repo, {
        source: src,
        excludes: ['cache/'],
        progressIntervalMs: 0,
        onProgress: (p) => next.push(p),
      });
      assert.equal(next[0]!.phase, 'backup');
      assert.deepEqual([next[0]!.filesTotal, next[0]!.bytesTotal], [200, first.snapshot.stats.totalBytes]);
      assert.equal(next.at(-1)!.filesTotal, 201);
    } finally {
      t.cleanup();
    }
  });

  test('a source that is a link to a folder, a file or missing is refused, saying which', async () => {
    const t = tempDir('srclink');
    try {
      const real = join(t.path, 'real');
      mkdirSync(real);
      symlinkSync(real, join(t.path, 'link'));
      symlinkSync(join(t.path, 'gone'), join(t.path, 'dangling'));
      writeFileSync(join(t.path, 'file'), 'x');
      const repo = await initFsRepo(join(t.path, 'repo'));
      const refused = async (source: string, message: RegExp): Promise<void> => {
        await assert.rejects(backup(repo, { source }), (err: Error & { code?: string }) => {
          assert.equal(err.code, 'SOURCE_UNREADABLE');
          assert.match(err.message, message);
          return true;
        });
      };
      await refused(join(t.path, 'link'), /is a symbolic link to the folder .*real: name that folder/);
      await refused(join(t.path, 'dangling'), /is a symbolic link, not a directory/);
      await refused(join(t.path, 'file'), /is not a directory/);
      await refused(join(t.path, 'missing'), /cannot read source folder/);
      assert.deepEqual(await repo.listSnapshots(), []);
    } finally {
      t.cleanup();
    }
  });

  test('a file replaced by a FIFO or a device after the listing is refused, not read (nothing blocks)', async () => {
    const t = tempDir('swapped');
    try {
      const fifo = join(t.path, 'fifo');
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
      const repo = await initFsRepo(join(t.path, 'repo'));
      await withWorkerSession(repo, async (session, pool) => {
        // What the walk hands the workers for a name it listed as a small, then a large, file.
        const batch = await pool.run({
          op: 'fileBatch',
          session: session.workerConfig(),
          files: [fifo, '/dev/zero'].map((p) => ({ path: Buffer.from(p), size: 10 })),
        });
        assert.equal(batch.files.length, 2);
        for (const f of batch.files) {
          assert.match(f.error ?? '', /no longer a regular file/);
          assert.equal(f.bytes, 0);
        }
        for (const path of [fifo, '/dev/zero']) {
          const step = await pool.run(
            {
              op: 'fileStep',
              handle: `swapped:${path}`,
              path: Buffer.from(path),
              session: session.workerConfig(),
              maxBytes: 1 << 20,
            },
            pool.pick(),
          );
          assert.match(step.error ?? '', /no longer a regular file/, path);
          assert.equal(step.bytes, 0);
        }
        await session.finish();
      });
    } finally {
      t.cleanup();
    }
  });

  test('a small file that grew past a batch since it was listed is read step by step, whole', async () => {
    const t = tempDir('grown');
    try {
      const src = join(t.path, 'src');
      mkdirSync(join(src, 'a'), { recursive: true });
      writeFileSync(join(src, 'a', 'changing.log'), 'small\n');
      writeFileSync(join(src, 'a', 'steady.txt'), 'steady\n');
      const repo = await initFsRepo(join(t.path, 'repo'), { chunker: SMALL_CHUNKS });

      // The workers' side: a file listed at 10 bytes that is 3 MiB now is not read in the batch.
      const big = pseudoRandom(5, 3 * 1024 * 1024);
      writeFileSync(join(t.path, 'big'), big);
      await withWorkerSession(repo, async (session, pool) => {
        const r = await pool.run({
          op: 'fileBatch',
          session: session.workerConfig(),
          files: [{ path: Buffer.from(join(t.path, 'big')), size: 10 }],
        });
        assert.deepEqual(r.files, [{ chunks: 0, bytes: 0, grown: true }]);
        await session.finish();
      });

      // The walk's side: changing.log is queued as small (it changed), then grows before its
      // batch goes out (at the walk's end) — while the walk passes steady.txt, unchanged.
      await backup(repo, { source: src });
      appendFileSync(join(src, 'a', 'changing.log'), 'more\n');
      let grown = false;
      const result = await backup(repo, {
        source: src,
        progressIntervalMs: 0,
        onProgress: (p) => {
          // The first report is before the walk; the next follows steady.txt (after changing.log).
          if (grown || p.filesDone < 1) return;
          grown = true;
          writeFileSync(join(src, 'a', 'changing.log'), big);
        },
      });
      assert.ok(grown);
      assert.deepEqual(result.errors, []);
      const out = join(t.path, 'out');
      await restore(repo, { snapshot: result.snapshot.id, target: out, verify: true });
      assert.deepEqual(readFileSync(join(out, 'a', 'changing.log')), big);
      assert.equal(readFileSync(join(out, 'a', 'steady.txt'), 'utf8'), 'steady\n');
    } finally {
      t.cleanup();
    }
  });

  test('a vanishing file is recorded and the backup goes on', async () => {
    const t = tempDir('vanish');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      // Larger than a batch of small files: read on its own, before the small ones are.
      writeFileSync(join(src, 'a-first.bin'), pseudoRandom(5, 2 * 1024 * 1024));
      writeFileSync(join(src, 'z-vanishes.txt'), 'soon gone');
      writeFileSync(join(src, 'z-zstays.txt'), 'stays');
      const repo = await initFsRepo(join(t.path, 'repo'));
      let removed = false;
      const result = await backup(repo, {
        source: src,
        progressIntervalMs: 0,
        // One file at a time, so the deletion below lands between listing and reading.
        fileConcurrency: 1,
        // The directory was listed before its files were read: remove one in between.
        onProgress: (p) => {
          if (p.filesDone === 1 && !removed) {
            removed = true;
            unlinkSync(join(src, 'z-vanishes.txt'));
          }
        },
      });
      assert.equal(removed, true);
      assert.deepEqual(
        result.errors.map((e) => e.path),
        ['z-vanishes.txt'],
      );
      assert.match(result.errors[0]!.error, /ENOENT/);
      assert.equal(result.snapshot.stats.errors, 1);
      const { body } = await repo.readSnapshotBody(result.snapshot.id);
      assert.deepEqual(
        body.errors.map((e) => e.path),
        ['z-vanishes.txt'],
      );
      const out = join(t.path, 'out');
      await restore(repo, { snapshot: 'latest', target: out });
      assert.deepEqual(readdirSync(out).sort(), ['a-first.bin', 'z-zstays.txt']);
    } finally {
      t.cleanup();
    }
  });

  test('an unreadable file (running as an unprivileged user) is recorded and the backup goes on', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to start the child as an unprivileged user');
      return;
    }
    const tmp = tempDir('unread');
    try {
      chmodSync(tmp.path, 0o755);
      const src = join(tmp.path, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'readable.txt'), 'ok');
      writeFileSync(join(src, 'secret.txt'), 'no');
      chmodSync(join(src, 'secret.txt'), 0o000);
      const dir = join(tmp.path, 'repo');
      await initFsRepo(dir);
      spawnSync('chown', ['-R', 'nobody', dir, src]);
      chownSync(join(src, 'secret.txt'), 0, 0);
      const child = spawnSync(process.execPath, [join(__dirname, '../support/backup-child.js'), dir, src], {
        env: { ...process.env, VAULTLINE_TEST_PASSWORD: PASSWORD },
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
      });
      assert.equal(child.status, 0, child.stderr);
      const repo = await Repository.open(await FsBackend.open(dir, { create: false }), {
        password: PASSWORD,
      });
      const [snap] = await repo.listSnapshots();
      assert.equal(snap!.stats.errors, 1);
      const { body } = await repo.readSnapshotBody(snap!.id);
      assert.equal(body.errors[0]!.path, 'secret.txt');
      assert.match(body.errors[0]!.error, /EACCES/);
    } finally {
      tmp.cleanup();
    }
  });

  test('a killed backup leaves no snapshot, no damage, and its uploads are reused', async () => {
    const t = tempDir('kill');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      for (let i = 0; i < 12; i++)
        writeFileSync(join(src, `part${i}.bin`), pseudoRandom(200 + i, 16 * 1024 * 1024));
      const dir = join(t.path, 'repo');
      await initFsRepo(dir, { compressionLevel: 0 });
      const child = spawn(process.execPath, [join(__dirname, '../support/backup-child.js'), dir, src], {
        env: { ...process.env, VAULTLINE_TEST_PASSWORD: PASSWORD },
        stdio: 'ignore',
      });
      // Kill it once an index file shows some packs are durably uploaded.
      const deadline = Date.now() + 60_000;
      const indexed = (): boolean =>
        existsSync(join(dir, 'index')) && readdirSync(join(dir, 'index')).some((n) => !n.startsWith('.tmp-'));
      while (Date.now() < deadline && !indexed()) {
        await new Promise((r) => setTimeout(r, 5));
      }
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));

      const repo = await Repository.open(await FsBackend.open(dir, { create: false }), {
        password: PASSWORD,
      });
      assert.equal((await repo.listSnapshots()).length, 0, 'no half-visible snapshot');
      // A pack being spooled when the process died stays a temp file, never listed as a pack.
      for await (const name of repo.backend.listNames('data/')) assert.doesNotMatch(name, /\.tmp-/);
      const c = await check(repo, { readData: 100 });
      assert.deepEqual(c.errors, []);

      const result = await backup(repo, {
        source: src,
        service: 'killed',
        lockTiming: { refreshMs: 60_000, staleMs: 1 },
      });
      const total = 12 * 16 * 1024 * 1024;
      assert.ok(
        result.snapshot.stats.bytesAdded < total * 0.95,
        `re-run added ${result.snapshot.stats.bytesAdded} of ${total}`,
      );
      const out = join(t.path, 'out');
      await restore(repo, { snapshot: 'latest', target: out, verify: true });
      assertSameTree(snapshotOf(out), snapshotOf(src));
      assert.deepEqual((await check(repo)).errors, []);
    } finally {
      t.cleanup();
    }
  });

  test('restore and check work from a read-only drive (no lock can be written there)', async (t) => {
    const tmp = tempDir('ro');
    const mnt = join(tmp.path, 'mnt');
    mkdirSync(mnt);
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]).status !== 0) {
      tmp.cleanup();
      t.skip('cannot mount a tmpfs here (needs root)');
      return;
    }
    try {
      const src = join(tmp.path, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'a.txt'), 'read-only restore');
      const repo = await initFsRepo(join(mnt, 'repo'));
      await backup(repo, { source: src });
      assert.equal(spawnSync('mount', ['-o', 'remount,ro', mnt]).status, 0);
      const ro = await Repository.open(await FsBackend.open(join(mnt, 'repo'), { create: false }), {
        password: PASSWORD,
      });
      await restore(ro, { snapshot: 'latest', target: join(tmp.path, 'out'), verify: true });
      assert.equal(readFileSync(join(tmp.path, 'out', 'a.txt'), 'utf8'), 'read-only restore');
      assert.deepEqual((await check(ro, { readData: 100 })).errors, []);
      await assert.rejects(backup(ro, { source: src }), { code: 'READ_ONLY' });
    } finally {
      spawnSync('umount', [mnt]);
      tmp.cleanup();
    }
  });

  test('restore and check refuse to run beside a prune', async () => {
    const t = tempDir('rlock');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'f'), 'x');
      const repo = await initFsRepo(join(t.path, 'repo'));
      await backup(repo, { source: src });
      const { Lock } = await import('@vaultline/engine');
      const pruning = await Lock.acquire(repo.backend, 'exclusive', 'prune');
      await assert.rejects(restore(repo, { snapshot: 'latest', target: join(t.path, 'out') }), {
        code: 'LOCKED',
      });
      await assert.rejects(check(repo), { code: 'LOCKED' });
      await pruning.release();
      await restore(repo, { snapshot: 'latest', target: join(t.path, 'out') });
    } finally {
      t.cleanup();
    }
  });

  test('a cancelled backup stops, publishes nothing, keeps its uploads; a cancelled restore stops', async () => {
    const t = tempDir('abort');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      for (let i = 0; i < 6; i++)
        writeFileSync(join(src, `big${i}.bin`), pseudoRandom(300 + i, 12 * 1024 * 1024));
      const repo = await initFsRepo(join(t.path, 'repo'), { compressionLevel: 0 });
      const controller = new AbortController();
      await assert.rejects(
        backup(repo, {
          source: src,
          progressIntervalMs: 0,
          onProgress: (p) => {
            if (p.phase === 'backup' && p.bytesDone >= 40 * 1024 * 1024) controller.abort();
          },
          signal: controller.signal,
        }),
        { code: 'ABORTED', message: 'backup cancelled' },
      );
      assert.equal((await repo.listSnapshots()).length, 0);
      assert.deepEqual(tempLeftovers(join(t.path, 'repo')), [], 'no spool file outlives the backup');
      // The lock is gone (prune needs it exclusively) and what was sealed is indexed and reused.
      await prune(repo, { safetyMarginMs: 60 * 60_000 });
      const { index } = await repo.loadIndex();
      assert.ok(index.size > 0, 'uploads of the cancelled backup are indexed');
      const again = await backup(repo, { source: src });
      assert.ok(
        again.snapshot.stats.bytesAdded < 72 * 1024 * 1024 - 30 * 1024 * 1024,
        `added ${again.snapshot.stats.bytesAdded}`,
      );
      assert.deepEqual((await check(repo, { readData: 100 })).errors, []);

      const stop = new AbortController();
      await assert.rejects(
        restore(repo, {
          snapshot: 'latest',
          target: join(t.path, 'out'),
          progressIntervalMs: 0,
          onProgress: (p) => {
            if (p.bytesDone > 0) stop.abort();
          },
          signal: stop.signal,
        }),
        { code: 'ABORTED' },
      );
      await prune(repo, { safetyMarginMs: 60 * 60_000 });
    } finally {
      t.cleanup();
    }
  });

  test('a full target disk fails the backup clearly and keeps what was stored', async (t) => {
    const tmp = tempDir('full');
    const mnt = join(tmp.path, 'mnt');
    mkdirSync(mnt);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt]).status === 0;
    if (!mounted) {
      tmp.cleanup();
      t.skip(
        'cannot mount a small tmpfs here (needs root); the ENOSPC mapping is unit-tested in libs/storage',
      );
      return;
    }
    try {
      const src = join(tmp.path, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'small.txt'), 'fits');
      const repo = await initFsRepo(join(mnt, 'repo'), { packSize: 1024 * 1024 });
      const first = await backup(repo, { source: src });
      writeFileSync(join(src, 'big.bin'), pseudoRandom(7, 12 * 1024 * 1024));
      await assert.rejects(backup(repo, { source: src }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'FULL');
        assert.match(err.message, /full/);
        return true;
      });
      assert.deepEqual(tempLeftovers(join(mnt, 'repo')), [], 'a failed backup drops its spool files');
      const snaps = await repo.listSnapshots();
      assert.deepEqual(
        snaps.map((s) => s.id),
        [first.snapshot.id],
      );
      const out = join(tmp.path, 'out');
      await restore(repo, { snapshot: first.snapshot.id, target: out });
      assert.equal(readFileSync(join(out, 'small.txt'), 'utf8'), 'fits');
    } finally {
      spawnSync('umount', [mnt]);
      tmp.cleanup();
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});

describe('restore writes large chunks straight to the disk', () => {
  // Default chunks (0.5–8 MiB): their aligned middles go through O_DIRECT, their unaligned ends
  // (and every chunk on a file system without O_DIRECT) through the page cache.
  const sizes = [5 * 1024 * 1024 + 123, 12 * 1024 * 1024 + 4095, 3 * 1024 * 1024];

  async function roundTrip(target: (tmp: string) => string): Promise<void> {
    const t = tempDir('direct');
    try {
      const src = join(t.path, 'src');
      mkdirSync(src);
      sizes.forEach((n, i) => writeFileSync(join(src, `f${i}.bin`), pseudoRandom(40 + i, n)));
      // The same content at an offset 1 byte off its first copy: the chunks land unaligned.
      writeFileSync(join(src, 'shifted.bin'), Buffer.concat([Buffer.from('x'), pseudoRandom(40, sizes[0]!)]));
      const repo = await initFsRepo(join(t.path, 'repo'));
      await backup(repo, { source: src });
      const out = target(t.path);
      const r = await restore(repo, { snapshot: 'latest', target: out, verify: true });
      assert.equal(r.verified, true);
      assertSameTree(snapshotOf(out), snapshotOf(src));
      for (const name of readdirSync(src))
        assert.ok(readFileSync(join(out, name)).equals(readFileSync(join(src, name))), name);
    } finally {
      t.cleanup();
    }
  }

  test('on a file system that takes O_DIRECT, byte-exact', async () => {
    await roundTrip((tmp) => join(tmp, 'out'));
  });

  test('on one that refuses it (ramfs), through the page cache, byte-exact', async (t) => {
    const mntRoot = tempDir('ramfs');
    const mnt = join(mntRoot.path, 'mnt');
    mkdirSync(mnt);
    if (spawnSync('mount', ['-t', 'ramfs', 'ramfs', mnt]).status !== 0) {
      mntRoot.cleanup();
      t.skip('cannot mount a ramfs here (needs root)');
      return;
    }
    try {
      await roundTrip(() => join(mnt, 'out'));
    } finally {
      spawnSync('umount', [mnt]);
      mntRoot.cleanup();
    }
  });
});
