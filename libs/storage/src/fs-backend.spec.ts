import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { collect, describeBackendContract, names, rejectsWithCode } from './testing/backend-contract.spec';
import { StorageError } from './errors';
import { FsBackend, TEMP_PREFIX, mapFsError } from './fs-backend';

const execFileAsync = promisify(execFile);

async function tempRoot(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'vaultline-fs-'));
}

/** Every file name below `dir`, recursively, relative to it. */
async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/** A Node-style system error, as fs calls throw them. */
function sysError(code: string, errno: number, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated, ${syscall}`), { code, errno, syscall });
}

/** Mount a small tmpfs (we run as root in CI); returns why not when that is impossible here. */
async function mountTmpfs(dir: string, options: string): Promise<string | null> {
  try {
    await execFileAsync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
    return null;
  } catch (err) {
    return err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err);
  }
}

describeBackendContract('FsBackend', async () => {
  const root = await tempRoot();
  return { backend: await FsBackend.open(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe('FsBackend specifics', () => {
  let root: string;
  let backend: FsBackend;

  before(async () => {
    root = await tempRoot();
    backend = await FsBackend.open(root);
  });
  after(async () => {
    await backend.close();
    await rm(root, { recursive: true, force: true });
  });

  test('a spool is a temp file beside the objects until committed, gone when discarded', async () => {
    const s = await backend.spool('data');
    await s.write([Buffer.from('pack bytes')]);
    const during = await allFiles(root);
    assert.ok(
      during.some((f) => path.basename(f).startsWith(TEMP_PREFIX) && path.dirname(f) === 'data'),
      String(during),
    );
    assert.deepEqual(await names(backend.list('data/')), []);
    await s.commit('data/9f/9f00');
    assert.ok(!(await allFiles(root)).some((f) => path.basename(f).startsWith(TEMP_PREFIX)));
    const d = await backend.spool('data');
    await d.write([Buffer.from('dropped')]);
    await d.discard();
    assert.ok(!(await allFiles(root)).some((f) => path.basename(f).startsWith(TEMP_PREFIX)));
    assert.equal((await stat(path.join(root, 'data', '9f', '9f00'))).mode & 0o777, 0o600);
    await backend.delete('data/9f/9f00');
  });

  test('a spool written in parts of any size commits byte-exact (direct writes in whole blocks, the tail buffered)', async () => {
    for (const sizes of [
      [1],
      [4096],
      [1024 * 1024],
      [1024 * 1024 + 1],
      [700_000, 700_000, 3, 4093, 2 * 1024 * 1024 + 17],
      [5, 0, 1024 * 1024 - 5, 8192],
    ]) {
      const parts = sizes.map((n) => randomBytes(n));
      const s = await backend.spool('data');
      for (let i = 0; i < parts.length; i += 2) await s.write(parts.slice(i, i + 2));
      assert.equal(
        s.size,
        sizes.reduce((a, b) => a + b, 0),
      );
      await s.commit('data/ab/ab01');
      const back = await backend.get('data/ab/ab01');
      assert.ok(Buffer.from(back).equals(Buffer.concat(parts)), `parts of ${sizes.join(', ')} bytes`);
    }
    await backend.delete('data/ab/ab01');
  });

  test('a spool on a file system without O_DIRECT (ramfs) is written through the page cache', async (t) => {
    const mnt = await tempRoot();
    if (
      (await promisify(execFile)('mount', ['-t', 'ramfs', 'ramfs', mnt]).then(
        () => true,
        () => false,
      )) === false
    ) {
      await rm(mnt, { recursive: true, force: true });
      return t.skip('cannot mount a ramfs here (needs root)');
    }
    try {
      const ram = await FsBackend.open(path.join(mnt, 'repo'), { create: true });
      const data = randomBytes(3 * 1024 * 1024 + 123);
      const s = await ram.spool('data');
      await s.write([data.subarray(0, 1000), data.subarray(1000)]);
      await s.commit('data/cd/cd01');
      assert.ok(Buffer.from(await ram.get('data/cd/cd01')).equals(data));
      await ram.close();
    } finally {
      await promisify(execFile)('umount', [mnt]).catch(() => undefined);
      await rm(mnt, { recursive: true, force: true });
    }
  });

  test('put leaves no temp file behind and writes private files and directories', async () => {
    await backend.put('data/aa/aa01', Buffer.from('x'));
    await backend.put('data/aa/aa01', Buffer.from('y'));
    assert.deepEqual(await allFiles(path.join(root, 'data')), ['aa/aa01']);
    assert.equal((await stat(path.join(root, 'data/aa/aa01'))).mode & 0o777, 0o600);
    assert.equal((await stat(path.join(root, 'data/aa'))).mode & 0o777, 0o700);
  });

  test('a leftover temp file from an interrupted put is invisible to list and stat', async () => {
    await backend.put('snapshots/s1', Buffer.from('snap'));
    // What a crash between write and rename leaves behind.
    await writeFile(path.join(root, 'snapshots', `${TEMP_PREFIX}0123456789abcdef`), 'half a snapsh');
    await mkdir(path.join(root, 'index'), { recursive: true });
    await writeFile(path.join(root, 'index', `${TEMP_PREFIX}deadbeef`), 'partial');
    assert.deepEqual(await names(backend.list('snapshots/')), ['snapshots/s1']);
    assert.deepEqual(await names(backend.list('index/')), []);
    assert.equal((await backend.get('snapshots/s1')).toString(), 'snap');
    assert.ok(!(await names(backend.list(''))).some((n) => n.includes(TEMP_PREFIX)));
  });

  test('names in the temp namespace are refused', async () => {
    await rejectsWithCode(backend.put(`data/${TEMP_PREFIX}x`, Buffer.from('x')), 'INVALID_NAME');
  });

  test('a failed put removes its temp file and reports the path', async () => {
    await backend.put('keys/k1', Buffer.from('key'));
    // keys/k1 is a file, so a directory cannot be made there: ENOTDIR.
    const err = await rejectsWithCode(backend.put('keys/k1/sub', Buffer.from('x')), 'IO');
    assert.match(err.message, /keys\/k1\/sub/);
    assert.deepEqual(await allFiles(path.join(root, 'keys')), ['k1']);
  });

  test('get of a directory is an IO error; stat of a directory is null', async () => {
    await backend.put('locks/a/b', Buffer.from('x'));
    await rejectsWithCode(backend.get('locks/a'), 'IO');
    assert.equal(await backend.stat('locks/a'), null);
    // A path through a file is simply absent.
    assert.equal(await backend.stat('locks/a/b/c'), null);
  });

  test('list of a prefix that is a file, not a directory, yields just that file when it matches', async () => {
    await backend.put('config', Buffer.from('c'));
    assert.deepEqual(await names(backend.list('config/')), []);
    assert.deepEqual(await names(backend.list('conf')), ['config']);
  });

  test('freeSpace reports the bytes available', async () => {
    const free = await backend.freeSpace();
    assert.equal(typeof free, 'number');
    assert.ok(free !== null && free > 0);
  });

  test('a root that vanished is not silently recreated by put', async () => {
    const gone = await tempRoot();
    const b = await FsBackend.open(gone);
    await rm(gone, { recursive: true });
    const err = await rejectsWithCode(b.put('data/00/x', Buffer.from('x')), 'NOT_FOUND');
    assert.match(err.message, new RegExp(`backup target ${gone} no longer exists`));
    await assert.rejects(stat(gone), { code: 'ENOENT' });
  });
});

describe('FsBackend.open', () => {
  let base: string;
  before(async () => {
    base = await tempRoot();
  });
  after(() => rm(base, { recursive: true, force: true }));

  test('a missing root is NOT_FOUND unless create is set', async () => {
    const dir = path.join(base, 'new', 'repo');
    const err = await rejectsWithCode(FsBackend.open(dir), 'NOT_FOUND');
    assert.equal(err.message, `backup target ${dir} does not exist`);
    const b = await FsBackend.open(dir, { create: true });
    assert.equal(b.location, dir);
    assert.ok((await stat(dir)).isDirectory());
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
  });

  test('a root that is a file is INVALID_LOCATION', async () => {
    const file = path.join(base, 'plain-file');
    await writeFile(file, 'x');
    const err = await rejectsWithCode(FsBackend.open(file), 'INVALID_LOCATION');
    assert.match(err.message, /is not a directory/);
    await rejectsWithCode(FsBackend.open(path.join(file, 'below'), { create: true }), 'INVALID_LOCATION');
  });

  test('a relative root is INVALID_LOCATION', async () => {
    await rejectsWithCode(FsBackend.open('relative/repo'), 'INVALID_LOCATION');
  });
});

describe('mapFsError', () => {
  const ctx = { root: '/mnt/backup', path: '/mnt/backup/data/ab/ab12', op: 'writing' };
  const cases: [string, number, StorageError['code']][] = [
    ['ENOSPC', -28, 'FULL'],
    ['EDQUOT', -122, 'FULL'],
    ['EROFS', -30, 'READ_ONLY'],
    ['EACCES', -13, 'PERMISSION_DENIED'],
    ['EPERM', -1, 'PERMISSION_DENIED'],
    ['ENOENT', -2, 'NOT_FOUND'],
    ['EIO', -5, 'IO'],
    ['ESTALE', -116, 'IO'],
  ];
  for (const [code, errno, expected] of cases) {
    test(`${code} → ${expected}, one line, naming the location, keeping the cause`, () => {
      const original = sysError(code, errno, 'open');
      const err = mapFsError(original, ctx);
      assert.ok(err instanceof StorageError);
      assert.equal(err.code, expected);
      assert.equal(err.cause, original);
      assert.ok(!err.message.includes('\n'));
      assert.ok(err.message.includes('/mnt/backup'), err.message);
      assert.ok(err.message.includes(code), err.message);
    });
  }

  test('messages read naturally', () => {
    assert.equal(
      mapFsError(sysError('ENOSPC', -28, 'write'), ctx).message,
      'target /mnt/backup is full: no space left on device (ENOSPC) while writing /mnt/backup/data/ab/ab12',
    );
    assert.equal(
      mapFsError(sysError('EACCES', -13, 'open'), ctx).message,
      'permission denied writing /mnt/backup/data/ab/ab12: permission denied (EACCES)',
    );
    assert.match(
      mapFsError(sysError('EROFS', -30, 'open'), ctx).message,
      /^target \/mnt\/backup is read-only: /,
    );
  });

  test('a StorageError passes through unchanged; a non-errno error becomes IO', () => {
    const own = new StorageError('NOT_FOUND', 'x');
    assert.equal(mapFsError(own, ctx), own);
    const odd = mapFsError(new Error('weird'), ctx);
    assert.equal(odd.code, 'IO');
    assert.match(odd.message, /weird/);
  });
});

describe('FsBackend on real small filesystems (tmpfs)', () => {
  let fullDir: string;
  let roDir: string;
  let fullSkip: string | null = 'not attempted';
  let roSkip: string | null = 'not attempted';

  before(async () => {
    fullDir = await tempRoot();
    roDir = await tempRoot();
    fullSkip = await mountTmpfs(fullDir, 'size=256k,mode=0700');
    roSkip = await mountTmpfs(roDir, 'ro,size=64k,mode=0700');
  });
  after(async () => {
    for (const [dir, skip] of [
      [fullDir, fullSkip],
      [roDir, roSkip],
    ] as const) {
      if (skip === null) await execFileAsync('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a put that does not fit fails with FULL, keeps the old version and leaves no temp file', async (t) => {
    if (fullSkip !== null) {
      t.diagnostic(`tmpfs mount unavailable (${fullSkip}); checking the ENOSPC mapping only`);
      const err = mapFsError(sysError('ENOSPC', -28, 'write'), {
        root: fullDir,
        path: fullDir,
        op: 'writing',
      });
      assert.equal(err.code, 'FULL');
      return;
    }
    t.diagnostic(`real ENOSPC on a 256 KiB tmpfs at ${fullDir}`);
    const b = await FsBackend.open(fullDir);
    const small = randomBytes(10_000);
    await b.put('data/00/pack', small);
    const free = await b.freeSpace();
    assert.ok(free !== null && free > 0 && free <= 256 * 1024, `free=${String(free)}`);

    const err = await rejectsWithCode(b.put('data/00/pack', randomBytes(512 * 1024)), 'FULL');
    assert.match(err.message, new RegExp(`^target ${fullDir} is full: no space left on device \\(ENOSPC\\)`));
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOSPC');
    // Atomic: readers still see the whole previous object, and the space of the attempt is freed.
    assert.ok((await b.get('data/00/pack')).equals(small));
    assert.deepEqual(await allFiles(fullDir), ['data/00/pack']);
    await b.put('data/00/after', Buffer.from('still writable once space is back'));
    assert.deepEqual((await collect(b.list('data/'))).length, 2);
  });

  test('writing to a read-only filesystem fails with READ_ONLY', async (t) => {
    if (roSkip !== null) {
      t.diagnostic(`tmpfs mount unavailable (${roSkip}); checking the EROFS mapping only`);
      const err = mapFsError(sysError('EROFS', -30, 'open'), { root: roDir, path: roDir, op: 'writing' });
      assert.equal(err.code, 'READ_ONLY');
      return;
    }
    const b = await FsBackend.open(roDir);
    const err = await rejectsWithCode(b.put('config', Buffer.from('x')), 'READ_ONLY');
    assert.match(err.message, new RegExp(`^target ${roDir} is read-only: read-only file system \\(EROFS\\)`));
    await rejectsWithCode(b.put('data/00/x', Buffer.from('x')), 'READ_ONLY');
    await rejectsWithCode(FsBackend.open(path.join(roDir, 'sub'), { create: true }), 'READ_ONLY');
    // Reading still works on a read-only target.
    assert.deepEqual(await names(b.list('')), []);
    await rejectsWithCode(b.get('config'), 'NOT_FOUND');
  });
});
