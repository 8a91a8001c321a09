import type { BlobType } from '../blob';

/**
 * Compress and encrypt one blob (backup). `data` views a buffer the main thread lends: its memory
 * is transferred to the worker and handed back with the reply for reuse.
 */
export interface SealJob {
  op: 'seal';
  key: Buffer;
  type: BlobType;
  id: Uint8Array;
  data: Uint8Array;
  level: number;
}

/**
 * Decrypt, decompress and verify every blob of one span read from a pack (restore). The whole
 * span travels in one message and comes back as one buffer with the plaintexts laid end to end,
 * in the order of `blobs`.
 */
export interface OpenSpanJob {
  op: 'openSpan';
  key: Buffer;
  idKey: Buffer;
  data: Uint8Array;
  blobs: { type: BlobType; id: Uint8Array; offset: number; length: number; rawLength: number }[];
  /**
   * Where each blob's plaintext goes (restore): the worker writes it there itself and returns no
   * plaintext. Paths were validated and cleared by the main thread; files are opened with
   * O_CREAT | O_NOFOLLOW.
   */
  writes?: { path: string; offset: number }[][];
}

export type Job = SealJob | OpenSpanJob;

export interface JobResult {
  /** The output, in parts written back to back (sealed blob) or one part (plaintexts). */
  parts: Uint8Array[];
  /** The job's input buffer, handed back so its memory can be reused. */
  input: Uint8Array;
}

export type JobReply =
  | ({ seq: number; ok: true } & JobResult)
  | { seq: number; ok: false; code?: string; message: string; input: Uint8Array };
