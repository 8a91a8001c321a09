import type { BlobType } from '../blob';
import type { ChunkerParams } from '../chunker';

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

/**
 * Decrypt, decompress and verify every blob of one span read from a pack (restore). With `writes`
 * the worker writes each plaintext where it belongs itself; otherwise it returns them end to end.
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
  writes?: { path: string; offset: number }[][];
}

export interface OpenSpanResult {
  /** Plaintexts end to end (empty when the worker wrote them itself). */
  parts: Uint8Array[];
  input: Uint8Array;
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
 * Read the next part of a file (backup): up to `maxBytes` are read, chunked, identified and — when
 * new — compressed and sealed. The file stays open in the worker between steps (`handle`); the
 * first step names `path`, `abort` closes it early.
 */
export interface FileStepJob {
  op: 'fileStep';
  handle: string;
  path?: string;
  session: SessionConfig;
  maxBytes: number;
  abort?: boolean;
}

export interface FileStepResult {
  /** Ids (32 bytes each, concatenated) of the chunks read in this step, in file order. */
  ids: Uint8Array;
  /** The chunks of this step that were not known, sealed; `index` points into `ids`. */
  blobs: { index: number; parts: Uint8Array[]; rawLength: number }[];
  /** Bytes read in this step. */
  bytes: number;
  done: boolean;
  /** On the first step: the open file's own stat (what was read is what is recorded). */
  stat?: { mtimeNs: string; ctimeNs: string; ino: string };
  /** The file could not be opened or read; it is skipped and recorded. */
  error?: string;
}

export type Job = SealJob | OpenSpanJob | FileStepJob;

export type JobReply =
  { seq: number; ok: true; result: unknown } | { seq: number; ok: false; code?: string; message: string };
