/**
 * A small pool of worker threads for the blob pipeline, so every core works: the main thread walks
 * and packs; workers read, chunk, hash, compress and encrypt (backup) or decrypt, verify and write
 * (restore).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EngineError, type EngineErrorCode } from '../errors';
import type { ScanDirJob, ScanDirResult } from '../scan';
import type {
  FileBatchJob,
  FileBatchResult,
  FileStepJob,
  FileStepResult,
  Job,
  JobReply,
  OpenSpanJob,
  OpenSpanResult,
  SealJob,
  SealResult,
} from './protocol';

interface Pending {
  resolve(result: unknown): void;
  reject(err: Error): void;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly load: number[] = [];
  private seq = 0;
  private closed = false;
  private next = 0;

  constructor(size = Math.max(1, Math.min(4, availableParallelism()))) {
    for (let i = 0; i < size; i++) {
      // Workers hold little JavaScript (their data lives in transferred buffers and the codec's
      // own memory): a small young generation keeps each thread's heap from growing for nothing.
      const w = new Worker(join(__dirname, 'blob-worker.js'), {
        resourceLimits: { maxYoungGenerationSizeMb: 8 },
      });
      w.on('message', (reply: JobReply) => this.onReply(i, reply));
      w.on('error', (err: Error) => this.failAll(err));
      w.unref();
      this.workers.push(w);
      this.load.push(0);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** The least busy worker: where a new file's steps should go (they must all go to one). */
  pick(): number {
    // Ties go round-robin: jobs issued one after another onto idle workers spread over them.
    const n = this.load.length;
    const start = this.next++ % n;
    let best = start;
    for (let k = 1; k < n; k++) {
      const i = (start + k) % n;
      if (this.load[i]! < this.load[best]!) best = i;
    }
    return best;
  }

  /**
   * Runs a job. The memory behind `job.data` is transferred to the worker (the caller must not
   * touch it until the result hands it back as `input`), so it must be a buffer the caller owns
   * outright — never a slice of Node's shared small-buffer pool.
   */
  run(job: SealJob): Promise<SealResult>;
  run(job: OpenSpanJob): Promise<OpenSpanResult>;
  run(job: FileStepJob, worker: number): Promise<FileStepResult>;
  run(job: FileBatchJob): Promise<FileBatchResult>;
  run(job: ScanDirJob): Promise<ScanDirResult[]>;
  run(job: Job, worker = this.pick()): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    const seq = ++this.seq;
    // A busy worker keeps the process alive; an idle one must not (see onReply).
    if (this.load[worker]!++ === 0) this.workers[worker]!.ref();
    return new Promise<unknown>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      const transfer =
        job.op === 'scanDir'
          ? []
          : job.op === 'fileStep' || job.op === 'fileBatch'
            ? (job.spares ?? [])
            : [job.data.buffer as ArrayBuffer];
      this.workers[worker]!.postMessage({ seq, job }, transfer);
    });
  }

  private onReply(worker: number, reply: JobReply): void {
    const p = this.pending.get(reply.seq);
    this.pending.delete(reply.seq);
    if (--this.load[worker]! === 0) this.workers[worker]!.unref();
    if (!p) return;
    if (reply.ok) p.resolve(reply.result);
    else
      p.reject(
        reply.code ? new EngineError(reply.code as EngineErrorCode, reply.message) : new Error(reply.message),
      );
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
