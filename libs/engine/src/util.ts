/**
 * Runs `fn` over `items` with at most `limit` in flight; results keep the input order. After a
 * failure nothing new starts, and the first error is thrown only once the running calls have
 * settled — so callers may release what those calls use (worker threads, locks) right after.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  });
  const settled = await Promise.allSettled(lanes);
  const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
  return out;
}

/** A counting semaphore for bytes or tasks in flight. */
export class Budget {
  private used = 0;
  private readonly waiters: { n: number; resolve: () => void }[] = [];
  constructor(private readonly capacity: number) {}

  async take(n: number): Promise<void> {
    const want = Math.min(n, this.capacity);
    if (this.used + want <= this.capacity && this.waiters.length === 0) {
      this.used += want;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push({ n: want, resolve }));
  }

  give(n: number): void {
    this.used -= Math.min(n, this.capacity);
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.n <= this.capacity) {
      const w = this.waiters.shift()!;
      this.used += w.n;
      w.resolve();
    }
  }
}

/**
 * Gives an ArrayBuffer's memory back now instead of at a later garbage collection, by detaching it
 * (every view of it reads as empty from then on). V8 collects a dead buffer only when its heap
 * needs a collection — it allows ~64 MiB of new external memory first, per thread — so the large
 * buffers the pipeline drops (read windows, sealing arenas nobody reuses) otherwise sit in RSS as
 * garbage; those dead arenas were most of a first backup's peak. Only for buffers nothing reads
 * any more.
 */
export function freeNow(buf: ArrayBufferLike): void {
  if (!(buf instanceof ArrayBuffer) || buf.detached || buf.byteLength === 0) return;
  try {
    buf.transfer(0);
  } catch {
    // Not detachable (memory Node or an addon owns): the collector frees it.
  }
}

/**
 * Reusable ArrayBuffers in power-of-two size classes. Chunk buffers travel to a worker and back
 * for every blob; reusing them saves the page faults of fresh memory and keeps dead buffers from
 * piling up between garbage collections.
 */
export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private pooled = 0;
  constructor(private readonly maxPooledBytes: number) {}

  private static classOf(n: number): number {
    return Math.max(64 * 1024, 2 ** Math.ceil(Math.log2(Math.max(1, n))));
  }

  /** A view of exactly `n` bytes over a buffer that the caller owns until `release`. */
  borrow(n: number): Uint8Array {
    const size = BufferPool.classOf(n);
    const ab = this.free.get(size)?.pop();
    if (ab) {
      this.pooled -= size;
      return new Uint8Array(ab, 0, n);
    }
    return new Uint8Array(new ArrayBuffer(size), 0, n);
  }

  release(view: Uint8Array): void {
    const ab = view.buffer as ArrayBuffer;
    const size = ab.byteLength;
    // Not one of ours (no size class): left alone, it may be shared.
    if (size !== BufferPool.classOf(size)) return;
    if (this.pooled + size > this.maxPooledBytes) {
      freeNow(ab);
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(ab);
    this.pooled += size;
  }
}

/**
 * Sealing arenas on their way back to the worker threads (backup). A worker seals into an arena,
 * transfers it here, packs take views of it; once every pack holding part of it is stored, the
 * arena goes back to a worker with its next job instead of waiting for the garbage collector —
 * so memory stays bounded and sealed bytes land on pages that are already mapped.
 */
const IDLE_TAKES = 16;

export class ArenaRecycler {
  private readonly refs = new Map<ArrayBufferLike, number>();
  private readonly free: ArrayBuffer[] = [];
  private pooled = 0;
  private takes = 0;
  private readonly lastTake = new Map<number, number>();
  constructor(
    /** The arena sizes worth keeping (what workers allocate). */
    private readonly sizes: ReadonlySet<number>,
    private readonly maxPooledBytes: number,
  ) {}

  /** A pack holds `buf`; it must be the session's own (arenas, sealed trees): released, it is freed. */
  hold(buf: ArrayBufferLike): void {
    this.refs.set(buf, (this.refs.get(buf) ?? 0) + 1);
  }

  release(buf: ArrayBufferLike): void {
    const n = (this.refs.get(buf) ?? 1) - 1;
    if (n > 0) this.refs.set(buf, n);
    else {
      this.refs.delete(buf);
      this.keep(buf);
    }
  }

  /** Arenas of a reply that no pack took (every blob was a duplicate) are free at once. */
  settle(arenas: readonly Uint8Array[]): void {
    for (const a of arenas) if (!this.refs.has(a.buffer)) this.keep(a.buffer);
  }

  /**
   * Frees pooled arenas of sizes no job has asked for in the last IDLE_TAKES requests: the step
   * arenas of large files once the walk is among small files (and the other way round) would
   * otherwise stay in memory to the end of the backup.
   */
  private dropIdle(size: number): void {
    this.lastTake.set(size, ++this.takes);
    if (this.free.every((b) => b.byteLength === size)) return;
    for (let i = this.free.length - 1; i >= 0; i--) {
      const b = this.free[i]!;
      if (this.takes - (this.lastTake.get(b.byteLength) ?? 0) <= IDLE_TAKES) continue;
      this.free.splice(i, 1);
      this.pooled -= b.byteLength;
      freeNow(b);
    }
  }

  /** Pools an arena nothing views any more, or frees it at once (see freeNow). */
  private keep(buf: ArrayBufferLike): void {
    if (
      !(buf instanceof ArrayBuffer) ||
      buf.byteLength === 0 ||
      !this.sizes.has(buf.byteLength) ||
      this.pooled + buf.byteLength > this.maxPooledBytes
    ) {
      freeNow(buf);
      return;
    }
    this.free.push(buf);
    this.pooled += buf.byteLength;
  }

  /**
   * Up to `n` free arenas of `size` bytes for a job (transferred with it: the caller must not keep
   * them), or of any size when `size` is absent.
   */
  take(n: number, size?: number): ArrayBuffer[] {
    if (size !== undefined) this.dropIdle(size);
    const out: ArrayBuffer[] = [];
    for (let i = this.free.length - 1; i >= 0 && out.length < n; i--) {
      const b = this.free[i]!;
      if (size !== undefined && b.byteLength !== size) continue;
      this.free.splice(i, 1);
      this.pooled -= b.byteLength;
      out.push(b);
    }
    return out;
  }
}
