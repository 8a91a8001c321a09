/**
 * Restore fidelity: what comes back is exactly what was there — names and symlink targets as
 * bytes, hard links as links, holes as holes, extended attributes (user, capabilities, POSIX
 * ACLs), nanosecond mtimes, FIFOs, device and socket nodes, setuid/setgid/sticky bits and owners —
 * on a real filesystem repository and on a real S3-protocol server (s3rver). Also: a format-1
 * repository still lists, checks and restores, and forged trees are refused or restored as they
 * must be.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  cpSync,
  existsSync,
  ftruncateSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  rmSync,
  writeFileSync,
  writeSync,
  chownSync,
  type BigIntStats,
} from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { FsBackend, type StorageBackend } from '@vaultline/storage';
import { Repository, backup, check, loadManifest, restore, type RestoreResult } from '@vaultline/engine';
import * as native from '@vaultline/native';
import { PASSWORD, TEST_KDF, initFsRepo, tempDir } from '../support/fixtures';
import { forge } from '../support/forge';
import { repositoryBackends } from '../support/backends';

const IS_ROOT = process.getuid?.() === 0;
const MiB = 1024 * 1024;
const SMALL_CHUNKS = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };
const ODD_NS = 1_600_000_000_123_456_789n;
const FIXTURE = resolve(__dirname, '../../../test/fixtures/repo-v1');

// ── paths as bytes ───────────────────────────────────────────────────────────────────────────────

const NOT_UTF8 = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x74]);
const NOT_UTF8_DIR = Buffer.from([0x64, 0xc3, 0x28, 0x80]);
const NOT_UTF8_TARGET = Buffer.from([0x74, 0x61, 0x72, 0xff, 0x67, 0x80, 0x2f, 0x78]);
const LONG_NAME = Buffer.from('L'.repeat(250) + '.long');
const CONTROL_NAMES = ['ctl\x01one', 'tab\there', 'new\nline', 'back\\slash.txt'];

function p(...parts: (string | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.flatMap((x, i) => (i === 0 ? [Buffer.from(x)] : [Buffer.from('/'), Buffer.from(x)])),
  );
}

/** A readable rendering of a relative path's bytes (non-printable bytes as \xNN). */
function show(bytes: Buffer): string {
  let out = '';
  for (const b of bytes)
    out +=
      b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

function sha(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function hasCmd(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

// ── what a restore must reproduce ────────────────────────────────────────────────────────────────

interface Seen {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: string;
  size?: number;
  sha?: string;
  target?: string;
  rdev?: string;
  xattrs?: string[];
  /** Other names of the same inode inside the tree (hard links), as shown paths. */
  links?: string[];
}

function typeOf(st: BigIntStats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isSocket()) return 'socket';
  return 'unknown';
}

function xattrsOf(path: Buffer): string[] {
  return native
    .lgetxattrs(path)
    .map((x) => `${x.name.toString('latin1')}=${x.value.toString('hex')}`)
    .sort();
}

/** Every entry below `root` (and root itself as ''), keyed by the shown relative path. */
function describeTree(root: Buffer, skip: (rel: string) => boolean = () => false): Map<string, Seen> {
  const out = new Map<string, Seen>();
  const inodes = new Map<string, string[]>();
  const visit = (abs: Buffer, rel: Buffer): void => {
    const key = show(rel);
    const st = lstatSync(abs, { bigint: true });
    const seen: Seen = {
      type: typeOf(st),
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtimeNs: st.mtimeNs.toString(),
    };
    const xattrs = xattrsOf(abs);
    if (xattrs.length > 0) seen.xattrs = xattrs;
    if (st.isFile()) {
      seen.size = Number(st.size);
      seen.sha = sha(readFileSync(abs));
      const group = inodes.get(st.ino.toString()) ?? [];
      group.push(key);
      inodes.set(st.ino.toString(), group);
    } else if (st.isSymbolicLink()) seen.target = readlinkSync(abs, { encoding: 'buffer' }).toString('hex');
    else if (st.isCharacterDevice() || st.isBlockDevice()) seen.rdev = st.rdev.toString();
    out.set(key, seen);
    if (st.isDirectory()) {
      const names = readdirSync(abs, { encoding: 'buffer' }).sort((a, b) => Buffer.compare(a, b));
      for (const name of names) {
        const childRel = rel.length ? p(rel, name) : name;
        if (skip(show(childRel))) continue;
        visit(p(abs, name), childRel);
      }
    }
  };
  visit(root, Buffer.alloc(0));
  for (const group of inodes.values()) {
    if (group.length < 2) continue;
    for (const k of group) out.get(k)!.links = group.filter((o) => o !== k);
  }
  return out;
}

function assertSameTree(actual: Map<string, Seen>, expected: Map<string, Seen>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), 'same set of paths');
  for (const [key, e] of expected) assert.deepEqual(actual.get(key), e, `entry ${JSON.stringify(key)}`);
}

// ── the source tree ──────────────────────────────────────────────────────────────────────────────

interface Features {
  /** Reasons features are not in the tree (skipped checks). */
  skipped: Map<string, string>;
  socketVia?: string;
}

function canUserXattr(dir: string): string | null {
  const probe = join(dir, 'xattr-probe');
  writeFileSync(probe, '');
  try {
    native.lsetxattr(probe, 'user.probe', Buffer.from('1'));
    return null;
  } catch (err) {
    return `the temp dir's file system refuses user xattrs (${(err as NodeJS.ErrnoException).code})`;
  }
}

/** Data of a v2 VFS capability (cap_net_bind_service, permitted + effective). */
function capabilityBlob(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000000 | 0x1, 0); // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
  b.writeUInt32LE(1 << 10, 4); // permitted[0]: CAP_NET_BIND_SERVICE (10)
  return b;
}

async function makeSocket(path: string): Promise<string> {
  const server = createServer();
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(path, () => ok());
  });
  await new Promise<void>((ok) => server.close(() => ok()));
  if (existsSync(path)) return 'a unix server bound to it';
  // libuv removes the socket file when the server closes: make the node directly.
  native.mknod(path, 0o140000 | 0o755, 0);
  return 'mknod(S_IFSOCK) (libuv unlinks a closed server socket)';
}

async function makeEdgeSource(src: string, work: string): Promise<Features> {
  const skipped = new Map<string, string>();
  const features: Features = { skipped };
  mkdirSync(src);
  // Names: not UTF-8, backslash, control characters, 255 bytes; a non-UTF-8 directory.
  writeFileSync(p(src, NOT_UTF8), 'not utf-8 name\n');
  for (const n of CONTROL_NAMES) writeFileSync(p(src, n), `content of ${JSON.stringify(n)}\n`);
  assert.equal(LONG_NAME.length, 255);
  writeFileSync(p(src, LONG_NAME), 'long name\n');
  mkdirSync(p(src, NOT_UTF8_DIR));
  writeFileSync(p(src, NOT_UTF8_DIR, 'inner.txt'), 'inside a non-utf-8 dir\n');
  writeFileSync(p(src, NOT_UTF8_DIR, NOT_UTF8), 'non-utf-8 inside non-utf-8\n');
  symlinkSync(NOT_UTF8_TARGET, p(src, 'link-raw'));
  symlinkSync(p(NOT_UTF8_DIR, 'inner.txt'), p(src, 'link-to-raw-dir'));

  // Hard links: three names of one inode in different folders; a pair with one name excluded.
  mkdirSync(join(src, 'links/a'), { recursive: true });
  mkdirSync(join(src, 'links/b'));
  writeFileSync(join(src, 'links/a/one'), 'three names, one inode\n');
  linkSync(join(src, 'links/a/one'), join(src, 'links/b/two'));
  linkSync(join(src, 'links/a/one'), join(src, 'links/three'));
  mkdirSync(join(src, 'excluded'));
  writeFileSync(join(src, 'excluded/first'), 'pair, one name excluded\n');
  linkSync(join(src, 'excluded/first'), join(src, 'kept-of-pair'));

  // Sparse: 64 MiB with 4 KiB of data in the middle; and a fully allocated zero file.
  const fd = openSync(join(src, 'sparse.img'), 'w');
  ftruncateSync(fd, 64 * MiB);
  writeSync(fd, Buffer.alloc(4096, 0xab), 0, 4096, 32 * MiB + 8192);
  closeSync(fd);
  writeFileSync(join(src, 'zeros.bin'), Buffer.alloc(2 * MiB));
  const sparseSt = lstatSync(join(src, 'sparse.img'));
  if (sparseSt.blocks * 512 >= MiB) skipped.set('sparse', 'the temp dir file system does not make holes');

  // Extended attributes.
  const noUser = canUserXattr(work);
  if (noUser) skipped.set('user-xattrs', noUser);
  else {
    writeFileSync(join(src, 'xattr.txt'), 'with attributes\n');
    native.lsetxattr(join(src, 'xattr.txt'), 'user.test', Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 0]));
    native.lsetxattr(join(src, 'xattr.txt'), 'user.empty', Buffer.alloc(0));
    native.lsetxattr(join(src, 'xattr.txt'), 'user.long', Buffer.alloc(3000, 'x'));
    mkdirSync(join(src, 'xattr-dir'));
    native.lsetxattr(join(src, 'xattr-dir'), 'user.dir', Buffer.from('on a directory'));
    native.lsetxattr(p(src, NOT_UTF8), 'user.raw-name', Buffer.from([0xc3, 0x28]));
  }
  if (!IS_ROOT) skipped.set('capability', 'not root: security.capability needs CAP_SETFCAP');
  else {
    writeFileSync(join(src, 'cap-bin'), '#!/bin/sh\n');
    chmodSync(join(src, 'cap-bin'), 0o755);
    if (hasCmd('setcap')) run('setcap', ['cap_net_bind_service+ep', join(src, 'cap-bin')]);
    else native.lsetxattr(join(src, 'cap-bin'), 'security.capability', capabilityBlob());
    // Root may also put trusted.* attributes on a symlink (user.* are not allowed there).
    symlinkSync('cap-bin', join(src, 'link-with-xattr'));
    native.lsetxattr(join(src, 'link-with-xattr'), 'trusted.vaultline', Buffer.from('on a symlink'));
  }
  if (!hasCmd('setfacl')) skipped.set('acl', 'setfacl not installed (apt-get install acl)');
  else {
    writeFileSync(join(src, 'acl.txt'), 'with an ACL\n');
    run('setfacl', ['-m', 'u:1234:r', join(src, 'acl.txt')]);
    mkdirSync(join(src, 'acl-dir'));
    run('setfacl', ['-m', 'u:1234:rwx', '-d', '-m', 'u:1234:rx', join(src, 'acl-dir')]);
    // Inherits the default ACL as its access ACL: restored from its own xattrs.
    writeFileSync(join(src, 'acl-dir/child.txt'), 'inherited\n');
  }

  // Special files.
  native.mkfifo(join(src, 'fifo'), 0o640);
  chmodSync(join(src, 'fifo'), 0o640);
  if (!IS_ROOT) skipped.set('devices', 'not root: mknod of a char device needs CAP_MKNOD');
  else {
    try {
      native.mknod(join(src, 'null-dev'), 0o020000 | 0o620, 259); // makedev(1, 3)
      chmodSync(join(src, 'null-dev'), 0o620);
    } catch (err) {
      skipped.set('devices', `mknod refused here: ${(err as Error).message}`);
    }
  }
  features.socketVia = await makeSocket(join(src, 'sock'));
  chmodSync(join(src, 'sock'), 0o751);

  // Modes and owners.
  writeFileSync(join(src, 'setuid'), 'suid\n');
  writeFileSync(join(src, 'setgid'), 'sgid\n');
  mkdirSync(join(src, 'sticky'));
  mkdirSync(join(src, 'sgid-dir'));
  mkdirSync(join(src, 'owned'));
  writeFileSync(join(src, 'owned/file'), 'owned\n');
  if (IS_ROOT) {
    for (const f of ['setuid', 'setgid', 'sgid-dir', 'owned', 'owned/file'])
      chownSync(join(src, f), 1234, 5678);
    lchownSync(join(src, 'link-raw'), 4321, 8765);
  } else skipped.set('owners', 'not root: ownership is stored but restored only as root');
  // chmod after chown: chown clears setuid/setgid bits.
  chmodSync(join(src, 'setuid'), 0o4755);
  chmodSync(join(src, 'setgid'), 0o2710);
  chmodSync(join(src, 'sticky'), 0o1777);
  chmodSync(join(src, 'sgid-dir'), 0o2775);
  chmodSync(join(src, 'owned/file'), 0o604);

  // Odd nanosecond mtimes on files, directories and symlinks — last, after every child exists.
  const times: [Buffer, bigint][] = [
    [p(src, 'setuid'), ODD_NS],
    [p(src, NOT_UTF8), ODD_NS + 1n],
    [p(src, 'link-raw'), ODD_NS + 2n],
    [p(src, 'fifo'), ODD_NS + 3n],
    [p(src, 'sparse.img'), ODD_NS + 4n],
    [p(src, NOT_UTF8_DIR), ODD_NS + 5n],
    [p(src, 'links/a'), ODD_NS + 6n],
    [p(src, 'links'), ODD_NS + 7n],
    [p(src, 'sticky'), 999_999_999n],
    [p(src), ODD_NS + 8n],
  ];
  for (const [path, ns] of times) native.lutimesNs(path, ns, ns);
  return features;
}

// ── backends ─────────────────────────────────────────────────────────────────────────────────────

const backends = repositoryBackends('vaultline-fidelity');

const EXCLUDED = (rel: string): boolean => rel === 'excluded' || rel.startsWith('excluded/');

for (const kind of backends) {
  describe(`restore fidelity on ${kind.name}`, () => {
    const t = tempDir(`fidelity-${kind.name}`);
    const src = join(t.path, 'src');
    const out = join(t.path, 'out');
    let features: Features;
    let backend: StorageBackend;
    let repo: Repository;
    let snapshotId: string;
    let restored: RestoreResult;

    before(async () => {
      features = await makeEdgeSource(src, t.path);
      backend = await kind.open(t.path, `fidelity-${Date.now()}`);
      repo = await Repository.init(backend, {
        password: PASSWORD,
        kdf: TEST_KDF,
        chunker: SMALL_CHUNKS,
        packSize: MiB,
      });
      const result = await backup(repo, { source: src, service: 'fidelity', excludes: ['excluded/'] });
      assert.deepEqual(result.errors, []);
      snapshotId = result.snapshot.id;
      restored = await restore(repo, { snapshot: snapshotId, target: out, verify: true });
    });
    after(async () => {
      await backend?.close();
      t.cleanup();
    });

    test('the restored tree equals the source: types, bytes, modes, owners, ns mtimes, xattrs, links', () => {
      assert.deepEqual(restored.warnings, []);
      assertSameTree(describeTree(Buffer.from(out)), describeTree(Buffer.from(src), EXCLUDED));
    });

    test('names that are not UTF-8, with backslashes, control characters, 255 bytes', () => {
      assert.equal(readFileSync(p(out, NOT_UTF8), 'utf8'), 'not utf-8 name\n');
      for (const n of CONTROL_NAMES)
        assert.equal(readFileSync(p(out, n), 'utf8'), `content of ${JSON.stringify(n)}\n`);
      assert.equal(readFileSync(p(out, LONG_NAME), 'utf8'), 'long name\n');
      assert.ok(lstatSync(p(out, NOT_UTF8_DIR)).isDirectory());
      const inner = readdirSync(p(out, NOT_UTF8_DIR), { encoding: 'buffer' }).sort((a, b) =>
        Buffer.compare(a, b),
      );
      assert.deepEqual(
        inner.map((b) => b.toString('hex')),
        [NOT_UTF8, Buffer.from('inner.txt')].map((b) => b.toString('hex')).sort(),
      );
      assert.equal(readFileSync(p(out, NOT_UTF8_DIR, NOT_UTF8), 'utf8'), 'non-utf-8 inside non-utf-8\n');
      // The exact bytes, not a lossy U+FFFD rendering.
      const top = readdirSync(out, { encoding: 'buffer' });
      assert.ok(top.some((b) => b.equals(NOT_UTF8)));
      assert.ok(!top.some((b) => b.includes(Buffer.from('\ufffd'))));
    });

    test('symlink targets as bytes', () => {
      assert.ok(readlinkSync(p(out, 'link-raw'), { encoding: 'buffer' }).equals(NOT_UTF8_TARGET));
      assert.ok(
        readlinkSync(p(out, 'link-to-raw-dir'), { encoding: 'buffer' }).equals(p(NOT_UTF8_DIR, 'inner.txt')),
      );
      assert.equal(readFileSync(p(out, 'link-to-raw-dir'), 'utf8'), 'inside a non-utf-8 dir\n');
    });

    test('hard links share one inode; a name whose partner was excluded is a plain file', () => {
      const names = ['links/a/one', 'links/b/two', 'links/three'].map((n) =>
        lstatSync(join(out, n), { bigint: true }),
      );
      assert.equal(new Set(names.map((s) => s.ino)).size, 1, 'one inode');
      assert.deepEqual(
        names.map((s) => s.nlink),
        [3n, 3n, 3n],
      );
      assert.equal(restored.hardlinks, 2);
      for (const n of ['links/a/one', 'links/b/two', 'links/three'])
        assert.equal(readFileSync(join(out, n), 'utf8'), 'three names, one inode\n');
      assert.equal(existsSync(join(out, 'excluded')), false);
      const kept = lstatSync(join(out, 'kept-of-pair'));
      assert.equal(kept.nlink, 1);
      assert.equal(readFileSync(join(out, 'kept-of-pair'), 'utf8'), 'pair, one name excluded\n');
    });

    test('restoring only a folder holding the second name of a hard link still restores a file', async () => {
      const part = join(t.path, 'part');
      const r = await restore(repo, { snapshot: snapshotId, target: part, include: 'links/b' });
      assert.deepEqual(r.warnings, []);
      assert.equal(r.files, 1);
      assert.deepEqual(readdirSync(part), ['links']);
      assert.deepEqual(readdirSync(join(part, 'links')), ['b']);
      const st = lstatSync(join(part, 'links/b/two'));
      assert.ok(st.isFile());
      assert.equal(st.nlink, 1);
      assert.equal(readFileSync(join(part, 'links/b/two'), 'utf8'), 'three names, one inode\n');
      assert.equal(st.mode & 0o7777, lstatSync(join(src, 'links/b/two')).mode & 0o7777);
    });

    test('a sparse file comes back sparse; a fully allocated zero file stays allocated', (ctx) => {
      const why = features.skipped.get('sparse');
      if (why) return ctx.skip(why);
      const a = lstatSync(join(src, 'sparse.img'));
      const b = lstatSync(join(out, 'sparse.img'));
      assert.equal(b.size, 64 * MiB);
      assert.ok(b.blocks * 512 < MiB, `restored sparse file allocates ${b.blocks * 512} bytes`);
      assert.equal(sha(readFileSync(join(out, 'sparse.img'))), sha(readFileSync(join(src, 'sparse.img'))));
      assert.ok(a.blocks * 512 < MiB);
      const z = lstatSync(join(out, 'zeros.bin'));
      assert.equal(z.size, 2 * MiB);
      assert.ok(z.blocks * 512 >= z.size, `zero file allocates ${z.blocks * 512} of ${z.size} bytes`);
      assert.ok(readFileSync(join(out, 'zeros.bin')).equals(Buffer.alloc(2 * MiB)));
    });

    test('user xattrs: binary, empty and long values, on files and directories', (ctx) => {
      const why = features.skipped.get('user-xattrs');
      if (why) return ctx.skip(why);
      const got = new Map(native.lgetxattrs(join(out, 'xattr.txt')).map((x) => [x.name.toString(), x.value]));
      assert.deepEqual(got.get('user.test'), Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 0]));
      assert.deepEqual(got.get('user.empty'), Buffer.alloc(0));
      assert.deepEqual(got.get('user.long'), Buffer.alloc(3000, 'x'));
      assert.deepEqual(xattrsOf(p(out, 'xattr-dir')), [
        `user.dir=${Buffer.from('on a directory').toString('hex')}`,
      ]);
      assert.deepEqual(xattrsOf(p(out, NOT_UTF8)), ['user.raw-name=c328']);
    });

    test('security.capability on a file and trusted.* on a symlink', (ctx) => {
      const why = features.skipped.get('capability');
      if (why) return ctx.skip(why);
      assert.deepEqual(xattrsOf(p(out, 'cap-bin')), xattrsOf(p(src, 'cap-bin')));
      assert.ok(xattrsOf(p(out, 'cap-bin')).some((x) => x.startsWith('security.capability=')));
      if (hasCmd('getcap')) assert.match(run('getcap', [join(out, 'cap-bin')]), /cap_net_bind_service[=+]ep/);
      assert.deepEqual(xattrsOf(p(out, 'link-with-xattr')), [
        `trusted.vaultline=${Buffer.from('on a symlink').toString('hex')}`,
      ]);
    });

    test('POSIX ACLs: an access ACL on a file, a default ACL on a directory', (ctx) => {
      const why = features.skipped.get('acl');
      if (why) return ctx.skip(why);
      const fileAcl = run('getfacl', ['-cn', join(out, 'acl.txt')]);
      assert.match(fileAcl, /^user:1234:r--$/m);
      assert.equal(fileAcl, run('getfacl', ['-cn', join(src, 'acl.txt')]));
      const dirAcl = run('getfacl', ['-cn', join(out, 'acl-dir')]);
      assert.match(dirAcl, /^default:user:1234:r-x$/m);
      assert.match(dirAcl, /^user:1234:rwx$/m);
      assert.equal(dirAcl, run('getfacl', ['-cn', join(src, 'acl-dir')]));
      assert.equal(
        run('getfacl', ['-cn', join(out, 'acl-dir/child.txt')]),
        run('getfacl', ['-cn', join(src, 'acl-dir/child.txt')]),
      );
    });

    test('mtimes to the nanosecond on files, directories, symlinks, FIFOs and the root', () => {
      const ns = (path: Buffer): bigint => lstatSync(path, { bigint: true }).mtimeNs;
      assert.equal(ns(p(out, 'setuid')), ODD_NS);
      assert.equal(ns(p(out, NOT_UTF8)), ODD_NS + 1n);
      assert.equal(ns(p(out, 'link-raw')), ODD_NS + 2n);
      assert.equal(ns(p(out, 'fifo')), ODD_NS + 3n);
      assert.equal(ns(p(out, 'sparse.img')), ODD_NS + 4n);
      assert.equal(ns(p(out, NOT_UTF8_DIR)), ODD_NS + 5n);
      assert.equal(ns(p(out, 'links/a')), ODD_NS + 6n);
      assert.equal(ns(p(out, 'links')), ODD_NS + 7n);
      assert.equal(ns(p(out, 'sticky')), 999_999_999n);
      assert.equal(ns(p(out)), ODD_NS + 8n);
    });

    test('a FIFO, a char device and a socket node come back with type, mode and rdev', (ctx) => {
      const fifo = lstatSync(join(out, 'fifo'));
      assert.ok(fifo.isFIFO());
      assert.equal(fifo.mode & 0o7777, 0o640);
      const sock = lstatSync(join(out, 'sock'));
      assert.ok(sock.isSocket(), `socket made with ${features.socketVia}`);
      assert.equal(sock.mode & 0o7777, 0o751);
      assert.equal(restored.special, features.skipped.has('devices') ? 2 : 3);
      const why = features.skipped.get('devices');
      if (why) return ctx.skip(why);
      const dev = lstatSync(join(out, 'null-dev'), { bigint: true });
      assert.ok(dev.isCharacterDevice());
      assert.equal(dev.rdev, 259n);
      assert.equal(dev.mode & 0o7777n, 0o620n);
    });

    test('setuid, setgid and sticky bits and owners on files and directories', () => {
      const mode = (rel: string): number => lstatSync(join(out, rel)).mode & 0o7777;
      assert.equal(mode('setuid'), 0o4755);
      assert.equal(mode('setgid'), 0o2710);
      assert.equal(mode('sticky'), 0o1777);
      assert.equal(mode('sgid-dir'), 0o2775);
      assert.equal(mode('owned/file'), 0o604);
      if (!IS_ROOT) return;
      for (const f of ['setuid', 'setgid', 'sgid-dir', 'owned', 'owned/file']) {
        const st = lstatSync(join(out, f));
        assert.deepEqual([st.uid, st.gid], [1234, 5678], f);
      }
      const l = lstatSync(join(out, 'link-raw'));
      assert.deepEqual([l.uid, l.gid], [4321, 8765]);
    });

    test('an unchanged second backup (incremental, via the parent manifest) restores the same', async () => {
      const second = await backup(repo, { source: src, service: 'fidelity', excludes: ['excluded/'] });
      assert.deepEqual(second.errors, []);
      assert.equal(second.snapshot.parent, snapshotId);
      assert.equal(second.snapshot.stats.bytesRead, 0, 'nothing read again');
      assert.equal(second.snapshot.stats.filesNew + second.snapshot.stats.filesChanged, 0);
      assert.equal(second.snapshot.stats.bytesAdded, 0);
      const first = await repo.resolveSnapshot(snapshotId);
      assert.equal(second.snapshot.manifest, first.manifest, 'the parent manifest is shared');
      const out2 = join(t.path, 'out2');
      const r = await restore(repo, { snapshot: second.snapshot.id, target: out2, verify: true });
      assert.deepEqual(r.warnings, []);
      assertSameTree(describeTree(Buffer.from(out2)), describeTree(Buffer.from(src), EXCLUDED));
    });

    test('folders listed in the worker threads or on the calling thread give the same snapshot', async () => {
      // With a parent the walk's listings (readdir, lstat, xattrs, fingerprints) come from the
      // worker threads; the trees and the manifest must be exactly those of the other way.
      const opts = { source: src, service: 'fidelity-scan', excludes: ['excluded/'] };
      await backup(repo, { ...opts, parent: 'none' });
      const before = readFileSync(p(src, NOT_UTF8));
      writeFileSync(p(src, NOT_UTF8), 'changed after the parent\n');
      writeFileSync(p(src, NOT_UTF8_DIR, Buffer.from('new-in-odd-dir')), 'new\n');
      const inWorkers = await backup(repo, opts);
      const onThread = await backup(repo, {
        ...opts,
        scanInWorkers: false,
        parent: inWorkers.snapshot.parent!,
      });
      assert.deepEqual(inWorkers.errors, onThread.errors);
      assert.equal(inWorkers.snapshot.stats.filesChanged + inWorkers.snapshot.stats.filesNew, 2);
      const a = await repo.readSnapshotBody(inWorkers.snapshot.id);
      const b = await repo.readSnapshotBody(onThread.snapshot.id);
      assert.equal(a.body.tree, b.body.tree, 'the same root tree (content-addressed: the same trees)');
      const [ma, mb] = [
        await loadManifest(repo, inWorkers.snapshot.manifest),
        await loadManifest(repo, onThread.snapshot.manifest),
      ];
      assert.deepEqual(ma.files.toRecord(), mb.files.toRecord());
      assert.deepEqual(ma.trees, mb.trees);
      rmSync(p(src, NOT_UTF8_DIR, Buffer.from('new-in-odd-dir')));
      writeFileSync(p(src, NOT_UTF8), before);
    });
  });
}

// ── a format-1 repository ────────────────────────────────────────────────────────────────────────

describe('a format-1 repository (test/fixtures/repo-v1)', () => {
  test('lists, checks and restores with the content, mode, ns mtime and symlink it was written with', async () => {
    const t = tempDir('repo-v1');
    try {
      const dir = join(t.path, 'repo-v1');
      cpSync(FIXTURE, dir, { recursive: true });
      mkdirSync(join(dir, 'locks'), { recursive: true });
      const repo = await Repository.open(await FsBackend.open(dir), { password: 'fixture-password' });
      const snaps = await repo.listSnapshots();
      assert.equal(snaps.length, 1);
      assert.equal(snaps[0]!.service, 'fixture');
      assert.deepEqual(snaps[0]!.tags, ['v1']);
      const checked = await check(repo, { readData: 100 });
      assert.deepEqual(checked.errors, []);
      assert.equal(checked.contentsVerified, true);

      const out = join(t.path, 'out');
      const r = await restore(repo, { snapshot: 'latest', target: out, verify: true });
      assert.equal(r.verified, true);
      const hash = (rel: string): string => sha(readFileSync(join(out, rel)));
      assert.equal(hash('hello.txt'), '586622c26589b6060f50857879c985babdbc1087f1baa735037fffb50c14720a');
      assert.equal(
        hash('docs/random.bin'),
        '951207dbea765872217191e6522fdc9673a2de2df56f154c59dd4e1c9d9456f4',
      );
      assert.equal(
        hash('docs/deep/numbers.txt'),
        'f6351f5ead9a700e34275480b3856ea738122a7c57bdeb744a631251c069587a',
      );
      assert.equal(lstatSync(join(out, 'docs/random.bin')).size, 30000);
      const hello = lstatSync(join(out, 'hello.txt'), { bigint: true });
      assert.equal(hello.mode & 0o7777n, 0o640n);
      assert.equal(hello.mtimeNs, BigInt(Date.parse('2020-01-02T03:04:05Z')) * 1_000_000n + 123_456_789n);
      assert.ok(lstatSync(join(out, 'docs/link')).isSymbolicLink());
      assert.equal(readlinkSync(join(out, 'docs/link')), '../hello.txt');
      assert.equal(
        readFileSync(join(out, 'docs/link'), 'utf8'),
        readFileSync(join(out, 'hello.txt'), 'utf8'),
      );
      assert.ok(lstatSync(join(out, 'empty')).isDirectory());
      assert.deepEqual(readdirSync(join(out, 'empty')), []);
      await repo.backend.close();
    } finally {
      t.cleanup();
    }
  });
});

// ── forged trees ─────────────────────────────────────────────────────────────────────────────────

/** Every path below `root` (shown), to prove nothing was written. */
function listAll(root: string): string[] {
  if (!existsSync(root)) return [];
  return [...describeTree(Buffer.from(root)).keys()].filter((k) => k !== '');
}

describe('forged trees', () => {
  test('names with a backslash or bytes that are not UTF-8 are restored, not refused', async () => {
    const t = tempDir('forged-ok');
    try {
      const repo = await initFsRepo(join(t.path, 'repo'));
      await forge(repo, (file, dir) =>
        [
          file('back\\slash', 'backslash'),
          file('\ufffd', 'raw name', { nameRaw: Buffer.from([0xff, 0xfe]).toString('base64') }),
          dir('d\ufffd', [file('x\\y', 'nested')]),
        ].map((n, i) => (i === 2 ? { ...n, nameRaw: Buffer.from([0x64, 0x80]).toString('base64') } : n)),
      );
      const target = join(t.path, 'target');
      const r = await restore(repo, { snapshot: 'latest', target });
      assert.equal(r.files, 3);
      assert.equal(readFileSync(join(target, 'back\\slash'), 'utf8'), 'backslash');
      assert.equal(readFileSync(p(target, Buffer.from([0xff, 0xfe])), 'utf8'), 'raw name');
      assert.equal(readFileSync(p(target, Buffer.from([0x64, 0x80]), 'x\\y'), 'utf8'), 'nested');
      assert.deepEqual(
        listAll(target).sort(),
        ['back\\x5cslash', 'd\\x80', 'd\\x80/x\\x5cy', '\\xff\\xfe'].sort(),
      );
    } finally {
      t.cleanup();
    }
  });

  test('a tree listing the same name twice is refused as CORRUPT before anything is written', async () => {
    const cases: [string, Parameters<typeof forge>[1]][] = [
      ['two files', (file) => [file('a', 'first'), file('a', 'second')]],
      [
        'same bytes, once as nameRaw',
        (file) => [
          file('dup', 'first'),
          file('\ufffd', 'second', { nameRaw: Buffer.from('dup').toString('base64') }),
        ],
      ],
      [
        'a directory and a symlink out of the target, nested',
        (file, dir) => [
          dir('sub', [
            dir('x', [file('payload', 'pwned')]),
            { name: 'x', type: 'symlink', mode: 0o777, mtime: '0', uid: 0, gid: 0, target: '../../..' },
          ]),
        ],
      ],
    ];
    for (const [label, build] of cases) {
      const t = tempDir('forged-dup');
      try {
        const repo = await initFsRepo(join(t.path, 'repo'));
        await forge(repo, build);
        const target = join(t.path, 'target');
        await assert.rejects(
          restore(repo, { snapshot: 'latest', target }),
          (err: { code?: string; message: string }) => {
            assert.equal(err.code, 'CORRUPT', `${label}: ${err.message}`);
            assert.match(err.message, /twice/);
            return true;
          },
        );
        assert.deepEqual(listAll(target), [], `${label}: nothing written in the target`);
        assert.equal(existsSync(join(t.path, 'payload')), false, `${label}: nothing written outside`);
      } finally {
        t.cleanup();
      }
    }
  });
});
