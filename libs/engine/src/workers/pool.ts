/**
 * A small pool of worker threads for the blob pipeline, so both cores work: the main thread reads,
 * chunks and hashes; workers compress and encrypt (backup) or decrypt and verify (restore).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EngineError, type EngineErrorCode } from '../errors';
import type { Job, JobReply, JobResult } from './protocol';

interface Pending {
  resolve(result: JobResult): void;
  reject(err: Error): void;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly load: number[] = [];
  private seq = 0;
  private closed = false;

  constructor(size = Math.max(1, Math.min(4, availableParallelism()))) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(join(__dirname, 'blob-worker.js'));
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

  /**
   * Runs a job. The memory behind `job.data` is transferred to the worker (the caller must not
   * touch it until the result hands it back as `input`), so it must be a buffer the caller owns
   * outright — never a slice of Node's shared small-buffer pool.
   */
  run(job: Job): Promise<JobResult> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    let best = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i]! < this.load[best]!) best = i;
    const seq = ++this.seq;
    // A busy worker keeps the process alive; an idle one must not (see onReply).
    if (this.load[best]!++ === 0) this.workers[best]!.ref();
    return new Promise<JobResult>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.workers[best]!.postMessage({ seq, job }, [job.data.buffer as ArrayBuffer]);
    });
  }

  private onReply(worker: number, reply: JobReply): void {
    const p = this.pending.get(reply.seq);
    this.pending.delete(reply.seq);
    if (--this.load[worker]! === 0) this.workers[worker]!.unref();
    if (!p) return;
    if (reply.ok) p.resolve({ parts: reply.parts, input: reply.input });
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
