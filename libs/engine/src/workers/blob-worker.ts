/** Worker thread: the CPU-heavy per-blob work (compress+encrypt, decrypt+decompress+verify). */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { openBlob, sealBlobParts } from '../blob';
import { EngineError } from '../errors';
import type { Job, JobReply, OpenSpanJob } from './protocol';

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

/** A part we may transfer: it must own its ArrayBuffer (small Buffers live in a shared pool). */
function transferable(p: Uint8Array): Uint8Array {
  return p.byteOffset === 0 && p.byteLength === p.buffer.byteLength ? p : new Uint8Array(p);
}

port.on('message', (msg: { seq: number; job: Job }) => {
  const { seq, job } = msg;
  try {
    const parts =
      job.op === 'seal'
        ? sealBlobParts(keyObject(job.key), job.type, job.id, job.data, job.level).map(transferable)
        : openSpan(job);
    const reply: JobReply = { seq, ok: true, parts, input: job.data };
    port.postMessage(reply, [...parts.map((p) => p.buffer as ArrayBuffer), job.data.buffer as ArrayBuffer]);
  } catch (err) {
    const reply: JobReply = {
      seq,
      ok: false,
      code: err instanceof EngineError ? err.code : undefined,
      message: err instanceof Error ? err.message : String(err),
      input: job.data,
    };
    port.postMessage(reply, [job.data.buffer as ArrayBuffer]);
  }
});
