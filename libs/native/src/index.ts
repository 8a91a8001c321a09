/**
 * @vaultline/native: the Linux system calls a bit-exact restore needs and Node lacks —
 * nanosecond `utimensat`/`futimens` (symlinks included), extended attributes as raw bytes
 * (`user.*`, `security.capability`, POSIX ACLs as `system.posix_acl_access`/`_default`),
 * `mknod`/`mkfifo`, `lseek` with `SEEK_DATA`/`SEEK_HOLE`, and `scanDir` (a folder's entries with
 * their lstat in one call: what an incremental backup spends its time on).
 *
 * A small N-API addon of our own (`vaultline_native.c`, built by `scripts/build-native.js` into
 * `dist/native/`), loaded lazily on first use. Every function is synchronous and cheap (one
 * system call or a few); paths are a string or a Buffer of raw file-name bytes (not necessarily
 * UTF-8). Failures throw errors shaped like Node's own system errors: `code` ('ENOENT', 'EPERM',
 * 'ENOTSUP', …), `errno` (negative), `syscall`, `path` and the message
 * `"<CODE>: <description>, <syscall> '<path>'"`.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

/** One extended attribute: its name and value exactly as the kernel stores them. */
export interface Xattr {
  name: Buffer;
  value: Buffer;
}

type PathArg = string | Buffer;

interface Binding {
  version: number;
  lutimesNs(path: PathArg, atimeNs: bigint, mtimeNs: bigint): void;
  futimesNs(fd: number, atimeNs: bigint, mtimeNs: bigint): void;
  lgetxattrs(path: PathArg): Xattr[];
  fgetxattrs(fd: number): Xattr[];
  lsetxattr(path: PathArg, name: Buffer | string, value: Buffer): void;
  fsetxattr(fd: number, name: Buffer | string, value: Buffer): void;
  mknod(path: PathArg, mode: number, dev: number | bigint): void;
  mkfifo(path: PathArg, mode: number): void;
  seekData(fd: number, offset: number): number;
  seekHole(fd: number, offset: number): number;
  scanDir(path: PathArg, xattrs: boolean): [ArrayBuffer, ArrayBuffer, ArrayBuffer, ArrayBuffer];
  pwriteDirect(fd: number, data: Buffer, position: number): void;
  alignedBuffer(size: number): ArrayBuffer;
}

/** VAULTLINE_NATIVE_VERSION in vaultline_native.c: a stale binary is refused rather than misused. */
const BINDING_VERSION = 4;
const FUNCTIONS = [
  'lutimesNs',
  'futimesNs',
  'lgetxattrs',
  'fgetxattrs',
  'lsetxattr',
  'fsetxattr',
  'mknod',
  'mkfifo',
  'seekData',
  'seekHole',
  'scanDir',
  'pwriteDirect',
  'alignedBuffer',
] as const;

/** dist/libs/native/src/index.js → dist/native/vaultline_native.node. */
const ADDON_PATH = path.resolve(__dirname, '..', '..', '..', 'native', 'vaultline_native.node');

let binding: Binding | undefined;
let loadError: string | null = null;
let attempted = false;

function load(): Binding | undefined {
  if (attempted) return binding;
  attempted = true;
  try {
    if (process.platform !== 'linux') {
      throw new Error(`the native helper is Linux only (this is ${process.platform})`);
    }
    const loaded = createRequire(__filename)(ADDON_PATH) as unknown;
    const candidate = loaded as Partial<Record<string, unknown>>;
    if (candidate['version'] !== BINDING_VERSION) {
      throw new Error(
        `version ${String(candidate['version'])} found, ${BINDING_VERSION} expected (rebuild: npm run build)`,
      );
    }
    const missing = FUNCTIONS.filter((name) => typeof candidate[name] !== 'function');
    if (missing.length > 0) throw new Error(`missing functions: ${missing.join(', ')}`);
    binding = loaded as Binding;
  } catch (err) {
    loadError = `cannot load ${ADDON_PATH}: ${err instanceof Error ? err.message : String(err)}`;
  }
  return binding;
}

function native(): Binding {
  const b = binding ?? load();
  if (b === undefined) {
    throw Object.assign(new Error(`the native helper is not available: ${loadError ?? 'unknown error'}`), {
      code: 'ERR_VAULTLINE_NATIVE_UNAVAILABLE',
    });
  }
  return b;
}

/** Whether the addon loads here (tries once; never throws). */
export function nativeAvailable(): boolean {
  return (binding ?? load()) !== undefined;
}

/** Why the addon could not be loaded, or null when it loads. */
export function nativeLoadError(): string | null {
  load();
  return loadError;
}

/** utimensat(AT_FDCWD, path, [atime, mtime], AT_SYMLINK_NOFOLLOW): nanosecond-exact, works on symlinks. */
export function lutimesNs(path: string | Buffer, atimeNs: bigint, mtimeNs: bigint): void {
  native().lutimesNs(path, atimeNs, mtimeNs);
}

/** futimens(fd, [atime, mtime]): nanosecond-exact times of an open file. */
export function futimesNs(fd: number, atimeNs: bigint, mtimeNs: bigint): void {
  native().futimesNs(fd, atimeNs, mtimeNs);
}

/**
 * Every extended attribute (llistxattr + lgetxattr, not following symlinks), names in listing
 * order. A file system without xattr support gives []; an attribute removed between the listing
 * and its read is left out.
 */
export function lgetxattrs(path: string | Buffer): Xattr[] {
  return native().lgetxattrs(path);
}

/** Every extended attribute of an open file (flistxattr + fgetxattr), as lgetxattrs. */
export function fgetxattrs(fd: number): Xattr[] {
  return native().fgetxattrs(fd);
}

/** lsetxattr(path, name, value, 0): creates or replaces one attribute, not following symlinks. */
export function lsetxattr(path: string | Buffer, name: Buffer | string, value: Buffer): void {
  native().lsetxattr(path, name, value);
}

/** fsetxattr(fd, name, value, 0). */
export function fsetxattr(fd: number, name: Buffer | string, value: Buffer): void {
  native().fsetxattr(fd, name, value);
}

/** mknod(path, mode, dev): mode includes the S_IFCHR/S_IFBLK/S_IFIFO/S_IFSOCK type bits; dev from stat.rdev. */
export function mknod(path: string | Buffer, mode: number, dev: number | bigint): void {
  native().mknod(path, mode, dev);
}

/** mkfifo(path, mode) (the umask applies, as for mknod). */
export function mkfifo(path: string | Buffer, mode: number): void {
  native().mkfifo(path, mode);
}

/** lseek(fd, offset, SEEK_DATA): the next offset ≥ offset holding data; -1 when ENXIO (no more data past offset). */
export function seekData(fd: number, offset: number): number {
  return native().seekData(fd, offset);
}

/** lseek(fd, offset, SEEK_HOLE): the next hole at or after offset (end of file counts as one); -1 when ENXIO. */
export function seekHole(fd: number, offset: number): number {
  return native().seekHole(fd, offset);
}

/** Direct I/O's alignment: `pwriteDirect` takes lengths and positions that are multiples of it. */
export const DIRECT_ALIGN = 4096;

/**
 * Writes all of `data` at `position` on an fd opened with O_DIRECT (through an aligned bounce
 * buffer, so `data` may sit anywhere). Length and position must be multiples of DIRECT_ALIGN.
 * Throws with the errno's code; EINVAL means the file system does not take direct writes.
 */
export function pwriteDirect(fd: number, data: Buffer, position: number): void {
  native().pwriteDirect(fd, data, position);
}

/**
 * File systems on local block devices, where direct I/O skips the page cache and nothing else
 * (statfs f_type: ext2/3/4, XFS, Btrfs, F2FS). On network file systems (NFS, SMB) an O_DIRECT
 * write is a synchronous round trip, slower than the client's write-back cache; on tmpfs it is a
 * copy all the same. Elsewhere the page cache it is.
 */
const LOCAL_BLOCK_FS = new Set([0xef53, 0x58465342, 0x9123683e, 0xf2f52010]);

/** Whether writes to files under `where` (an existing file or folder) should use O_DIRECT. */
export function directWritesPay(where: string | Buffer): boolean {
  if (fs.constants.O_DIRECT === undefined || !nativeAvailable()) return false;
  try {
    return LOCAL_BLOCK_FS.has(Number(fs.statfsSync(where).type));
  } catch {
    return false;
  }
}

/**
 * A Buffer of `size` bytes (a multiple of DIRECT_ALIGN) at an aligned address: what Node's own
 * asynchronous writes need to go through an O_DIRECT fd. Its memory is freed by the collector.
 */
export function alignedBuffer(size: number): Buffer {
  return Buffer.from(native().alignedBuffer(size));
}

/** A folder listed by `scanDir`. */
export interface DirScan {
  /** Every name's bytes, in byte order of the names; name i is `names[ends[i-1]..ends[i]]`. */
  names: Uint8Array;
  ends: Uint32Array;
  /**
   * SCAN_FIELDS values per entry: mode, uid, gid, size, blocks, nlink, dev, ino, rdev, mtime and
   * ctime in ns (signed 64-bit; zeros where the lstat failed).
   */
  stats: BigInt64Array;
  /** Per entry: 0 lstat ok, no xattrs; 1 lstat ok, xattrs present or unlistable; -errno: lstat failed. */
  flags: Int32Array;
}

/** The lstat fields of each entry in `DirScan.stats`, in order, named as on Node's BigIntStats. */
export const SCAN_FIELD_NAMES = [
  'mode',
  'uid',
  'gid',
  'size',
  'blocks',
  'nlink',
  'dev',
  'ino',
  'rdev',
  'mtimeNs',
  'ctimeNs',
] as const;

/** The number of lstat fields per entry in `DirScan.stats` (SCAN_FIELDS in the C source). */
export const SCAN_FIELDS = SCAN_FIELD_NAMES.length;

/**
 * readdir + sort + fstatat(AT_SYMLINK_NOFOLLOW) per entry (+ llistxattr when `xattrs`), in one
 * call; a folder that cannot be read throws as Node's readdir does (syscall 'scandir'). The
 * arrays own their memory, so they can be transferred between threads.
 */
export function scanDir(path: string | Buffer, xattrs: boolean): DirScan {
  const [names, ends, stats, flags] = native().scanDir(path, xattrs);
  return {
    names: new Uint8Array(names),
    ends: new Uint32Array(ends),
    stats: new BigInt64Array(stats),
    flags: new Int32Array(flags),
  };
}
