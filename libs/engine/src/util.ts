/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
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
