/**
 * A process-wide cache of decrypted repository metadata that can never go stale: index files and
 * snapshot headers are content-addressed (a file's name is the hash of its bytes, checked on every
 * read), so the same name in the same repository always means the same content. A long-lived
 * process that backs up many services into one repository (a fleet worker) then reads each of
 * these files once, instead of every index file and every snapshot header on every backup —
 * which made a run of N small services cost O(N²) reads.
 *
 * Keys include the repository id, so two repositories never share an entry; entries are dropped
 * least-recently-used first once their total size passes the limit. Cached values are shared:
 * callers must treat them as read-only.
 */
export class MetaCache {
  private readonly entries = new Map<string, { value: unknown; bytes: number }>();
  private total = 0;

  constructor(private limitBytes: number) {}

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.total;
  }

  setLimit(bytes: number): void {
    this.limitBytes = Math.max(0, bytes);
    this.evict();
  }

  get<T>(key: string): T | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    // Map keeps insertion order: re-inserting marks the entry most recently used.
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value as T;
  }

  set(key: string, value: unknown, bytes: number): void {
    if (bytes > this.limitBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.total -= old.bytes;
      this.entries.delete(key);
    }
    this.entries.set(key, { value, bytes });
    this.total += bytes;
    this.evict();
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }

  private evict(): void {
    for (const [key, e] of this.entries) {
      if (this.total <= this.limitBytes) break;
      this.entries.delete(key);
      this.total -= e.bytes;
    }
  }
}

/** 64 MiB of heap: decoded index files of ~1.4M blobs (45 bytes each), manifests, snapshot headers. */
export const metaCache = new MetaCache(64 * 1024 * 1024);

/** Sets the cache's size limit (0 turns it off). */
export function setMetadataCacheLimit(bytes: number): void {
  metaCache.setLimit(bytes);
}
