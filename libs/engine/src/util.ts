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
    if (size !== BufferPool.classOf(size) || this.pooled + size > this.maxPooledBytes) return;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(ab);
    this.pooled += size;
  }
}
