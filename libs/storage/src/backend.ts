/**
 * The one small interface every repository target implements.
 *
 * Names are slash-separated relative paths such as `data/ab/ab12…` or `keys/4f…`. They never
 * start with a slash, never contain `..`, and are validated by `assertValidName`.
 */
export interface StoredObject {
  /** Relative name, e.g. `data/ab/ab12…`. */
  name: string;
  /** Size in bytes. */
  size: number;
  /** Last modification time, when the backend knows it. */
  mtime?: Date;
}

export interface ByteRange {
  offset: number;
  length: number;
  /**
   * Read into this buffer (at least `length` bytes) instead of a fresh one; the result is a view
   * of it. Lets a caller reuse memory whose pages are already mapped (restore reads hundreds of
   * megabytes of spans).
   */
  into?: Uint8Array;
}

/**
 * An object written piece by piece before it has a name (a pack is named after its hash), kept
 * out of memory until stored. Nothing of it is visible to `list`/`get` before `commit`.
 */
export interface Spool {
  /** Bytes written so far. */
  readonly size: number;
  /** Appends `parts`; the caller may reuse their memory once the promise resolves. */
  write(parts: readonly Uint8Array[]): Promise<void>;
  /** Stores everything written as `name`, atomically like `put`. The spool is spent afterwards. */
  commit(name: string): Promise<void>;
  /** Throws away what was written. Harmless after `commit`, and when called twice. */
  discard(): Promise<void>;
}

export interface StorageBackend {
  /** Human-readable location (path or s3://bucket/prefix), never containing credentials. */
  readonly location: string;
  /**
   * Atomically store `data` under `name`: readers see either nothing or the whole object,
   * never a partial one. Overwrites an existing object of the same name. `data` may be given in
   * parts (written back to back), so callers need not concatenate large objects in memory.
   */
  put(name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void>;
  /** Read a whole object, or a byte range of it. Throws StorageError code NOT_FOUND if absent. */
  get(name: string, range?: ByteRange): Promise<Buffer>;
  /** Size and mtime of one object, or null if it does not exist. */
  stat(name: string): Promise<StoredObject | null>;
  /** Every object whose name starts with `prefix` (e.g. `snapshots/`), in no particular order. */
  list(prefix: string): AsyncIterable<StoredObject>;
  /**
   * Only the names of the objects under `prefix`: what `list` gives without the size, which a
   * filesystem must stat every file for. Listing index files and snapshots — on every backup, in
   * repositories with thousands of them — needs nothing else.
   */
  listNames(prefix: string): AsyncIterable<string>;
  /**
   * A spool for an object that will land under `dir` (e.g. `data`). Optional: without it, callers
   * hold the object in memory and `put` it.
   */
  spool?(dir: string): Promise<Spool>;
  /**
   * Removes what interrupted writes left (a killed process's temporary files) last modified
   * before `olderThan`, so no write still in progress is touched. Optional: backends whose
   * temporary data cannot outlive the process (S3 spools are unlinked files) have none.
   */
  sweepTemp?(olderThan: Date): Promise<{ files: number; bytes: number }>;
  /** Remove an object; removing an absent object is not an error. */
  delete(name: string): Promise<void>;
  /** Free bytes at the target when the backend can tell (filesystems), else null. */
  freeSpace(): Promise<number | null>;
  /** Release connections and timers. */
  close(): Promise<void>;
}
