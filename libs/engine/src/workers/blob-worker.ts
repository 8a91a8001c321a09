/** Worker thread: the CPU-heavy per-blob work (compress+encrypt, decrypt+decompress+verify). */
import { parentPort } from 'node:worker_threads';
import { openBlob, sealBlob } from '../blob';
import { EngineError } from '../errors';
import type { Job, JobReply } from './protocol';

const port = parentPort;
if (!port) throw new Error('blob-worker must run as a worker thread');

port.on('message', (msg: { seq: number; job: Job }) => {
  const { seq, job } = msg;
  let reply: JobReply;
  try {
    const out =
      job.op === 'seal'
        ? sealBlob(Buffer.from(job.key), job.type, job.id, job.data, job.level)
        : openBlob(Buffer.from(job.key), Buffer.from(job.idKey), job.type, job.id, job.data, job.rawLength);
    // Copy into an exactly-sized buffer we own, so it can be transferred without copying again.
    const owned = new Uint8Array(out.length);
    owned.set(out);
    reply = { seq, ok: true, data: owned };
    port.postMessage(reply, [owned.buffer]);
  } catch (err) {
    reply = {
      seq,
      ok: false,
      code: err instanceof EngineError ? err.code : undefined,
      message: err instanceof Error ? err.message : String(err),
    };
    port.postMessage(reply);
  }
});
