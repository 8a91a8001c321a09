import type { BlobType } from '../blob';
import type { ChunkerParams } from '../chunker';

/** A path as the worker opens it: raw bytes (names need not be UTF-8) or a string. */
import type { ScanDirJob } from '../scan';

export type WirePath = Uint8Array | string;

/**
 * Compress and encrypt one blob (repacking). `data` views a buffer the caller lends: its memory is
 * transferred to the worker and handed back with the reply for reuse.
 */
export interface SealJob {
  op: 'seal';
  key: Buffer;
  type: BlobType;
  id: Uint8Array;
  data: Uint8Array;
  level: number;
}

export interface SealResult {
  /** The sealed blob in parts, written back to back. */
  parts: Uint8Array[];
  /** The job's input buffer, handed back so its memory can be reused. */
  input: Uint8Array;
}

/** What a restore worker does to a file once its last byte is written (the main thread's finish, moved). */
export interface FileFinish {
  mode: number;
  uid: number;
  gid: number;
  /** Nanoseconds since the epoch (decimal string). */
  mtimeNs: string;
  /** The file's size: a sparse file is extended to it (its tail may be a hole). */
  size: number;
  /** Extended attributes, base64 name and value. */
  xattrs?: [string, string][];
  /** The file's path in the snapshot, as every restore warning names it (set with xattrs only). */
  rel?: string;
}

export interface SpanWrite {
  path: WirePath;
  offset: number;
  /** Leave whole zero blocks unwritten (the file had holes). */
  sparse?: boolean;
  /** This write completes the file: apply its metadata and close it. */
  finish?: FileFinish;
}

/**
 * Decrypt, decompress and verify every blob of one span read from a pack (restore), then write
 * each plaintext to every place that needs it.
 */
export interface OpenSpanJob {
  op: 'openSpan';
  key: Buffer;
  idKey: Buffer;
  data: Uint8Array;
  blobs: { type: BlobType; id: Uint8Array; offset: number; length: number; rawLength: number }[];
  /**
   * Where each blob's plaintext goes: paths were validated and cleared by the main thread; files
   * are opened with O_CREAT | O_NOFOLLOW and never truncated (several workers may share a file).
   */
  writes: SpanWrite[][];
  /** Whether to set owners (the restore runs as root). */
  chown?: boolean;
}

export interface OpenSpanResult {
  input: Uint8Array;
  /** Metadata that could not be applied (e.g. xattrs on a file system without them). */
  warnings: string[];
}

/** What a worker needs to chunk, identify and seal file content for one writer session. */
export interface SessionConfig {
  idKey: Buffer;
  chunkerSeed: Buffer;
  chunker: ChunkerParams;
  key: Buffer;
  level: number;
  /** Ids the repository already has (shared memory, read-only): those chunks are not sealed. */
  known: SharedArrayBuffer;
  knownMask: number;
}

/**
 * Sizes of the arenas workers seal into: small files' batches, and large files' steps (room for
 * an 8 MiB step and the chunk that crosses its end is made by a second arena). Arenas of these
 * sizes travel back to the workers for reuse (`spares`).
 */
export const SMALL_ARENA_BYTES = 512 * 1024;
export const STEP_ARENA_BYTES = 9 * 1024 * 1024;
export const ARENA_SIZES: ReadonlySet<number> = new Set([SMALL_ARENA_BYTES, STEP_ARENA_BYTES]);

/**
 * Small arenas a file batch of `expected` sealed bytes (at most) fills: what the main thread
 * hands it as spares, so the worker need not allocate fresh ones (an arena's tail a blob did not
 * fit in is the `+ 1`). A batch below a quarter arena gets one exact-size buffer instead.
 */
export function batchArenas(expected: number): number {
  return expected < SMALL_ARENA_BYTES / 4 ? 0 : Math.ceil(expected / SMALL_ARENA_BYTES) + 1;
}

/**
 * Sealed blobs of one reply, back to back in a few large buffers (arenas), so a reply carries a
 * handful of transferables whatever the number of blobs.
 */
export interface SealedBlobs {
  arenas: Uint8Array[];
  /** `chunk` indexes the reply's `ids`. */
  blobs: { chunk: number; arena: number; offset: number; length: number; rawLength: number }[];
}

/** The open file's own stat: what was read is what is recorded. */
export interface ReadStat {
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
}

/**
 * Read the next part of a large file (backup): up to `maxBytes` are read, chunked, identified and
 * — when new — compressed and sealed. The file stays open in the worker between steps (`handle`);
 * the first step names `path`, `abort` closes it early.
 */
export interface FileStepJob {
  op: 'fileStep';
  handle: string;
  path?: WirePath;
  session: SessionConfig;
  maxBytes: number;
  abort?: boolean;
  /** Arenas to reuse (transferred). */
  spares?: ArrayBuffer[];
}

export interface FileStepResult {
  /** Ids (32 bytes each, concatenated) of the chunks read in this step, in file order. */
  ids: Uint8Array;
  sealed: SealedBlobs;
  /** Bytes read in this step. */
  bytes: number;
  done: boolean;
  /** On the first step. */
  stat?: ReadStat;
  /** The file could not be opened or read; it is skipped and recorded. */
  error?: string;
}

/**
 * Read many small files whole in one message (backup): a round trip per file would cost more than
 * reading it. `size` is what the walk saw, to size the output.
 */
export interface FileBatchJob {
  op: 'fileBatch';
  session: SessionConfig;
  files: { path: WirePath; size: number }[];
  /** Arenas to reuse (transferred). */
  spares?: ArrayBuffer[];
}

/**
 * Files up to this size go to the workers many to a message and are read whole. One that has
 * grown past twice this since it was listed is not read in the batch (`grown`): the walk reads
 * it step by step like any large file, so a batch never holds a file of unbounded size.
 */
export const BATCH_FILE_MAX = 1024 * 1024;

export interface FileBatchResult {
  /** Ids of every chunk of every file, in order; `files[i].chunks` says how many are file i's. */
  ids: Uint8Array;
  files: { chunks: number; bytes: number; stat?: ReadStat; error?: string; grown?: true }[];
  sealed: SealedBlobs;
}

export type Job = SealJob | OpenSpanJob | FileStepJob | FileBatchJob | ScanDirJob;

export type JobReply =
  { seq: number; ok: true; result: unknown } | { seq: number; ok: false; code?: string; message: string };
