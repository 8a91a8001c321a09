import { randomBytes } from 'node:crypto';
import { constants as fsConstants, type Dirent, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { getSystemErrorMessage } from 'node:util';
import { DIRECT_ALIGN, alignedBuffer, directWritesPay } from '@vaultline/native';

import type { ByteRange, Spool, StorageBackend, StoredObject } from './backend';
import { StorageError, assertValidName, assertValidPrefix, errorCode, assertValidRange } from './errors';

/** Leftovers of interrupted puts carry this prefix; they are never listed as objects. */
export const TEMP_PREFIX = '.tmp-';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
/** How many stat calls list() keeps in flight per directory (network folders are latency-bound). */
const STAT_BATCH = 64;

export interface FsOpenOptions {
  /** Create the root directory (and its parents) when it does not exist. */
  create?: boolean;
}

/** What was being done when a filesystem call failed, for the error message. */
export interface FsErrorContext {
  /** The backend root, named in messages about the target as a whole (full, read-only). */
  root: string;
  /** The file or directory the failing call was about. */
  path: string;
  /** A verb phrase such as `writing` or `reading`. */
  op: string;
}

/** `no space left on device (ENOSPC)`, without the path Node puts in its own messages. */
function describe(err: unknown): string {
  const code = errorCode(err);
  if (typeof err === 'object' && err !== null && 'errno' in err && typeof err.errno === 'number' && code) {
    try {
      return `${getSystemErrorMessage(err.errno)} (${code})`;
    } catch {
      // An errno libuv does not know: fall through to the raw message.
    }
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Translate a filesystem error into a StorageError with a stable code and a one-line message
 * naming the location. Exported so the errno mapping can be unit-tested: the tests run as root,
 * for whom chmod does not produce EACCES.
 */
export function mapFsError(err: unknown, ctx: FsErrorContext): StorageError {
  if (err instanceof StorageError) return err;
  const what = describe(err);
  switch (errorCode(err)) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new StorageError('FULL', `target ${ctx.root} is full: ${what} while ${ctx.op} ${ctx.path}`, {
        cause: err,
      });
    case 'EROFS':
      return new StorageError(
        'READ_ONLY',
        `target ${ctx.root} is read-only: ${what} while ${ctx.op} ${ctx.path}`,
        { cause: err },
      );
    case 'EACCES':
    case 'EPERM':
      return new StorageError('PERMISSION_DENIED', `permission denied ${ctx.op} ${ctx.path}: ${what}`, {
        cause: err,
      });
    case 'ENOENT':
      return new StorageError('NOT_FOUND', `${ctx.path} not found: ${what}`, { cause: err });
    default:
      return new StorageError('IO', `I/O error ${ctx.op} ${ctx.path}: ${what}`, { cause: err });
  }
}

/** `data/` → `data`, `data/ab` → `data`, `` → `` : the directory that holds every match. */
function prefixDir(prefix: string): string {
  const slash = prefix.lastIndexOf('/');
  return slash < 0 ? '' : prefix.slice(0, slash);
}

/** fsync a directory so a rename or new entry in it survives a crash. */
async function syncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Some filesystems (CIFS/SMB, some FUSE and NFS setups) cannot fsync a directory; the data
    // itself is already fsynced, so this is the best that target can do.
    const code = errorCode(err);
    if (
      code !== 'EINVAL' &&
      code !== 'EISDIR' &&
      code !== 'ENOTSUP' &&
      code !== 'EOPNOTSUPP' &&
      code !== 'EBADF'
    ) {
      throw err;
    }
  } finally {
    await fh?.close();
  }
}

/**
 * `mkdir -p`, one level at a time: Node's recursive mkdir reports ENOENT instead of the real cause
 * (EROFS, EACCES) when the first missing level cannot be created.
 */
async function mkdirp(dir: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { mode: DIR_MODE });
  } catch (err) {
    const code = errorCode(err);
    if (code === 'EEXIST') return;
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    await mkdirp(parent);
    await fsp.mkdir(dir, { mode: DIR_MODE });
  }
}

/** A repository on a local drive or a mounted network folder. */
export class FsBackend implements StorageBackend {
  readonly location: string;

  readonly root: string;
  /** Whether pack spools write with O_DIRECT (the root is on a local block-device file system). */
  private directSpools: boolean | undefined;

  /** Prefer `FsBackend.open`, which also checks that the root exists and is a directory. */
  constructor(root: string) {
    if (!path.isAbsolute(root)) {
      throw new StorageError('INVALID_LOCATION', `storage root must be an absolute path, got ${root}`);
    }
    this.root = path.resolve(root);
    this.location = this.root;
  }

  static async open(root: string, opts: FsOpenOptions = {}): Promise<FsBackend> {
    const backend = new FsBackend(root);
    const dir = backend.root;
    let st: Stats;
    try {
      st = await fsp.stat(dir);
    } catch (err) {
      const code = errorCode(err);
      if (code === 'ENOTDIR') {
        throw new StorageError('INVALID_LOCATION', `backup target ${dir} is below a file, not a directory`, {
          cause: err,
        });
      }
      if (code !== 'ENOENT') throw mapFsError(err, { root: dir, path: dir, op: 'opening' });
      if (!opts.create) {
        throw new StorageError('NOT_FOUND', `backup target ${dir} does not exist`, { cause: err });
      }
      try {
        await mkdirp(dir);
      } catch (mkdirErr) {
        throw mapFsError(mkdirErr, { root: dir, path: dir, op: 'creating' });
      }
      return backend;
    }
    if (!st.isDirectory()) {
      throw new StorageError('INVALID_LOCATION', `backup target ${dir} exists but is not a directory`);
    }
    return backend;
  }

  private pathOf(name: string): string {
    assertValidName(name);
    if (name.split('/').some((s) => s.startsWith(TEMP_PREFIX))) {
      // list() hides these, so such an object would be written but never found again.
      throw new StorageError(
        'INVALID_NAME',
        `object names starting with ${TEMP_PREFIX} are reserved: ${name}`,
      );
    }
    return path.join(this.root, ...name.split('/'));
  }

  async put(name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const file = this.pathOf(name);
    const dir = path.dirname(file);
    let tmp: string | undefined;
    let fh: fsp.FileHandle | undefined;
    try {
      ({ tmp, fh } = await this.openTemp(name));
      await writeAll(fh, data);
      await fh.sync();
      const closing = fh;
      fh = undefined;
      await closing.close();
      await fsp.rename(tmp, file);
      await syncDir(dir);
    } catch (err) {
      await fh?.close().catch(() => undefined);
      // Best effort: after a successful rename the temp name no longer exists, which is fine.
      if (tmp) await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw mapFsError(err, { root: this.root, path: file, op: 'writing' });
    }
  }

  /**
   * A temporary file in `dir` (same directory tree as the object, so `commit` is a rename that
   * never crosses a filesystem). A killed process leaves a `.tmp-` file, which `list` never shows.
   */
  async spool(dir: string): Promise<Spool> {
    let tmp: string;
    let fh: fsp.FileHandle;
    try {
      ({ tmp, fh } = await this.openTemp(`${dir}/spool`));
    } catch (err) {
      throw mapFsError(err, {
        root: this.root,
        path: path.dirname(this.pathOf(`${dir}/spool`)),
        op: 'writing in',
      });
    }
    const ctx = { root: this.root, path: tmp, op: 'writing' };
    let open: fsp.FileHandle | undefined = fh;
    let direct: DirectWriter | null;
    try {
      // Asked once per backend: the root's file system does not change under it.
      this.directSpools ??= directWritesPay(this.root);
      direct = await DirectWriter.open(tmp, fh, this.directSpools);
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw mapFsError(err, ctx);
    }
    let size = 0;
    const discard = async (): Promise<void> => {
      const closing = open;
      open = undefined;
      await direct?.close();
      await closing?.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    };
    const spent = (): StorageError =>
      new StorageError('IO', `spool ${tmp} was already committed or discarded`);
    return {
      get size() {
        return size;
      },
      write: async (parts) => {
        if (!open) throw spent();
        try {
          if (direct) await direct.write(parts);
          else await writeAll(open, parts);
        } catch (err) {
          throw mapFsError(err, ctx);
        }
        for (const p of parts) size += p.length;
      },
      commit: async (name) => {
        const file = this.pathOf(name);
        const closing = open;
        if (!closing) throw spent();
        open = undefined;
        try {
          await direct?.finish();
          await closing.sync();
          await closing.close();
          try {
            await fsp.rename(tmp, file);
          } catch (err) {
            if (errorCode(err) !== 'ENOENT') throw err;
            await this.makeParents(name);
            await fsp.rename(tmp, file);
          }
          await syncDir(path.dirname(file));
        } catch (err) {
          await direct?.close();
          await closing.close().catch(() => undefined);
          await fsp.rm(tmp, { force: true }).catch(() => undefined);
          throw mapFsError(err, { root: this.root, path: file, op: 'writing' });
        }
      },
      discard,
    };
  }

  /**
   * Create the directories between the root and `name`, one level at a time. The root itself is
   * never created here: if it vanished (drive unplugged, share unmounted) the put must fail
   * instead of silently writing into the empty mount point.
   */
  /**
   * A new temporary file beside the object `name` — in the same directory, so renaming it into
   * place is atomic (never crosses a filesystem) —, creating the directories on the way.
   */
  private async openTemp(name: string): Promise<{ tmp: string; fh: fsp.FileHandle }> {
    const tmp = path.join(path.dirname(this.pathOf(name)), `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    try {
      return { tmp, fh: await fsp.open(tmp, 'wx', FILE_MODE) };
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
      await this.makeParents(name);
      return { tmp, fh: await fsp.open(tmp, 'wx', FILE_MODE) };
    }
  }

  private async makeParents(name: string): Promise<void> {
    const segments = name.split('/').slice(0, -1);
    let dir = this.root;
    for (const segment of segments) {
      const parent = dir;
      dir = path.join(dir, segment);
      try {
        await fsp.mkdir(dir, { mode: DIR_MODE });
      } catch (err) {
        const code = errorCode(err);
        if (code === 'EEXIST') continue;
        if (code === 'ENOENT' && parent === this.root) {
          throw new StorageError('NOT_FOUND', `backup target ${this.root} no longer exists`, { cause: err });
        }
        throw err;
      }
      // The new directory's entry must be durable too, or a crash could lose the whole subtree.
      await syncDir(parent);
    }
  }

  async get(name: string, range?: ByteRange): Promise<Buffer> {
    const file = this.pathOf(name);
    const ctx = { root: this.root, path: file, op: 'reading' };
    if (!range) {
      try {
        return await fsp.readFile(file);
      } catch (err) {
        throw mapFsError(err, ctx);
      }
    }
    assertValidRange(range);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, 'r');
    } catch (err) {
      throw mapFsError(err, ctx);
    }
    try {
      const buf = range.into
        ? Buffer.from(range.into.buffer, range.into.byteOffset, range.length)
        : Buffer.allocUnsafe(range.length);
      let done = 0;
      // read() may return fewer bytes than asked (network filesystems do); loop until EOF.
      while (done < range.length) {
        const { bytesRead } = await fh.read(buf, done, range.length - done, range.offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      if (done < range.length) {
        throw new StorageError(
          'IO',
          `truncated object ${name} in ${this.root}: wanted ${range.length} bytes at offset ${range.offset}, ` +
            `got ${done}`,
        );
      }
      return buf;
    } catch (err) {
      throw mapFsError(err, ctx);
    } finally {
      await fh.close();
    }
  }

  async stat(name: string): Promise<StoredObject | null> {
    const file = this.pathOf(name);
    try {
      const st = await fsp.stat(file);
      return st.isFile() ? { name, size: st.size, mtime: st.mtime } : null;
    } catch (err) {
      const code = errorCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw mapFsError(err, { root: this.root, path: file, op: 'reading' });
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    assertValidPrefix(prefix);
    const start = prefixDir(prefix);
    yield* this.walk(start, prefix);
  }

  async *listNames(prefix: string): AsyncIterable<string> {
    assertValidPrefix(prefix);
    yield* this.walkNames(prefix ? prefixDir(prefix) : '', prefix);
  }

  /** Like walk, without the stat of each file: directory entries say what is a file. */
  private async *walkNames(rel: string, prefix: string): AsyncGenerator<string> {
    const entries = await this.readDir(rel);
    const subdirs: string[] = [];
    for (const entry of entries) {
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      let isDir = entry.isDirectory();
      if (!isDir && !entry.isFile()) {
        // DT_UNKNOWN (some network filesystems) or a symlink: stat decides, as in walk.
        const st = await this.statForList(childRel);
        if (st === null) continue;
        isDir = st.isDirectory();
        if (!isDir && !st.isFile()) continue;
      }
      if (isDir) {
        const asDir = `${childRel}/`;
        if (asDir.startsWith(prefix) || prefix.startsWith(asDir)) subdirs.push(childRel);
      } else if (childRel.startsWith(prefix)) {
        yield childRel;
      }
    }
    for (const sub of subdirs) yield* this.walkNames(sub, prefix);
  }

  /** Recursively yield the files under `rel` (a directory relative to the root) matching `prefix`. */
  private async *walk(rel: string, prefix: string): AsyncGenerator<StoredObject> {
    const entries = await this.readDir(rel);
    const subdirs: string[] = [];
    const files: string[] = [];
    for (const entry of entries) {
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        // Descend only where a match is possible: `data/ab` for prefix `data/a`, or any below `data/`.
        const asDir = `${childRel}/`;
        if (asDir.startsWith(prefix) || prefix.startsWith(asDir)) subdirs.push(childRel);
      } else if (childRel.startsWith(prefix)) {
        // Files and unknown types (some network filesystems report DT_UNKNOWN): stat decides.
        files.push(childRel);
      }
    }
    for (let i = 0; i < files.length; i += STAT_BATCH) {
      const batch = files.slice(i, i + STAT_BATCH);
      const stats = await Promise.all(batch.map((f) => this.statForList(f)));
      for (const [j, st] of stats.entries()) {
        if (st === null) continue;
        const objectName = batch[j];
        if (objectName === undefined) continue;
        if (st.isFile()) yield { name: objectName, size: st.size, mtime: st.mtime };
        else if (st.isDirectory()) subdirs.push(objectName);
      }
    }
    for (const sub of subdirs) yield* this.walk(sub, prefix);
  }

  /** The entries of a directory relative to the root; a missing one (also mid-walk) holds none. */
  private async readDir(rel: string): Promise<Dirent[]> {
    const dir = rel === '' ? this.root : path.join(this.root, ...rel.split('/'));
    try {
      return await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      const code = errorCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw mapFsError(err, { root: this.root, path: dir, op: 'listing' });
    }
  }

  private async statForList(rel: string): Promise<Stats | null> {
    const file = path.join(this.root, ...rel.split('/'));
    try {
      return await fsp.stat(file);
    } catch (err) {
      // Deleted between readdir and stat (a concurrent prune): not an object any more.
      if (errorCode(err) === 'ENOENT') return null;
      throw mapFsError(err, { root: this.root, path: file, op: 'listing' });
    }
  }

  async sweepTemp(olderThan: Date): Promise<{ files: number; bytes: number }> {
    const swept = { files: 0, bytes: 0 };
    const visit = async (rel: string): Promise<void> => {
      for (const entry of await this.readDir(rel)) {
        const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
        if (entry.isDirectory()) {
          await visit(childRel);
          continue;
        }
        if (!entry.name.startsWith(TEMP_PREFIX)) continue;
        const file = path.join(this.root, ...childRel.split('/'));
        const st = await this.statForList(childRel);
        if (st === null || !st.isFile() || st.mtime >= olderThan) continue;
        try {
          await fsp.unlink(file);
        } catch (err) {
          if (errorCode(err) === 'ENOENT') continue;
          throw mapFsError(err, { root: this.root, path: file, op: 'deleting' });
        }
        swept.files++;
        swept.bytes += st.size;
      }
    };
    await visit('');
    return swept;
  }

  async delete(name: string): Promise<void> {
    const file = this.pathOf(name);
    try {
      await fsp.unlink(file);
      await syncDir(path.dirname(file));
    } catch (err) {
      const code = errorCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw mapFsError(err, { root: this.root, path: file, op: 'deleting' });
    }
  }

  async freeSpace(): Promise<number | null> {
    try {
      const st = await fsp.statfs(this.root);
      return st.bavail * st.bsize;
    } catch (err) {
      throw mapFsError(err, { root: this.root, path: this.root, op: 'checking free space of' });
    }
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }
}

/** Bytes a spool gathers before a direct write. */
const DIRECT_CHUNK = 1024 * 1024;
/** Staging buffers of finished spools, for the next ones (a few spools are open at a time). */
const spareStaging: Buffer[] = [];

/**
 * A spool's bytes written with O_DIRECT where the file system takes it: packs are written once
 * and read back rarely, and on virtual machines filling fresh page-cache pages cost more than the
 * rest of a large backup (4.6 GiB buffered: 19–30 s of kernel time here, 3 s direct). Bytes are
 * gathered in an aligned 1 MiB buffer and written in whole blocks at increasing offsets through
 * a second descriptor; the last partial block goes through the spool's own (buffered) one at
 * commit, whose fsync then covers the file. Only on local block-device file systems
 * (`directWritesPay`, asked once per backend); one that still refuses O_DIRECT (EINVAL) at open or at a write gets the
 * plain path.
 */
class DirectWriter {
  private staged = 0;
  /** Bytes already in the file (all through `dfh` until a fallback). */
  private flushed = 0;

  private constructor(
    private dfh: fsp.FileHandle | null,
    private readonly fh: fsp.FileHandle,
    private staging: Buffer | null,
  ) {}

  static async open(tmp: string, fh: fsp.FileHandle, directOk: boolean): Promise<DirectWriter | null> {
    if (!directOk) return null;
    let dfh: fsp.FileHandle;
    try {
      dfh = await fsp.open(tmp, fsConstants.O_WRONLY | fsConstants.O_DIRECT);
    } catch (err) {
      if (errorCode(err) === 'EINVAL') return null;
      throw err;
    }
    return new DirectWriter(dfh, fh, spareStaging.pop() ?? alignedBuffer(DIRECT_CHUNK));
  }

  async write(parts: readonly Uint8Array[]): Promise<void> {
    const staging = this.staging!;
    for (const p of parts) {
      for (let off = 0; off < p.length;) {
        const n = Math.min(p.length - off, DIRECT_CHUNK - this.staged);
        staging.set(p.subarray(off, off + n), this.staged);
        this.staged += n;
        off += n;
        if (this.staged === DIRECT_CHUNK) await this.flush(DIRECT_CHUNK);
      }
    }
  }

  /** Writes the first `n` staged bytes (whole blocks, or the final tail through `fh`). */
  private async flush(n: number): Promise<void> {
    const staging = this.staging!;
    let done = 0;
    while (done < n) {
      if (this.dfh && (n - done) % DIRECT_ALIGN === 0) {
        try {
          done += (await this.dfh.write(staging, done, n - done, this.flushed + done)).bytesWritten;
          continue;
        } catch (err) {
          if (errorCode(err) !== 'EINVAL') throw err;
          await this.closeDirect();
        }
      }
      done += (await this.fh.write(staging, done, n - done, this.flushed + done)).bytesWritten;
    }
    staging.copyWithin(0, n, this.staged);
    this.staged -= n;
    this.flushed += n;
  }

  /** Writes what is staged; the spool's fd is then the one to fsync. */
  async finish(): Promise<void> {
    const aligned = this.staged - (this.staged % DIRECT_ALIGN);
    if (aligned > 0) await this.flush(aligned);
    if (this.staged > 0) {
      await this.closeDirect();
      await this.flush(this.staged);
    }
    await this.closeDirect();
    // Only here, when no write of this spool can still be running, is the buffer reused.
    if (this.staging && spareStaging.length < 4) spareStaging.push(this.staging);
    this.staging = null;
  }

  private async closeDirect(): Promise<void> {
    const dfh = this.dfh;
    this.dfh = null;
    await dfh?.close().catch(() => undefined);
  }

  /** Discarded (or failed): the staging buffer is left to the collector. */
  async close(): Promise<void> {
    await this.closeDirect();
    this.staging = null;
  }
}

/**
 * Writes every part with as few syscalls as the kernel allows (writev), resuming after partial
 * writes. FileHandle.writeFile would split a large buffer into 512 KiB thread-pool round trips.
 */
export async function writeAll(fh: fsp.FileHandle, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
  let pending = (data instanceof Uint8Array ? [data] : [...data]).filter((p) => p.length > 0);
  while (pending.length > 0) {
    const { bytesWritten } = await fh.writev(pending);
    let n = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const p of pending) {
      if (n >= p.length) {
        n -= p.length;
        continue;
      }
      rest.push(n > 0 ? p.subarray(n) : p);
      n = 0;
    }
    pending = rest;
  }
}
