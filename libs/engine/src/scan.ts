/**
 * One directory listed with every entry's lstat and xattrs, in a worker thread. An incremental
 * backup reads almost no file, and its time is these system calls (slow on a paravirtualised VM,
 * ~13 µs an lstat here): run in the worker threads, several directories ahead of the walk, they
 * use every core instead of the walk's one.
 */
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { keyedHash } from './crypto';
import * as native from '@vaultline/native';
import { nativeMeta, readXattrs } from './fsmeta';

/** Bytes of a path fingerprint (`pathFingerprint` in manifest.ts). */
const FP_LEN = 16;

/** What the walk reads of an entry's lstat: Node's `BigIntStats` has it, and so does `PackedStat`. */
export type EntryStat = Pick<
  BigIntStats,
  | 'mode'
  | 'uid'
  | 'gid'
  | 'size'
  | 'blocks'
  | 'nlink'
  | 'dev'
  | 'ino'
  | 'rdev'
  | 'mtimeNs'
  | 'ctimeNs'
  | 'isFile'
  | 'isDirectory'
  | 'isSymbolicLink'
  | 'isFIFO'
  | 'isCharacterDevice'
  | 'isBlockDevice'
  | 'isSocket'
>;

/** Node's listing fills the same fields, in the same order, as the native one. */
const FIELDS = native.SCAN_FIELD_NAMES;
const S_IFMT = 0o170000n;

/** An lstat unpacked from a scan: fields from the shared array, types from the mode. */
export class PackedStat implements EntryStat {
  constructor(
    private readonly a: BigInt64Array,
    private readonly o: number,
  ) {}
  get mode(): bigint {
    return this.a[this.o]!;
  }
  get uid(): bigint {
    return this.a[this.o + 1]!;
  }
  get gid(): bigint {
    return this.a[this.o + 2]!;
  }
  get size(): bigint {
    return this.a[this.o + 3]!;
  }
  get blocks(): bigint {
    return this.a[this.o + 4]!;
  }
  get nlink(): bigint {
    return this.a[this.o + 5]!;
  }
  get dev(): bigint {
    return this.a[this.o + 6]!;
  }
  get ino(): bigint {
    return this.a[this.o + 7]!;
  }
  get rdev(): bigint {
    return this.a[this.o + 8]!;
  }
  get mtimeNs(): bigint {
    return this.a[this.o + 9]!;
  }
  get ctimeNs(): bigint {
    return this.a[this.o + 10]!;
  }
  private is(type: bigint): boolean {
    return (this.mode & S_IFMT) === type;
  }
  isFile(): boolean {
    return this.is(0o100000n);
  }
  isDirectory(): boolean {
    return this.is(0o040000n);
  }
  isSymbolicLink(): boolean {
    return this.is(0o120000n);
  }
  isFIFO(): boolean {
    return this.is(0o010000n);
  }
  isCharacterDevice(): boolean {
    return this.is(0o020000n);
  }
  isBlockDevice(): boolean {
    return this.is(0o060000n);
  }
  isSocket(): boolean {
    return this.is(0o140000n);
  }
}

/** Several folders in one message (a message costs more than a few lstats here). */
export interface ScanDirJob {
  op: 'scanDir';
  dirs: { path: Uint8Array; rel: Uint8Array | null }[];
  /** Path-fingerprint key: each entry's fingerprint is computed beside its lstat. */
  pathKey: Uint8Array;
}

/** A directory's entries in name (byte) order; per entry an lstat or its error, and xattrs. */
export interface ScanDirResult {
  /** The listing failed: nothing else is set. */
  error?: string;
  /** Every name's bytes, one after another; name i is `names[ends[i-1]..ends[i]]`. */
  names: Uint8Array;
  ends: Uint32Array;
  /** `FIELDS.length` values per entry (zeros where `statErrors[i]` is set). */
  stats: BigInt64Array;
  statErrors: (string | null)[];
  xattrs: ([string, string][] | null)[];
  xattrErrors: (string | null)[];
  /** 16 bytes per entry: the path fingerprint of a regular file's path relative to the source (zeros for other entries). */
  fps: Uint8Array;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs in a worker thread. Errors are per entry, as the walk on the main thread reports them. */
export function scanDirs(job: ScanDirJob): ScanDirResult[] {
  const key = Buffer.from(job.pathKey.buffer, job.pathKey.byteOffset, job.pathKey.byteLength);
  return job.dirs.map((d) => scanDir(d.path, d.rel, key));
}

/** The buffers a scan transfers back. */
export function scanTransfer(results: ScanDirResult[]): ArrayBuffer[] {
  return results.flatMap(
    (r) => [r.stats.buffer, r.names.buffer, r.ends.buffer, r.fps.buffer] as ArrayBuffer[],
  );
}

function emptyScan(error: string): ScanDirResult {
  return {
    error,
    names: new Uint8Array(0),
    ends: new Uint32Array(0),
    fps: new Uint8Array(0),
    stats: new BigInt64Array(0),
    statErrors: [],
    xattrs: [],
    xattrErrors: [],
  };
}

const SLASH = Buffer.from('/');
const S_IFREG = 0o100000n;

/** One folder: the native listing (one call, fstatat per entry) where the helper loads, else Node's. */
export function scanDir(path: Uint8Array, rel: Uint8Array | null, key: Buffer): ScanDirResult {
  const dir = Buffer.from(path.buffer, path.byteOffset, path.byteLength);
  const relDir = rel ? Buffer.from(rel.buffer, rel.byteOffset, rel.byteLength) : null;
  return nativeMeta ? scanNative(dir, relDir, key) : scanNode(dir, relDir, key);
}

/** The native listing (exported beside `scanNode` so tests can hold the two to the same result). */
export function scanNative(dir: Buffer, relDir: Buffer | null, key: Buffer): ScanDirResult {
  let scan: native.DirScan;
  try {
    scan = native.scanDir(dir, true);
  } catch (err) {
    return emptyScan(describe(err));
  }
  const { names, ends, stats, flags } = scan;
  const n = ends.length;
  const statErrors = new Array<string | null>(n).fill(null);
  const xattrs = new Array<[string, string][] | null>(n).fill(null);
  const xattrErrors = new Array<string | null>(n).fill(null);
  const fps = new Uint8Array(n * FP_LEN);
  let start = 0;
  for (let i = 0; i < n; i++) {
    const name = Buffer.from(names.buffer, names.byteOffset + start, ends[i]! - start);
    start = ends[i]!;
    const flag = flags[i]!;
    if (flag === 0 && (stats[i * FIELDS.length]! & S_IFMT) !== S_IFREG) continue;
    const abs = flag === 0 ? null : Buffer.concat([dir, SLASH, name]);
    if (flag < 0) {
      // The lstat failed (the entry went away, or no permission): repeated for Node's own error.
      try {
        const st = lstatSync(abs!, { bigint: true });
        FIELDS.forEach((f, j) => (stats[i * FIELDS.length + j] = st[f]));
      } catch (err) {
        statErrors[i] = describe(err);
        continue;
      }
    }
    if (flag !== 0) {
      let xattrError: string | null = null;
      xattrs[i] = readXattrs(abs!, (m) => (xattrError = m)) ?? null;
      xattrErrors[i] = xattrError;
    }
    // Only files are looked up in the parent's manifest.
    if ((stats[i * FIELDS.length]! & S_IFMT) === S_IFREG)
      fps.set(
        keyedHash(key, relDir ? Buffer.concat([relDir, SLASH, name]) : name).subarray(0, FP_LEN),
        i * FP_LEN,
      );
  }
  return { names, ends, stats, statErrors, xattrs, xattrErrors, fps };
}

/** Node's listing: readdir, then an lstat and an xattr read per entry. */
export function scanNode(dir: Buffer, relDir: Buffer | null, key: Buffer): ScanDirResult {
  let names: Buffer[];
  try {
    names = readdirSync(dir, { encoding: 'buffer' }).sort((a, b) => Buffer.compare(a, b));
  } catch (err) {
    return emptyScan(describe(err));
  }
  const stats = new BigInt64Array(names.length * FIELDS.length);
  const statErrors: (string | null)[] = [];
  const xattrs: ([string, string][] | null)[] = [];
  const xattrErrors: (string | null)[] = [];
  const fps = new Uint8Array(names.length * FP_LEN);
  names.forEach((name, i) => {
    const abs = Buffer.concat([dir, SLASH, name]);
    fps.set(
      keyedHash(key, relDir ? Buffer.concat([relDir, SLASH, name]) : name).subarray(0, FP_LEN),
      i * FP_LEN,
    );
    let st: BigIntStats;
    try {
      st = lstatSync(abs, { bigint: true });
    } catch (err) {
      statErrors.push(describe(err));
      xattrs.push(null);
      xattrErrors.push(null);
      return;
    }
    statErrors.push(null);
    FIELDS.forEach((f, j) => (stats[i * FIELDS.length + j] = st[f]));
    let xattrError: string | null = null;
    xattrs.push(readXattrs(abs, (m) => (xattrError = m)) ?? null);
    xattrErrors.push(xattrError);
  });
  // One buffer of its own for all names: a Buffer from readdir is a view of a shared 8 KiB pool,
  // and posting a view copies the whole pool behind it.
  const ends = new Uint32Array(names.length);
  let total = 0;
  names.forEach((n, i) => (ends[i] = total += n.length));
  const packed = new Uint8Array(total);
  names.forEach((n, i) => packed.set(n, i === 0 ? 0 : ends[i - 1]));
  return { names: packed, ends, stats, statErrors, xattrs, xattrErrors, fps };
}

export const PACKED_FIELDS = FIELDS.length;

/** The names of a scan, as Buffers over its one transferred buffer. */
export function scannedNames(r: ScanDirResult): Buffer[] {
  const out = new Array<Buffer>(r.ends.length);
  let start = 0;
  for (let i = 0; i < r.ends.length; i++) {
    out[i] = Buffer.from(r.names.buffer, r.names.byteOffset + start, r.ends[i]! - start);
    start = r.ends[i]!;
  }
  return out;
}

/** Entry i's path fingerprint, as `pathFingerprint` writes it. */
export function scannedFingerprint(r: ScanDirResult, i: number): string {
  return scannedFingerprintBytes(r, i).toString('base64url');
}

/** Entry `i`'s fingerprint: a view of the listing's bytes. */
export function scannedFingerprintBytes(r: ScanDirResult, i: number): Buffer {
  return Buffer.from(r.fps.buffer, r.fps.byteOffset + i * FP_LEN, FP_LEN);
}

/** A path to post to a worker: a copy that owns its memory (see `ScanDirResult.names`). */
export function ownedPath(path: Buffer): Uint8Array {
  return new Uint8Array(path);
}
