/**
 * Worker thread: the CPU-heavy work. Backup: read, chunk, identify and seal small files many at a
 * time (`fileBatch`) and large files step by step (`fileStep`), or seal one blob (`seal`, for
 * repacking). Restore: decrypt, decompress, verify and write the blobs of one pack span
 * (`openSpan`), finishing the files it completes (owner, xattrs, mode, nanosecond mtime).
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import { parentPort } from 'node:worker_threads';
import * as native from '@vaultline/native';
import { ID_LEN, BlobType, sealBlobParts } from '../blob';
import { Chunker } from '../chunker';
import { SEAL_OVERHEAD_MAX, openBlobInto, sealBlobInto } from '../codec';
import { keyedHash } from '../crypto';
import { EngineError } from '../errors';
import { setFileTimes, writeXattrs } from '../fsmeta';
import { knownHas } from '../known-set';
import { scanDirs, scanTransfer } from '../scan';
import { freeNow } from '../util';
import type {
  FileBatchJob,
  FileBatchResult,
  FileStepJob,
  FileStepResult,
  Job,
  JobReply,
  OpenSpanJob,
  ReadStat,
  SealedBlobs,
  SessionConfig,
  SpanWrite,
  WirePath,
} from './protocol';
import { BATCH_FILE_MAX, SMALL_ARENA_BYTES, STEP_ARENA_BYTES } from './protocol';

const port = parentPort;
if (!port) throw new Error('blob-worker must run as a worker thread');

// Sessions are few; building a KeyObject per blob showed up in profiles.
const keys = new Map<string, KeyObject>();
function keyObject(raw: Uint8Array): KeyObject {
  const hex = Buffer.from(raw).toString('hex');
  let k = keys.get(hex);
  if (!k) {
    if (keys.size > 64) keys.clear();
    keys.set(hex, (k = createSecretKey(raw)));
  }
  return k;
}

const chunkers = new Map<string, Chunker>();
function chunkerFor(s: SessionConfig): Chunker {
  const k = `${Buffer.from(s.chunkerSeed).toString('hex')}:${s.chunker.min}:${s.chunker.avg}:${s.chunker.max}`;
  let c = chunkers.get(k);
  if (!c) {
    if (chunkers.size > 16) chunkers.clear();
    chunkers.set(k, (c = new Chunker(s.chunker, Buffer.from(s.chunkerSeed))));
  }
  return c;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A buffer this thread keeps and reuses (grown when needed). */
class Scratch {
  private buf = Buffer.allocUnsafeSlow(0);
  get(n: number): Buffer {
    if (this.buf.length < n) this.buf = Buffer.allocUnsafeSlow(Math.max(n, 64 * 1024, this.buf.length * 2));
    return this.buf;
  }
}

// ── backup ──────────────────────────────────────────────────────────────────────────────────────

/**
 * Arenas come back from the main thread once their packs are stored (`spares`), so sealing
 * writes to pages that are already mapped: fresh mappings cost a page fault per 4 KiB, which on
 * virtual machines was much of the time spent sealing.
 */
const spareArenas = new Map<number, Buffer[]>();
const MAX_SPARE_BYTES = 10 * 1024 * 1024;
let spareBytes = 0;

function keepSpares(spares: readonly ArrayBuffer[] | undefined): void {
  for (const ab of spares ?? []) {
    if (spareBytes + ab.byteLength > MAX_SPARE_BYTES) {
      freeNow(ab);
      continue;
    }
    let list = spareArenas.get(ab.byteLength);
    if (!list) spareArenas.set(ab.byteLength, (list = []));
    list.push(Buffer.from(ab));
    spareBytes += ab.byteLength;
  }
}

/**
 * Small-file bytes this worker has sealed since its last large-file step. Past a few batches' worth
 * the large-file phase of the walk is over (for now): the read window and step arenas it kept
 * would only sit in memory, so they are freed.
 */
let batchBytesSinceStep = 0;
const LARGE_IDLE_BYTES = 32 * 1024 * 1024;

function dropLargeSpares(): void {
  for (const w of spareWindows.splice(0)) freeNow(w.buffer);
  for (const a of spareArenas.get(STEP_ARENA_BYTES)?.splice(0) ?? []) {
    spareBytes -= a.length;
    freeNow(a.buffer);
  }
}

function newArena(size: number): Buffer {
  const spare = spareArenas.get(size)?.pop();
  if (spare) {
    spareBytes -= size;
    return spare;
  }
  return Buffer.allocUnsafeSlow(size);
}

/**
 * Output of one reply: sealed blobs appended to large buffers that are transferred (not copied)
 * to the main thread, where packs take views of them.
 */
class ArenaWriter {
  readonly out: SealedBlobs = { arenas: [], blobs: [] };
  private cur: Buffer | null = null;
  private used = 0;
  constructor(private readonly size: number) {}

  /** Room for `n` bytes: the current arena, or a new one. */
  private room(n: number): Buffer {
    if (!this.cur || this.cur.length - this.used < n) {
      if (this.cur) this.out.arenas.push(this.cur);
      this.cur = n <= this.size ? newArena(this.size) : Buffer.allocUnsafeSlow(n);
      this.used = 0;
    }
    return this.cur;
  }

  seal(s: SessionConfig, key: Buffer, chunk: number, id: Uint8Array, plain: Uint8Array): void {
    const arena = this.room(plain.length + SEAL_OVERHEAD_MAX);
    const length = sealBlobInto(key, BlobType.Data, id, plain, s.level, arena, this.used);
    this.out.blobs.push({
      chunk,
      arena: this.out.arenas.length,
      offset: this.used,
      length,
      rawLength: plain.length,
    });
    this.used += length;
  }

  /** Forgets the blobs of chunks from `chunk` on (a file that failed half-way). */
  dropFrom(chunk: number): void {
    this.out.blobs = this.out.blobs.filter((b) => b.chunk < chunk);
  }

  /** Arenas go whole (a transfer moves a whole ArrayBuffer; copying out the used part costs more). */
  finish(): SealedBlobs {
    if (this.cur && this.used > 0) this.out.arenas.push(this.cur);
    this.cur = null;
    return this.out;
  }
}

/** A view we may transfer: it must span its whole ArrayBuffer (copy the rare one that doesn't). */
function ownBuffer(p: Uint8Array): Uint8Array {
  return p.byteOffset === 0 && p.byteLength === p.buffer.byteLength ? p : new Uint8Array(p);
}

/**
 * Chunks `data`, appends every id to `ids` and seals the chunks that are new. Stops before a chunk
 * that would take the total past `maxBytes` (so a step's output fits one step arena); `full`
 * says it stopped for that reason.
 */
function chunkAndSeal(
  s: SessionConfig,
  data: Buffer,
  end: boolean,
  ids: Buffer[],
  sealedHere: Set<string>,
  arena: ArenaWriter,
  maxBytes = Infinity,
  /** Bytes this step already took: then even the first chunk here must fit. */
  started = false,
): { pos: number; full: boolean } {
  const chunker = chunkerFor(s);
  const known = new Uint8Array(s.known);
  const set = { table: s.known, mask: s.knownMask };
  const idKey = Buffer.from(s.idKey.buffer, s.idKey.byteOffset, s.idKey.byteLength);
  const key = Buffer.from(s.key.buffer, s.key.byteOffset, s.key.byteLength);
  const { max } = s.chunker;
  let pos = 0;
  while (data.length - pos >= max || (end && pos < data.length)) {
    const len = chunker.cut(data, pos, data.length);
    if (pos + len > maxBytes && (pos > 0 || started)) return { pos, full: true };
    const piece = data.subarray(pos, pos + len);
    const id = keyedHash(idKey, piece);
    ids.push(id);
    if (!knownHas(set, known, id)) {
      const hex = id.toString('latin1');
      if (!sealedHere.has(hex)) {
        sealedHere.add(hex);
        arena.seal(s, key, ids.length - 1, id, piece);
      }
    }
    pos += len;
  }
  return { pos, full: false };
}

/**
 * The open file's own stat. The walk saw a regular file, but the name may have been replaced
 * since: a FIFO or a device is refused here (opened with O_NONBLOCK, so a FIFO without a writer
 * does not block the open), never read until it ends — /dev/zero never would.
 */
function statOf(fd: number): ReadStat {
  const st = fstatSync(fd, { bigint: true });
  if (!st.isFile()) throw new Error('no longer a regular file (it was replaced while the backup ran)');
  return { mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString(), ino: st.ino.toString() };
}

function concatIds(ids: Buffer[]): Uint8Array {
  const out = new Uint8Array(ids.length * ID_LEN);
  ids.forEach((id, i) => out.set(id, i * ID_LEN));
  return out;
}

// O_NONBLOCK changes nothing for a regular file; for a FIFO it makes open() return at once.
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Paths arrive as bytes (cloned Buffers become plain Uint8Arrays): Node's fs wants a Buffer. */
function fsPath(p: WirePath): string | Buffer {
  return typeof p === 'string' ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}
const readBuf = new Scratch();

/**
 * Reads a whole (small) file into the scratch buffer; `expect` sizes the first read. Null once it
 * is past `limit` bytes (it grew since it was listed).
 */
function readWhole(fd: number, expect: number, limit = Infinity): Buffer | null {
  let buf = readBuf.get(Math.min(expect, limit) + 1);
  let n = 0;
  for (;;) {
    if (n > limit) return null;
    if (n === buf.length) {
      const bigger = Buffer.allocUnsafeSlow(buf.length * 2);
      buf.copy(bigger, 0, 0, n);
      buf = bigger;
    }
    const got = readSync(fd, buf, n, buf.length - n, null);
    if (got === 0) break;
    n += got;
  }
  return buf.subarray(0, n);
}

const GROWN_LIMIT = 2 * BATCH_FILE_MAX;

function fileBatch(job: FileBatchJob): FileBatchResult {
  keepSpares(job.spares);
  const s = job.session;
  const expected = job.files.reduce((n, f) => n + f.size + SEAL_OVERHEAD_MAX, 0);
  if (batchBytesSinceStep < LARGE_IDLE_BYTES && (batchBytesSinceStep += expected) >= LARGE_IDLE_BYTES)
    dropLargeSpares();
  // A batch smaller than an arena gets its own exact-size buffer (not recycled, never wasted).
  const arena = new ArenaWriter(expected < SMALL_ARENA_BYTES / 4 ? expected : SMALL_ARENA_BYTES);
  const ids: Buffer[] = [];
  const sealedHere = new Set<string>();
  const files: FileBatchResult['files'] = [];
  for (const f of job.files) {
    const before = ids.length;
    let fd: number;
    try {
      fd = openSync(fsPath(f.path), READ_FLAGS);
    } catch (err) {
      files.push({ chunks: 0, bytes: 0, error: describe(err) });
      continue;
    }
    try {
      const stat = statOf(fd);
      const data = readWhole(fd, f.size, GROWN_LIMIT);
      if (!data) {
        files.push({ chunks: 0, bytes: 0, grown: true });
        continue;
      }
      chunkAndSeal(s, data, true, ids, sealedHere, arena);
      files.push({ chunks: ids.length - before, bytes: data.length, stat });
    } catch (err) {
      ids.length = before;
      arena.dropFrom(before);
      files.push({ chunks: 0, bytes: 0, error: describe(err) });
    } finally {
      closeSync(fd);
    }
  }
  return { ids: concatIds(ids), files, sealed: arena.finish() };
}

interface OpenFile {
  fd: number;
  window: Buffer;
  filled: number;
  eof: boolean;
  /** New ids already sealed from this file (a file repeating itself is sealed once). */
  sealed: Set<string>;
}

const files = new Map<string, OpenFile>();
/** A large read window is kept for the worker's next large file rather than reallocated. */
const spareWindows: Buffer[] = [];

function closeFile(handle: string, max: number): void {
  const f = files.get(handle);
  if (!f) return;
  files.delete(handle);
  closeSync(f.fd);
  if (f.window.length >= 2 * max && spareWindows.length < 1) spareWindows.push(f.window);
  else freeNow(f.window.buffer);
}

function fileStep(job: FileStepJob): FileStepResult {
  keepSpares(job.spares);
  batchBytesSinceStep = 0;
  const s = job.session;
  const { max } = s.chunker;
  const empty: FileStepResult = {
    ids: new Uint8Array(0),
    sealed: { arenas: [], blobs: [] },
    bytes: 0,
    done: true,
  };
  if (job.abort) {
    closeFile(job.handle, max);
    return empty;
  }
  let f = files.get(job.handle);
  let stat: ReadStat | undefined;
  if (!f) {
    // A step queued behind the file's last one (or behind an error): nothing left to read.
    if (job.path === undefined) return empty;
    let fd: number;
    try {
      fd = openSync(fsPath(job.path), READ_FLAGS);
    } catch (err) {
      return { ...empty, error: describe(err) };
    }
    try {
      stat = statOf(fd);
      const window = spareWindows.pop() ?? Buffer.allocUnsafeSlow(Math.max(16 * 1024 * 1024, 2 * max));
      f = { fd, window, filled: 0, eof: false, sealed: new Set() };
    } catch (err) {
      closeSync(fd);
      return { ...empty, error: describe(err) };
    }
    files.set(job.handle, f);
  }
  const arena = new ArenaWriter(STEP_ARENA_BYTES);
  const ids: Buffer[] = [];
  let bytes = 0;
  try {
    while (bytes < job.maxBytes && !(f.eof && f.filled === 0)) {
      if (!f.eof && f.filled < f.window.length) {
        const n = readSync(f.fd, f.window, f.filled, f.window.length - f.filled, null);
        if (n === 0) f.eof = true;
        f.filled += n;
        if (!f.eof && f.filled < max) continue;
      }
      const data = f.window.subarray(0, f.filled);
      const { pos, full } = chunkAndSeal(
        s,
        data,
        f.eof,
        ids,
        f.sealed,
        arena,
        job.maxBytes - bytes,
        bytes > 0,
      );
      bytes += pos;
      f.window.copyWithin(0, pos, f.filled);
      f.filled -= pos;
      if (full) break;
    }
  } catch (err) {
    closeFile(job.handle, max);
    return { ...empty, error: describe(err) };
  }
  const done = f.eof && f.filled === 0;
  if (done) closeFile(job.handle, max);
  return { ids: concatIds(ids), sealed: arena.finish(), bytes, done, ...(stat ? { stat } : {}) };
}

// ── restore ─────────────────────────────────────────────────────────────────────────────────────

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW;
const SPARSE_BLOCK = 4096;
const ZERO_BLOCK = Buffer.alloc(SPARSE_BLOCK);
const plainBuf = new Scratch();

function writeAll(fd: number, data: Uint8Array, position: number): void {
  for (let done = 0; done < data.length;)
    done += writeSync(fd, data, done, data.length - done, position + done);
}

/** Writes `data` at `position`, leaving file-aligned blocks of zeros unwritten (holes). */
function writeSparse(fd: number, data: Buffer, position: number): void {
  let runStart = -1;
  let i = 0;
  while (i < data.length) {
    // Blocks aligned to the file, not to the chunk: the first and last may be partial.
    const blockEnd = Math.min(data.length, i + SPARSE_BLOCK - ((position + i) % SPARSE_BLOCK));
    const block = data.subarray(i, blockEnd);
    const zero = block.length === SPARSE_BLOCK && block.equals(ZERO_BLOCK);
    if (zero && runStart >= 0) {
      writeAll(fd, data.subarray(runStart, i), position + runStart);
      runStart = -1;
    } else if (!zero && runStart < 0) runStart = i;
    i = blockEnd;
  }
  if (runStart >= 0) writeAll(fd, data.subarray(runStart), position + runStart);
}

/**
 * Chunks at least this long have their block-aligned middle written with O_DIRECT: on virtual
 * machines, filling fresh page-cache pages made a buffered restore of large files ~6× slower than
 * writing them straight to the disk. Their unaligned ends (< 4 KiB each) go through the page
 * cache, where the neighbouring chunk's end meets them.
 */
const DIRECT_MIN = 256 * 1024;
const DIRECT_FLAGS = constants.O_DIRECT === undefined ? 0 : WRITE_FLAGS | constants.O_DIRECT;
/** Devices (st_dev) written through the page cache: not a local block-device file system, or refused O_DIRECT. */
const noDirect = new Set<number>();
const directDevs = new Set<number>();

/** An O_DIRECT fd for `path` (opened after its buffered fd `fd`), or -1 where there is none. */
function openDirect(path: WirePath, fd: number): number {
  if (DIRECT_FLAGS === 0) return -1;
  const dev = fstatSync(fd).dev;
  if (noDirect.has(dev)) return -1;
  if (!directDevs.has(dev)) {
    if (!native.directWritesPay(fsPath(path))) {
      noDirect.add(dev);
      return -1;
    }
    directDevs.add(dev);
  }
  try {
    return openSync(fsPath(path), DIRECT_FLAGS, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    noDirect.add(dev);
    return -1;
  }
}

/**
 * Writes `data` at `position`: the aligned middle through `direct` when it is an fd, the rest
 * (and everything, if the file system turns direct writes down) through `fd`. False once direct
 * writes failed with EINVAL: the caller stops using `direct`.
 */
function writeMaybeDirect(fd: number, direct: number, data: Buffer, position: number): boolean {
  const A = native.DIRECT_ALIGN;
  const head = Math.min(data.length, (A - (position % A)) % A);
  const middle = Math.floor((data.length - head) / A) * A;
  if (direct < 0 || middle === 0) {
    writeAll(fd, data, position);
    return true;
  }
  let ok = true;
  try {
    native.pwriteDirect(direct, data.subarray(head, head + middle), position + head);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    writeAll(fd, data.subarray(head, head + middle), position + head);
    ok = false;
  }
  if (head > 0) writeAll(fd, data.subarray(0, head), position);
  if (head + middle < data.length) writeAll(fd, data.subarray(head + middle), position + head + middle);
  return ok;
}

function finishFile(fd: number, w: SpanWrite, chown: boolean, warnings: string[]): void {
  const f = w.finish!;
  if (w.sparse) ftruncateSync(fd, f.size);
  // Owner first (chown clears setuid bits and capabilities), then xattrs, mode and times.
  if (chown) fchownSync(fd, f.uid, f.gid);
  writeXattrs({ fd }, f.xattrs, f.rel ?? Buffer.from(w.path).toString(), (m) => warnings.push(m));
  fchmodSync(fd, f.mode);
  setFileTimes(fd, f.mtimeNs);
}

function openSpan(job: OpenSpanJob): string[] {
  const idKey = Buffer.from(job.idKey.buffer, job.idKey.byteOffset, job.idKey.byteLength);
  const key = Buffer.from(job.key.buffer, job.key.byteOffset, job.key.byteLength);
  const total = job.blobs.reduce((n, b) => n + b.rawLength, 0);
  // Every blob verified before anything is written: a damaged span writes nothing.
  const plain = plainBuf.get(total);
  let pos = 0;
  const at: number[] = [];
  for (const b of job.blobs) {
    openBlobInto(
      key,
      idKey,
      b.type,
      b.id,
      job.data.subarray(b.offset, b.offset + b.length),
      b.rawLength,
      plain,
      pos,
    );
    at.push(pos);
    pos += b.rawLength;
  }
  const warnings: string[] = [];
  const fds = new Map<string, number>();
  /** O_DIRECT fds of the files this span writes large chunks of (-1: none for that file). */
  const directs = new Map<string, number>();
  const keyOf = (p: Uint8Array | string): string =>
    typeof p === 'string' ? p : Buffer.from(p).toString('latin1');
  try {
    job.writes.forEach((targets, i) => {
      const data = plain.subarray(at[i], at[i]! + job.blobs[i]!.rawLength);
      for (const w of targets) {
        const k = keyOf(w.path);
        let fd = fds.get(k);
        if (fd === undefined) fds.set(k, (fd = openSync(fsPath(w.path), WRITE_FLAGS, 0o600)));
        if (w.sparse) writeSparse(fd, data, w.offset);
        else if (data.length < DIRECT_MIN) writeAll(fd, data, w.offset);
        else {
          let direct = directs.get(k);
          if (direct === undefined) directs.set(k, (direct = openDirect(w.path, fd)));
          if (!writeMaybeDirect(fd, direct, data, w.offset)) {
            closeSync(direct);
            directs.set(k, -1);
            noDirect.add(fstatSync(fd).dev);
          }
        }
        if (w.finish) {
          finishFile(fd, w, job.chown === true, warnings);
          closeSync(fd);
          fds.delete(k);
        }
      }
    });
  } finally {
    for (const fd of fds.values()) closeSync(fd);
    for (const fd of directs.values()) if (fd >= 0) closeSync(fd);
  }
  return warnings;
}

port.on('message', (msg: { seq: number; job: Job }) => {
  const { seq, job } = msg;
  try {
    let result: unknown;
    let transfer: ArrayBuffer[];
    if (job.op === 'seal') {
      const parts = sealBlobParts(keyObject(job.key), job.type, job.id, job.data, job.level).map(ownBuffer);
      result = { parts, input: job.data };
      transfer = [...parts.map((p) => p.buffer as ArrayBuffer), job.data.buffer as ArrayBuffer];
    } else if (job.op === 'scanDir') {
      const r = scanDirs(job);
      result = r;
      transfer = scanTransfer(r);
    } else if (job.op === 'openSpan') {
      result = { input: job.data, warnings: openSpan(job) };
      transfer = [job.data.buffer as ArrayBuffer];
    } else {
      const r = job.op === 'fileBatch' ? fileBatch(job) : fileStep(job);
      result = r;
      transfer = [r.ids.buffer as ArrayBuffer, ...r.sealed.arenas.map((a) => a.buffer as ArrayBuffer)];
    }
    const reply: JobReply = { seq, ok: true, result };
    port.postMessage(reply, transfer);
  } catch (err) {
    const reply: JobReply = {
      seq,
      ok: false,
      code: err instanceof EngineError ? err.code : undefined,
      message: err instanceof Error ? err.message : String(err),
    };
    port.postMessage(reply);
  }
});
