/**
 * Worker thread: the CPU-heavy work. Backup: read, chunk, identify and seal whole files, step by
 * step (`fileStep`), or seal one blob (`seal`, for repacking). Restore: decrypt, decompress,
 * verify and write the blobs of one pack span (`openSpan`).
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { ID_LEN, BlobType, openBlob, sealBlobParts } from '../blob';
import { Chunker } from '../chunker';
import { keyedHash } from '../crypto';
import { EngineError } from '../errors';
import { knownHas } from '../known-set';
import type { FileStepJob, FileStepResult, Job, JobReply, OpenSpanJob, SessionConfig } from './protocol';

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

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW;

function openSpan(job: OpenSpanJob): Uint8Array[] {
  const idKey = Buffer.from(job.idKey);
  const key = keyObject(job.key);
  const plains = job.blobs.map((b) =>
    openBlob(key, idKey, b.type, b.id, job.data.subarray(b.offset, b.offset + b.length), b.rawLength),
  );
  if (!job.writes) {
    const out = new Uint8Array(plains.reduce((n, p) => n + p.length, 0));
    let pos = 0;
    for (const p of plains) {
      out.set(p, pos);
      pos += p.length;
    }
    return [out];
  }
  // Every blob verified before anything is written: a damaged span writes nothing.
  const fds = new Map<string, number>();
  try {
    job.writes.forEach((targets, i) => {
      const plain = plains[i]!;
      for (const { path, offset } of targets) {
        let fd = fds.get(path);
        if (fd === undefined) fds.set(path, (fd = openSync(path, WRITE_FLAGS, 0o600)));
        for (let done = 0; done < plain.length;)
          done += writeSync(fd, plain, done, plain.length - done, offset + done);
      }
    });
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
  return [];
}

// ── backup: files read step by step ─────────────────────────────────────────────────────────────

interface OpenFile {
  fd: number;
  window: Buffer;
  filled: number;
  eof: boolean;
  /** New ids already sealed from this file (a file repeating itself is sealed once). */
  sealed: Set<string>;
}

const files = new Map<string, OpenFile>();
/** Large read windows are kept for the next file rather than reallocated. */
const spareWindows: Buffer[] = [];

function windowFor(size: number, max: number): Buffer {
  const big = Math.max(16 * 1024 * 1024, 2 * max);
  if (size + 1 < big) return Buffer.allocUnsafe(Math.max(size + 1, 64 * 1024));
  return spareWindows.pop() ?? Buffer.allocUnsafeSlow(big);
}

function closeFile(handle: string, max: number): void {
  const f = files.get(handle);
  if (!f) return;
  files.delete(handle);
  closeSync(f.fd);
  if (f.window.length >= 2 * max && spareWindows.length < 2) spareWindows.push(f.window);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fileStep(job: FileStepJob): FileStepResult {
  const s = job.session;
  const { max } = s.chunker;
  const empty: FileStepResult = { ids: new Uint8Array(0), blobs: [], bytes: 0, done: true };
  if (job.abort) {
    closeFile(job.handle, max);
    return empty;
  }
  let f = files.get(job.handle);
  let stat: FileStepResult['stat'];
  if (!f) {
    // A step queued behind the file's last one (or behind an error): nothing left to read.
    if (job.path === undefined) return empty;
    let fd: number;
    try {
      fd = openSync(job.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      return { ...empty, error: describe(err) };
    }
    try {
      const st = fstatSync(fd, { bigint: true });
      stat = { mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString(), ino: st.ino.toString() };
      f = { fd, window: windowFor(Number(st.size), max), filled: 0, eof: false, sealed: new Set() };
    } catch (err) {
      closeSync(fd);
      return { ...empty, error: describe(err) };
    }
    files.set(job.handle, f);
  }
  const chunker = chunkerFor(s);
  const known = new Uint8Array(s.known);
  const set = { table: s.known, mask: s.knownMask };
  const idKey = Buffer.from(s.idKey);
  const key = keyObject(s.key);
  const ids: Buffer[] = [];
  const blobs: FileStepResult['blobs'] = [];
  let bytes = 0;
  try {
    while (bytes < job.maxBytes && !(f.eof && f.filled === 0)) {
      if (!f.eof && f.filled < f.window.length) {
        const n = readSync(f.fd, f.window, f.filled, f.window.length - f.filled, null);
        if (n === 0) f.eof = true;
        f.filled += n;
        if (!f.eof && f.filled < max) {
          // A file that grew past its stat size: make room for whole chunks.
          if (f.filled === f.window.length) {
            const bigger = Buffer.allocUnsafeSlow(Math.max(16 * 1024 * 1024, 2 * max));
            f.window.copy(bigger, 0, 0, f.filled);
            f.window = bigger;
          }
          continue;
        }
      }
      let pos = 0;
      while ((f.filled - pos >= max || (f.eof && pos < f.filled)) && bytes < job.maxBytes) {
        const len = chunker.cut(f.window, pos, f.filled);
        const piece = f.window.subarray(pos, pos + len);
        const id = keyedHash(idKey, piece);
        ids.push(id);
        const hex = id.toString('hex');
        if (!knownHas(set, known, id) && !f.sealed.has(hex)) {
          f.sealed.add(hex);
          const parts = sealBlobParts(key, BlobType.Data, id, piece, s.level).map(transferable);
          blobs.push({ index: ids.length - 1, parts, rawLength: len });
        }
        pos += len;
        bytes += len;
      }
      f.window.copyWithin(0, pos, f.filled);
      f.filled -= pos;
    }
  } catch (err) {
    closeFile(job.handle, max);
    return { ...empty, error: describe(err) };
  }
  const done = f.eof && f.filled === 0;
  if (done) closeFile(job.handle, max);
  const idBytes = new Uint8Array(ids.length * ID_LEN);
  ids.forEach((id, i) => idBytes.set(id, i * ID_LEN));
  return { ids: idBytes, blobs, bytes, done, ...(stat ? { stat } : {}) };
}

/** A part we may transfer: it must own its ArrayBuffer (small Buffers live in a shared pool). */
function transferable(p: Uint8Array): Uint8Array {
  return p.byteOffset === 0 && p.byteLength === p.buffer.byteLength ? p : new Uint8Array(p);
}

port.on('message', (msg: { seq: number; job: Job }) => {
  const { seq, job } = msg;
  try {
    let result: unknown;
    let transfer: ArrayBuffer[];
    if (job.op === 'seal') {
      const parts = sealBlobParts(keyObject(job.key), job.type, job.id, job.data, job.level).map(
        transferable,
      );
      result = { parts, input: job.data };
      transfer = [...parts.map((p) => p.buffer as ArrayBuffer), job.data.buffer as ArrayBuffer];
    } else if (job.op === 'openSpan') {
      const parts = openSpan(job);
      result = { parts, input: job.data };
      transfer = [...parts.map((p) => p.buffer as ArrayBuffer), job.data.buffer as ArrayBuffer];
    } else {
      const r = fileStep(job);
      result = r;
      transfer = [
        r.ids.buffer as ArrayBuffer,
        ...r.blobs.flatMap((b) => b.parts.map((p) => p.buffer as ArrayBuffer)),
      ];
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
