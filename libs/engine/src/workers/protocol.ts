import type { BlobType } from '../blob';

export interface SealJob {
  op: 'seal';
  key: Buffer;
  type: BlobType;
  id: Uint8Array;
  data: Uint8Array;
  level: number;
}

export interface OpenJob {
  op: 'open';
  key: Buffer;
  idKey: Buffer;
  type: BlobType;
  id: Uint8Array;
  data: Uint8Array;
  rawLength: number;
}

export type Job = SealJob | OpenJob;

export type JobReply =
  { seq: number; ok: true; data: Uint8Array } | { seq: number; ok: false; code?: string; message: string };
