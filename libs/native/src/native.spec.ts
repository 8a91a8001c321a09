import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  constants as fsConstants,
  existsSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getSystemErrorName } from 'node:util';

import {
  alignedBuffer,
  fgetxattrs,
  fsetxattr,
  futimesNs,
  lgetxattrs,
  lsetxattr,
  lutimesNs,
  mkfifo,
  mknod,
  nativeAvailable,
  nativeLoadError,
  pwriteDirect,
  scanDir,
  SCAN_FIELDS,
  SCAN_FIELD_NAMES,
  seekData,
  seekHole,
  type Xattr,
} from './index';

const isRoot = process.getuid?.() === 0;

/** 2023-11-14T22:13:20.123456789Z and 1950-01-01T00:00:00.876543211Z (−631152000 s + 876543211 ns − 1 s). */
const MODERN_NS = 1_700_000_000_123_456_789n;
const PRE_1970_NS = -631_152_000_123_456_789n;

/** A new file opened for writing with O_DIRECT, or null where the file system refuses it. */
function openDirect(file: string): number | null {
  try {
    return openSync(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_DIRECT, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return null;
    throw err;
  }
}

function systemError(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof Error, 'an Error');
    return err;
  }
  assert.fail('expected an error');
}

/** The user.* attributes only (SELinux or others may add security.* ones), keyed by name bytes. */
function userXattrs(list: Xattr[]): Map<string, string> {
  return new Map(
    list
      .filter((x) => x.name.subarray(0, 5).toString('latin1') === 'user.')
      .map((x) => [x.name.toString('hex'), x.value.toString('hex')]),
  );
}

function hasCommand(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).error === undefined;
}

/** Whether `dir`'s file system takes user.* attributes with a value of `size` bytes (null) or why not. */
function refusesUserXattrs(dir: string, size: number): string | null {
  const probe = path.join(dir, `vaultline-xattr-probe-${process.pid}-${size}`);
  writeFileSync(probe, '');
  try {
    lsetxattr(probe, 'user.vaultline.probe', Buffer.alloc(size, 1));
    return null;
  } catch (err) {
    return `${dir} refuses a ${size}-byte user.* attribute: ${(err as Error).message}`;
  } finally {
    rmSync(probe, { force: true });
  }
}

describe('@vaultline/native', () => {
  let dir: string;
  let n = 0;
  const fresh = (name = 'f'): string => path.join(dir, `${name}-${++n}`);

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'vaultline-native-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('loads', () => {
    assert.equal(nativeLoadError(), null);
    assert.equal(nativeAvailable(), true);
  });

  describe('nanosecond timestamps', () => {
    for (const [label, ns] of [
      ['an odd nanosecond count', MODERN_NS],
      ['a time before 1970', PRE_1970_NS],
    ] as const) {
      test(`lutimesNs on a file: ${label}`, () => {
        const file = fresh();
        writeFileSync(file, 'x');
        lutimesNs(file, ns + 2n, ns);
        const st = lstatSync(file, { bigint: true });
        assert.equal(st.mtimeNs, ns);
        assert.equal(st.atimeNs, ns + 2n);
      });

      test(`lutimesNs on a symlink, not its target: ${label}`, () => {
        const target = fresh('target');
        writeFileSync(target, 'x');
        const before = lstatSync(target, { bigint: true }).mtimeNs;
        const link = fresh('link');
        symlinkSync(target, link);
        lutimesNs(link, ns, ns);
        assert.equal(lstatSync(link, { bigint: true }).mtimeNs, ns);
        assert.equal(lstatSync(target, { bigint: true }).mtimeNs, before, 'the target is untouched');
      });

      test(`futimesNs: ${label}`, () => {
        const file = fresh();
        const fd = openSync(file, 'w');
        try {
          futimesNs(fd, ns, ns - 1n);
        } finally {
          closeSync(fd);
        }
        const st = lstatSync(file, { bigint: true });
        assert.equal(st.mtimeNs, ns - 1n);
        assert.equal(st.atimeNs, ns);
      });
    }

    test('a symlink to nothing takes times too', () => {
      const link = fresh('dangling');
      symlinkSync(path.join(dir, 'nothing-here'), link);
      lutimesNs(link, 1n, 123_456_789n);
      assert.equal(lstatSync(link, { bigint: true }).mtimeNs, 123_456_789n);
    });
  });

  describe('extended attributes', () => {
    test('user.* round trip: string and non-UTF-8 names, empty value, many names, path and fd', (t) => {
      const reason = refusesUserXattrs(dir, 16);
      if (reason) return t.skip(reason);
      const file = fresh();
      writeFileSync(file, 'data');
      const badName = Buffer.concat([
        Buffer.from('user.'),
        Buffer.from([0xff, 0xfe, 0x80]),
        Buffer.from('x'),
      ]);
      const expected = new Map<string, string>();
      const set = (name: string | Buffer, value: Buffer) => {
        lsetxattr(file, name, value);
        expected.set(Buffer.from(name).toString('hex'), value.toString('hex'));
      };
      set('user.vaultline.text', Buffer.from('hello'));
      set(badName, Buffer.from([0, 1, 2, 255]));
      set('user.empty', Buffer.alloc(0));
      // 60 names of ~30 bytes: a listing longer than the addon's first buffer (it grows).
      for (let i = 0; i < 60; i++) set(`user.vaultline.many.${String(i).padStart(8, '0')}`, Buffer.from([i]));

      assert.deepEqual(userXattrs(lgetxattrs(file)), expected);
      const listed = lgetxattrs(file).find((x) => x.name.equals(badName));
      assert.ok(listed && Buffer.isBuffer(listed.name) && Buffer.isBuffer(listed.value));
      assert.equal(lgetxattrs(file).find((x) => x.name.toString() === 'user.empty')?.value.length, 0);

      // Replacing a value, through an fd; reading through an fd.
      const fd = openSync(file, 'r');
      try {
        fsetxattr(fd, 'user.vaultline.text', Buffer.from('replaced'));
        fsetxattr(fd, Buffer.from('user.fd'), Buffer.from('via fd'));
        expected.set(
          Buffer.from('user.vaultline.text').toString('hex'),
          Buffer.from('replaced').toString('hex'),
        );
        expected.set(Buffer.from('user.fd').toString('hex'), Buffer.from('via fd').toString('hex'));
        assert.deepEqual(userXattrs(fgetxattrs(fd)), expected);
      } finally {
        closeSync(fd);
      }
      assert.deepEqual(userXattrs(lgetxattrs(file)), expected);
    });

    test('a file without attributes, and a symlink (not followed), list none', (t) => {
      const file = fresh();
      writeFileSync(file, '');
      assert.deepEqual(userXattrs(lgetxattrs(file)), new Map());
      const reason = refusesUserXattrs(dir, 1);
      if (reason) return t.skip(reason);
      lsetxattr(file, 'user.on-target', Buffer.from('1'));
      const link = fresh('link');
      symlinkSync(file, link);
      assert.deepEqual(userXattrs(lgetxattrs(link)), new Map(), "the target's attributes are not the link's");
    });

    test('a 64 KiB value (the Linux maximum) round trips', (t) => {
      // ext4 keeps all of a file's attributes in one block (4 KiB) unless ea_inode is on; tmpfs
      // takes 64 KiB, so /dev/shm is tried too.
      const reasons: string[] = [];
      const where = [dir, '/dev/shm'].find((d) => {
        if (!existsSync(d)) return false;
        const reason = refusesUserXattrs(d, 65536);
        if (reason) reasons.push(reason);
        return reason === null;
      });
      if (!where) return t.skip(reasons.join('; '));
      const file = path.join(where === dir ? dir : where, `vaultline-native-big-${process.pid}`);
      writeFileSync(file, '');
      try {
        const value = Buffer.alloc(65536);
        for (let i = 0; i < value.length; i++) value[i] = (i * 7) & 0xff;
        lsetxattr(file, 'user.big', value);
        lsetxattr(file, 'user.small', Buffer.from('s'));
        const got = userXattrs(lgetxattrs(file));
        assert.equal(got.get(Buffer.from('user.big').toString('hex')), value.toString('hex'));
        assert.equal(got.get(Buffer.from('user.small').toString('hex')), Buffer.from('s').toString('hex'));
      } finally {
        rmSync(file, { force: true });
      }
    });

    test('security.capability round trip (root)', (t) => {
      if (!isRoot) return t.skip('needs root (CAP_SETFCAP)');
      const file = fresh();
      writeFileSync(file, '');
      // struct vfs_cap_data, revision 2, effective: cap_net_bind_service (bit 10) permitted.
      const value = Buffer.alloc(20);
      value.writeUInt32LE(0x02000001, 0);
      value.writeUInt32LE(1 << 10, 4);
      try {
        lsetxattr(file, 'security.capability', value);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EPERM')
          return t.skip(`refused here: ${(err as Error).message}`);
        throw err;
      }
      const cap = lgetxattrs(file).find((x) => x.name.toString() === 'security.capability');
      assert.ok(cap, 'listed');
      assert.deepEqual(cap.value, value);
      if (hasCommand('getcap')) {
        const out = spawnSync('getcap', [file], { encoding: 'utf8' }).stdout;
        assert.match(out, /cap_net_bind_service[=+]ep/);
      }
    });

    test('POSIX ACLs copy as system.posix_acl_access / system.posix_acl_default', (t) => {
      if (!hasCommand('setfacl') || !hasCommand('getfacl'))
        return t.skip('setfacl not installed (apt package acl)');
      const src = fresh('acl-dir');
      mkdirSync(src);
      const setfacl = spawnSync(
        'setfacl',
        ['-m', 'u:12345:rwx,g:23456:r-x,m::rwx', '-d', '-m', 'u:12345:r-x', src],
        {
          encoding: 'utf8',
        },
      );
      if (setfacl.status !== 0) return t.skip(`setfacl refused here: ${setfacl.stderr.trim()}`);

      const acls = lgetxattrs(src).filter((x) => x.name.toString().startsWith('system.posix_acl_'));
      assert.deepEqual(acls.map((x) => x.name.toString()).sort(), [
        'system.posix_acl_access',
        'system.posix_acl_default',
      ]);
      const dst = fresh('acl-copy');
      mkdirSync(dst);
      for (const x of acls) lsetxattr(dst, x.name, x.value);

      const facl = (p: string) =>
        spawnSync('getfacl', ['--omit-header', '--numeric', p], { encoding: 'utf8' }).stdout;
      assert.match(facl(src), /user:12345:rwx/);
      assert.match(facl(src), /default:user:12345:r-x/);
      assert.equal(facl(dst), facl(src));
    });
  });

  describe('special files', () => {
    test('mkfifo and mknod S_IFIFO make FIFOs', () => {
      const fifo = fresh('fifo');
      mkfifo(fifo, 0o600);
      const st = lstatSync(fifo);
      assert.ok(st.isFIFO());
      assert.equal(st.mode & 0o777, 0o600);
      const viaMknod = fresh('fifo');
      mknod(viaMknod, fsConstants.S_IFIFO | 0o640, 0);
      assert.ok(lstatSync(viaMknod).isFIFO());
    });

    test('mknod makes a character device like /dev/null (root)', (t) => {
      if (!isRoot) return t.skip('needs root (CAP_MKNOD)');
      const rdev = (1 << 8) | 3; // makedev(1, 3) in glibc's encoding
      const dev = fresh('null');
      try {
        mknod(dev, fsConstants.S_IFCHR | 0o600, rdev);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EPERM')
          return t.skip(`refused here: ${(err as Error).message}`);
        throw err;
      }
      const st = lstatSync(dev);
      assert.ok(st.isCharacterDevice());
      assert.equal(st.rdev, rdev);
      assert.equal(st.mode & 0o777, 0o600);
      if (existsSync('/dev/null'))
        assert.equal(st.rdev, statSync('/dev/null').rdev, 'as stat reports /dev/null');

      const block = fresh('block');
      mknod(block, fsConstants.S_IFBLK | 0o600, BigInt((7 << 8) | 0)); // makedev(7, 0), a bigint
      assert.ok(lstatSync(block).isBlockDevice());
      assert.equal(lstatSync(block, { bigint: true }).rdev, BigInt(7 << 8));
    });
  });

  test('seekData / seekHole find the data in a sparse file', (t) => {
    const file = fresh('sparse');
    const MiB = 1024 * 1024;
    const fd = openSync(file, 'w+');
    try {
      ftruncateSync(fd, 8 * MiB);
      writeSync(fd, Buffer.alloc(64 * 1024, 0xab), 0, 64 * 1024, 4 * MiB);
      if (seekHole(fd, 0) === 8 * MiB) return t.skip(`${dir}'s file system does not report holes`);
      assert.equal(seekHole(fd, 0), 0, 'a hole from the start');
      assert.equal(seekData(fd, 0), 4 * MiB);
      assert.equal(seekHole(fd, 4 * MiB), 4 * MiB + 64 * 1024);
      assert.equal(seekData(fd, 4 * MiB + 64 * 1024), -1, 'no data after the write (ENXIO)');
      assert.equal(seekHole(fd, 5 * MiB), 5 * MiB);
      assert.equal(seekData(fd, 8 * MiB), -1, 'at the end of the file');
      assert.equal(seekHole(fd, 8 * MiB), -1, 'at the end of the file');
    } finally {
      closeSync(fd);
    }
  });

  test('pwriteDirect writes through O_DIRECT from an unaligned buffer, aligned offsets only', (t) => {
    const file = fresh('direct');
    const fd = openDirect(file);
    if (fd === null) return t.skip(`${dir} takes no O_DIRECT`);
    const data = Buffer.alloc(3 * 1024 * 1024 + 8192);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 12)) & 0xff;
    try {
      // A view at an odd address, longer than the 1 MiB bounce buffer, at a non-zero position.
      pwriteDirect(fd, data.subarray(1, 1 + 3 * 1024 * 1024), 8192);
      assert.throws(() => pwriteDirect(fd, data.subarray(0, 4095), 0), RangeError);
      assert.throws(() => pwriteDirect(fd, data.subarray(0, 4096), 100), RangeError);
    } finally {
      closeSync(fd);
    }
    const back = readFileSync(file);
    assert.equal(back.length, 8192 + 3 * 1024 * 1024);
    assert.ok(back.subarray(0, 8192).equals(Buffer.alloc(8192)), 'a hole before the write');
    assert.ok(back.subarray(8192).equals(data.subarray(1, 1 + 3 * 1024 * 1024)));
    const ro = openSync(file, 'r');
    try {
      assert.equal(systemError(() => pwriteDirect(ro, data.subarray(0, 4096), 0)).code, 'EBADF');
    } finally {
      closeSync(ro);
    }
  });

  test("alignedBuffer: whole blocks, writable through an O_DIRECT fd with Node's own write", (t) => {
    assert.throws(() => alignedBuffer(100), RangeError);
    assert.throws(() => alignedBuffer(0), RangeError);
    const buf = alignedBuffer(8192);
    assert.equal(buf.length, 8192);
    buf.fill(0x5a);
    const file = fresh('aligned');
    const fd = openDirect(file);
    if (fd === null) return t.skip(`${dir} takes no O_DIRECT`);
    try {
      assert.equal(
        writeSync(fd, buf, 0, 8192, 4096),
        8192,
        'an unaligned Buffer would fail with EINVAL here',
      );
    } finally {
      closeSync(fd);
    }
    assert.ok(readFileSync(file).subarray(4096).equals(buf));
  });

  describe('errors look like Node system errors', () => {
    test('a missing path: code, errno, syscall, path, message — as fs reports it', () => {
      const missing = path.join(dir, 'no-such-dir', 'file');
      const ours = systemError(() => lutimesNs(missing, 0n, 0n));
      const nodes = systemError(() => lstatSync(missing));
      assert.equal(ours.code, 'ENOENT');
      assert.equal(ours.errno, -osConstants.errno.ENOENT);
      assert.equal(ours.errno, nodes.errno);
      assert.equal(ours.syscall, 'utimensat');
      assert.equal(ours.path, missing);
      assert.equal(ours.message, `ENOENT: no such file or directory, utimensat '${missing}'`);
      assert.equal(ours.message, nodes.message.replace('lstat', 'utimensat'));

      for (const [fn, syscall] of [
        [() => lgetxattrs(missing), 'llistxattr'],
        [() => lsetxattr(missing, 'user.x', Buffer.alloc(1)), 'lsetxattr'],
        [() => mknod(missing, fsConstants.S_IFIFO | 0o600, 0), 'mknod'],
        [() => mkfifo(missing, 0o600), 'mkfifo'],
      ] as const) {
        const err = systemError(fn);
        assert.equal(err.code, 'ENOENT', syscall);
        assert.equal(err.syscall, syscall);
        assert.equal(err.errno, -osConstants.errno.ENOENT);
      }
    });

    test('codes are the names Node uses (ENOTSUP, EEXIST, EBADF)', () => {
      const file = fresh();
      writeFileSync(file, '');
      const notsup = systemError(() => lsetxattr(file, 'nonamespace.x', Buffer.from('v')));
      assert.equal(notsup.code, 'ENOTSUP');
      assert.equal(getSystemErrorName(notsup.errno ?? 0), 'ENOTSUP');
      assert.equal(notsup.syscall, 'lsetxattr');

      const exists = systemError(() => mkfifo(file, 0o600));
      assert.equal(exists.code, 'EEXIST');
      assert.equal(getSystemErrorName(exists.errno ?? 0), 'EEXIST');

      const fd = openSync(file, 'r');
      closeSync(fd);
      for (const [fn, syscall] of [
        [() => futimesNs(fd, 0n, 0n), 'futimens'],
        [() => fgetxattrs(fd), 'flistxattr'],
        [() => fsetxattr(fd, 'user.x', Buffer.alloc(0)), 'fsetxattr'],
        [() => seekData(fd, 0), 'lseek'],
      ] as const) {
        const err = systemError(fn);
        assert.equal(err.code, 'EBADF', syscall);
        assert.equal(err.syscall, syscall);
        assert.equal(err.message, `EBADF: bad file descriptor, ${syscall}`);
        assert.equal(err.path, undefined);
      }
    });

    test('a non-UTF-8 path in a message is escaped', () => {
      const missing = Buffer.concat([Buffer.from(path.join(dir, 'gone') + '/'), Buffer.from([0xff, 0x41])]);
      const err = systemError(() => lgetxattrs(missing));
      assert.equal(err.code, 'ENOENT');
      assert.equal(
        err.message,
        `ENOENT: no such file or directory, llistxattr '${path.join(dir, 'gone')}/\\xffA'`,
      );
    });

    test('wrong arguments are TypeErrors / RangeErrors with Node codes', () => {
      const file = fresh();
      writeFileSync(file, '');
      const cases: [() => unknown, string, typeof TypeError][] = [
        [() => lutimesNs(42 as unknown as string, 0n, 0n), 'ERR_INVALID_ARG_TYPE', TypeError],
        [() => lutimesNs(file, 0 as unknown as bigint, 0n), 'ERR_INVALID_ARG_TYPE', TypeError],
        [() => lutimesNs(file, 2n ** 64n, 0n), 'ERR_OUT_OF_RANGE', RangeError],
        [() => lutimesNs(`${file}\0x`, 0n, 0n), 'ERR_INVALID_ARG_VALUE', TypeError],
        [() => lsetxattr(file, 'user.x', 'v' as unknown as Buffer), 'ERR_INVALID_ARG_TYPE', TypeError],
        [() => futimesNs(-1, 0n, 0n), 'ERR_OUT_OF_RANGE', RangeError],
        [() => seekData(0, -1), 'ERR_OUT_OF_RANGE', RangeError],
        [() => mknod(file, 1.5, 0), 'ERR_OUT_OF_RANGE', RangeError],
        [() => (mkfifo as (p: string) => void)(file), 'ERR_INVALID_ARG_TYPE', TypeError],
      ];
      for (const [fn, code, type] of cases) {
        const err = systemError(fn);
        assert.ok(err instanceof type, `${code}: ${err.message}`);
        assert.equal(err.code, code, err.message);
      }
      // A path longer than PATH_MAX: the kernel's ENAMETOOLONG, before any copy overflows.
      const long = systemError(() => lutimesNs('/' + 'a/'.repeat(3000), 0n, 0n));
      assert.equal(long.code, 'ENAMETOOLONG');
      const longName = systemError(() => lsetxattr(file, `user.${'n'.repeat(300)}`, Buffer.alloc(0)));
      assert.equal(longName.code, 'ERANGE');
      assert.equal(longName.message, `ERANGE: numerical result out of range, lsetxattr '${file}'`);
    });
  });

  describe('scanDir', () => {
    test('lists every entry in byte order with the lstat Node gives, without following symlinks', () => {
      const root = fresh('scan');
      mkdirSync(root);
      const raw = Buffer.from([0x7a, 0xff, 0x2e, 0x62]); // "z\xff.b": not UTF-8
      const names = [
        Buffer.from('b'),
        Buffer.from('a'),
        Buffer.from('ab'),
        Buffer.from('back\\slash'),
        raw,
        Buffer.from('sub'),
      ];
      for (const name of names.slice(0, 5))
        writeFileSync(Buffer.concat([Buffer.from(root + '/'), name]), name);
      mkdirSync(path.join(root, 'sub'));
      symlinkSync('does-not-exist', path.join(root, 'link'));
      names.push(Buffer.from('link'));
      lutimesNs(path.join(root, 'a'), MODERN_NS, PRE_1970_NS);

      const scan = scanDir(root, false);
      const listed: Buffer[] = [];
      let start = 0;
      for (const end of scan.ends) {
        listed.push(Buffer.from(scan.names.subarray(start, end)));
        start = end;
      }
      assert.deepEqual(
        listed,
        [...names].sort((a, b) => Buffer.compare(a, b)),
        'names in Buffer.compare order',
      );
      assert.equal(scan.stats.length, listed.length * SCAN_FIELDS);
      assert.deepEqual(
        [...scan.flags],
        listed.map(() => 0),
      );
      listed.forEach((name, i) => {
        const st = lstatSync(Buffer.concat([Buffer.from(root + '/'), name]), { bigint: true });
        SCAN_FIELD_NAMES.forEach((f, j) => {
          // Signed 64-bit, as BigInt64Array holds them (no real inode number reaches 2^63).
          assert.equal(
            scan.stats[i * SCAN_FIELDS + j],
            BigInt.asIntN(64, st[f]),
            `${name.toString('latin1')}: ${f}`,
          );
        });
      });
      const a = listed.findIndex((x) => x.equals(Buffer.from('a')));
      assert.equal(scan.stats[a * SCAN_FIELDS + 9], PRE_1970_NS, 'mtime to the nanosecond, before 1970 too');
    });

    test('flags entries with extended attributes when asked', (t) => {
      const root = fresh('scanx');
      mkdirSync(root);
      writeFileSync(path.join(root, 'plain'), '');
      writeFileSync(path.join(root, 'tagged'), '');
      if (refusesUserXattrs(root, 1)) return t.skip('user xattrs refused here');
      lsetxattr(path.join(root, 'tagged'), 'user.k', Buffer.from('v'));
      // SELinux and the like may label every file: compare with what the kernel lists.
      const expected = ['plain', 'tagged'].map((n) => (lgetxattrs(path.join(root, n)).length > 0 ? 1 : 0));
      assert.deepEqual([...scanDir(root, true).flags], expected);
      assert.deepEqual([...scanDir(root, false).flags], [0, 0]);
    });

    test('an empty folder, and a folder that cannot be listed', () => {
      const root = fresh('scane');
      mkdirSync(root);
      const empty = scanDir(root, true);
      assert.equal(empty.ends.length, 0);
      assert.equal(empty.names.byteLength, 0);
      const missing = path.join(root, 'missing');
      const err = systemError(() => scanDir(missing, true));
      assert.equal(err.code, 'ENOENT');
      assert.equal(err.syscall, 'scandir');
      assert.equal(err.message, `ENOENT: no such file or directory, scandir '${missing}'`);
      writeFileSync(path.join(root, 'file'), '');
      assert.equal(systemError(() => scanDir(path.join(root, 'file'), false)).code, 'ENOTDIR');
    });

    test('the arrays own their memory (they can be transferred to another thread)', () => {
      const root = fresh('scant');
      mkdirSync(root);
      writeFileSync(path.join(root, 'x'), '');
      const scan = scanDir(root, false);
      const copy = structuredClone(scan, {
        transfer: [
          scan.names.buffer,
          scan.ends.buffer,
          scan.stats.buffer,
          scan.flags.buffer,
        ] as ArrayBuffer[],
      });
      assert.equal(Buffer.from(copy.names).toString(), 'x');
      assert.equal(scan.names.byteLength, 0, 'detached after the transfer');
    });
  });

  test('a file name that is not valid UTF-8, given as a Buffer', (t) => {
    const name = Buffer.from([0x6e, 0xff, 0xfe, 0x80, 0x2e, 0x62, 0x69, 0x6e]); // "n\xff\xfe\x80.bin"
    const file = Buffer.concat([Buffer.from(dir + '/'), name]);
    writeFileSync(file, 'x');
    assert.ok(
      readdirSync(dir, { encoding: 'buffer' }).some((entry) => entry.equals(name)),
      'the raw bytes are the name',
    );
    lutimesNs(file, MODERN_NS, PRE_1970_NS);
    assert.equal(lstatSync(file, { bigint: true }).mtimeNs, PRE_1970_NS);

    const fifo = Buffer.concat([file, Buffer.from([0xc3, 0x28])]); // an invalid 2-byte sequence
    mkfifo(fifo, 0o600);
    assert.ok(lstatSync(fifo).isFIFO());

    if (refusesUserXattrs(dir, 1)) return t.skip('user xattrs refused here');
    lsetxattr(file, 'user.raw', Buffer.from('v'));
    assert.deepEqual(
      userXattrs(lgetxattrs(file)),
      new Map([[Buffer.from('user.raw').toString('hex'), Buffer.from('v').toString('hex')]]),
    );
  });
});
