/**
 * Manifest `manifests/<id>`: the writer-readable side of a snapshot. For each file a keyed path
 * fingerprint with size, mtime, ctime, inode and chunk ids (change detection for the next
 * backup), and the ids of all trees. Together these are every blob the snapshot references, so
 * forget and prune work with the writer key alone. File names never appear in it.
 *
 * Stored in binary columns (format 2, docs/repository-format.md); format 1 (JSON) still reads.
 */
import { keyedHash } from './crypto';
import { corrupt } from './errors';
import { openCompressed, verifyContentName } from './meta';
import type { Repository } from './repository';
import { StorageError } from '@vaultline/storage';

/** A file's entry in a format-1 (JSON) manifest: [size, mtimeNs, ctimeNs, inode, chunk ids (hex)]. */
export type ManifestFile = [number, string, string, string, string[]];

const ID = 32;
/** Bytes of a path fingerprint. */
export const FP_LEN = 16;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const U64_MAX = (1n << 64n) - 1n;

/**
 * A manifest's files in memory: rows in typed-array columns (fingerprint, size, mtime, ctime,
 * inode, chunk ids as raw bytes) and an open-addressing table over the fingerprints (keyed
 * hashes, hence uniform). A first backup of 60,000 files held ~300 bytes of JS objects per
 * entry (a tuple, three decimal strings, an array of hex strings) that the collector traced again
 * and again, and the heap it grew to was twice that: ~80 MiB at the end. Here an entry is ~110
 * bytes, none of them JS objects (docs/benchmarks.md).
 */
export class ManifestFiles {
  private n = 0; // rows, dead ones included
  private alive = 0;
  private fps = Buffer.alloc(256 * FP_LEN);
  private dead = new Uint8Array(256);
  private sizes = new Float64Array(256);
  private times = new BigInt64Array(512); // mtime, ctime per row
  private inos = new BigUint64Array(256);
  private chunkAt = new Uint32Array(256);
  private chunkN = new Uint32Array(256);
  private pool = Buffer.alloc(256 * ID);
  private poolN = 0; // chunk ids in the pool
  private slots = new Uint32Array(512); // row + 1, or 0
  private readonly scratch = Buffer.alloc(FP_LEN);

  /** Entries (fingerprints), not rows: a row replaced or deleted is no longer counted. */
  get size(): number {
    return this.alive;
  }

  /** The live row of the fingerprint at `fp[at…at+16]`, or -1. */
  row(fp: Uint8Array, at = 0): number {
    const r = this.probe(fp, at);
    return r >= 0 && this.dead[r] === 0 ? r : -1;
  }

  has(fp: Uint8Array, at = 0): boolean {
    return this.row(fp, at) >= 0;
  }

  /** The row of a fingerprint given in base64url (format 1, tests), or -1. */
  rowOf(fp: string): number {
    return this.row(fingerprintBytes(fp, this.scratch, 'manifest'));
  }

  delete(fp: Uint8Array, at = 0): boolean {
    const r = this.row(fp, at);
    if (r < 0) return false;
    this.dead[r] = 1;
    this.alive--;
    return true;
  }

  fingerprint(row: number): Buffer {
    return this.fps.subarray(row * FP_LEN, (row + 1) * FP_LEN);
  }

  fileSize(row: number): number {
    return this.sizes[row]!;
  }

  mtime(row: number): bigint {
    return this.times[row * 2]!;
  }

  ctime(row: number): bigint {
    return this.times[row * 2 + 1]!;
  }

  ino(row: number): bigint {
    return this.inos[row]!;
  }

  chunkCount(row: number): number {
    return this.chunkN[row]!;
  }

  chunkHex(row: number): string[] {
    const out = new Array<string>(this.chunkN[row]!);
    const at = this.chunkAt[row]! * ID;
    for (let i = 0; i < out.length; i++) out[i] = this.pool.toString('hex', at + i * ID, at + (i + 1) * ID);
    return out;
  }

  /** Whether the index has every chunk of the row (no Buffer per chunk). */
  chunksIn(row: number, index: { hasAt(bytes: Uint8Array, at: number): boolean }): boolean {
    const at = this.chunkAt[row]! * ID;
    for (let i = 0, n = this.chunkN[row]!; i < n; i++) if (!index.hasAt(this.pool, at + i * ID)) return false;
    return true;
  }

  /**
   * Sets the fingerprint at `fp[fpAt…]` to a new row. `chunks` are hex ids or their raw bytes (32
   * each). Values come from stat (in range) or from a stored manifest, checked on reading; the
   * typed arrays would wrap others.
   */
  set(
    fp: Uint8Array,
    fpAt: number,
    size: number,
    mtime: bigint,
    ctime: bigint,
    ino: bigint,
    chunks: readonly string[] | Uint8Array,
  ): number {
    const raw = chunks instanceof Uint8Array ? chunks : null;
    const count = raw ? raw.length / ID : (chunks as readonly string[]).length;
    this.reservePool(count);
    if (raw) this.pool.set(raw, this.poolN * ID);
    else {
      const hex = chunks as readonly string[];
      for (let i = 0; i < count; i++) this.pool.write(hex[i]!, (this.poolN + i) * ID, ID, 'hex');
    }
    return this.commit(fp, fpAt, size, mtime, ctime, ino, count);
  }

  /**
   * Sets an entry of a format-1 (JSON) manifest, refusing values no writer stores (CORRUPT).
   * Checked by hand, not by regular expressions: a no-change backup may load 60,000 of these.
   */
  setStored(fp: string, f: ManifestFile, what: string): number {
    const fpBytes = fingerprintBytes(fp, this.scratch, what);
    const [size, mtime, ctime, ino, chunks] = f;
    if (!Number.isSafeInteger(size) || size < 0) throw corrupt(`${what}: an entry's size is not a size`);
    const m = decimal(mtime, what);
    const c = decimal(ctime, what);
    const i = decimal(ino, what);
    if (m < I64_MIN || m > I64_MAX || c < I64_MIN || c > I64_MAX || i < 0n || i > U64_MAX)
      throw corrupt(`${what}: an entry's time or inode is out of range`);
    this.reservePool(chunks.length);
    // write() stops at the first pair that is not hex: fewer than 32 bytes is no id.
    for (let k = 0; k < chunks.length; k++) {
      const h = chunks[k]!;
      if (h.length !== ID * 2 || this.pool.write(h, (this.poolN + k) * ID, ID, 'hex') !== ID)
        throw corrupt(`${what}: an entry's chunk id is not an id`);
    }
    return this.commit(fpBytes, 0, size, m, c, i, chunks.length);
  }

  /** Sets the fingerprint at `fp[fpAt…]` to a copy of row `row` of `from` (which may be this table). */
  copy(fp: Uint8Array, fpAt: number, from: ManifestFiles, row: number): number {
    const at = from.chunkAt[row]! * ID;
    const chunks = Buffer.from(from.pool.subarray(at, at + from.chunkN[row]! * ID));
    return this.set(fp, fpAt, from.sizes[row]!, from.mtime(row), from.ctime(row), from.ino(row), chunks);
  }

  /** Same size, times, inode and chunks. */
  same(row: number, other: ManifestFiles, otherRow: number): boolean {
    const n = this.chunkN[row]!;
    if (
      this.sizes[row] !== other.sizes[otherRow] ||
      this.mtime(row) !== other.mtime(otherRow) ||
      this.ctime(row) !== other.ctime(otherRow) ||
      this.ino(row) !== other.ino(otherRow) ||
      n !== other.chunkN[otherRow]
    )
      return false;
    const a = this.chunkAt[row]! * ID;
    const b = other.chunkAt[otherRow]! * ID;
    return this.pool.compare(other.pool, b, b + n * ID, a, a + n * ID) === 0;
  }

  /** The row as a format-1 entry (tests, diagnostics). */
  entry(row: number): ManifestFile {
    return [
      this.sizes[row]!,
      this.mtime(row).toString(),
      this.ctime(row).toString(),
      this.ino(row).toString(),
      this.chunkHex(row),
    ];
  }

  /** The live rows, in the order they were set. */
  *rows(): Generator<number> {
    for (let r = 0; r < this.n; r++) if (this.dead[r] === 0) yield r;
  }

  /** A plain object of the entries by base64url fingerprint (tests, diagnostics). */
  toRecord(): Record<string, ManifestFile> {
    const out: Record<string, ManifestFile> = {};
    for (const row of this.rows()) out[this.fingerprint(row).toString('base64url')] = this.entry(row);
    return out;
  }

  static fromRecord(files: Record<string, ManifestFile>, what = 'manifest'): ManifestFiles {
    const t = new ManifestFiles();
    for (const fp of Object.keys(files)) t.setStored(fp, files[fp]!, what);
    return t;
  }

  /** A copy of the live rows (a cached base that deltas are applied to). */
  clone(): ManifestFiles {
    const t = new ManifestFiles();
    for (const row of this.rows()) t.copy(this.fps, row * FP_LEN, this, row);
    return t;
  }

  /** Appends rows decoded from a format-2 manifest (see `decodeManifest`, which checked them). */
  private appendColumns(c: DecodedColumns, what: string): void {
    const count = c.fps.length / FP_LEN;
    let chunk = 0;
    for (let i = 0; i < count; i++) {
      const n = c.counts[i]!;
      const size = Number(c.sizes[i]!);
      if (this.row(c.fps, i * FP_LEN) >= 0) throw corrupt(`${what} lists a fingerprint twice`);
      this.reservePool(n);
      c.chunks.copy(this.pool, this.poolN * ID, chunk * ID, (chunk + n) * ID);
      this.commit(c.fps, i * FP_LEN, size, c.mtimes[i]!, c.ctimes[i]!, c.inos[i]!, n);
      chunk += n;
    }
  }

  static fromColumns(c: DecodedColumns, what: string): ManifestFiles {
    const t = new ManifestFiles();
    t.appendColumns(c, what);
    return t;
  }

  /** Column `name` of the live rows (or of `rows`), as bytes: for `encodeManifest`. */
  columnBytes(
    rows: readonly number[],
    name: 'fps' | 'sizes' | 'mtimes' | 'ctimes' | 'inos' | 'counts',
  ): Buffer {
    const width = name === 'fps' ? FP_LEN : name === 'counts' ? 4 : 8;
    const out = Buffer.allocUnsafe(rows.length * width);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      const at = i * width;
      switch (name) {
        case 'fps':
          this.fps.copy(out, at, r * FP_LEN, (r + 1) * FP_LEN);
          break;
        case 'sizes':
          out.writeBigUInt64LE(BigInt(this.sizes[r]!), at);
          break;
        case 'mtimes':
          out.writeBigInt64LE(this.times[r * 2]!, at);
          break;
        case 'ctimes':
          out.writeBigInt64LE(this.times[r * 2 + 1]!, at);
          break;
        case 'inos':
          out.writeBigUInt64LE(this.inos[r]!, at);
          break;
        case 'counts':
          out.writeUInt32LE(this.chunkN[r]!, at);
          break;
      }
    }
    return out;
  }

  /** The chunk ids of `rows`, in order, as one buffer. */
  chunkBytes(rows: readonly number[]): Buffer {
    let total = 0;
    for (const r of rows) total += this.chunkN[r]!;
    const out = Buffer.allocUnsafe(total * ID);
    let at = 0;
    for (const r of rows) {
      const from = this.chunkAt[r]! * ID;
      at += this.pool.copy(out, at, from, from + this.chunkN[r]! * ID);
    }
    return out;
  }

  /** The slot holding the fingerprint's row (dead or alive), or -1-<free slot>. */
  private probe(fp: Uint8Array, at: number): number {
    const mask = this.slots.length - 1;
    let s = (fp[at]! | (fp[at + 1]! << 8) | (fp[at + 2]! << 16) | (fp[at + 3]! << 24)) & mask;
    for (;;) {
      const e = this.slots[s]!;
      if (e === 0) {
        this.freeSlot = s;
        return -1;
      }
      const off = (e - 1) * FP_LEN;
      if (this.fps.compare(fp, at, at + FP_LEN, off, off + FP_LEN) === 0) {
        this.foundSlot = s;
        return e - 1;
      }
      s = (s + 1) & mask;
    }
  }

  private freeSlot = 0;
  private foundSlot = 0;

  /** A new row for the fingerprint; its `count` chunk ids were just written at the pool's end. */
  private commit(
    fp: Uint8Array,
    fpAt: number,
    size: number,
    mtime: bigint,
    ctime: bigint,
    ino: bigint,
    count: number,
  ): number {
    const row = this.n;
    if (row === this.sizes.length) this.growRows();
    // Slots stay at most half full.
    if ((row + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    const old = this.probe(fp, fpAt);
    if (old >= 0) {
      // Replaced: the old row stays in the columns, dead.
      if (this.dead[old] === 0) this.alive--;
      this.dead[old] = 1;
      this.slots[this.foundSlot] = row + 1;
    } else this.slots[this.freeSlot] = row + 1;
    this.n++;
    this.alive++;
    this.fps.set(fp.subarray(fpAt, fpAt + FP_LEN), row * FP_LEN);
    this.dead[row] = 0;
    this.sizes[row] = size;
    this.times[row * 2] = mtime;
    this.times[row * 2 + 1] = ctime;
    this.inos[row] = ino;
    this.chunkAt[row] = this.poolN;
    this.chunkN[row] = count;
    this.poolN += count;
    return row;
  }

  private rehash(cap: number): void {
    this.slots = new Uint32Array(cap);
    const mask = cap - 1;
    for (let r = 0; r < this.n; r++) {
      // Dead rows whose fingerprint was set again are reached through the newer row only.
      const at = r * FP_LEN;
      const f = this.fps;
      let s = (f[at]! | (f[at + 1]! << 8) | (f[at + 2]! << 16) | (f[at + 3]! << 24)) & mask;
      while (this.slots[s] !== 0) {
        const e = this.slots[s]! - 1;
        if (this.fps.compare(this.fps, at, at + FP_LEN, e * FP_LEN, (e + 1) * FP_LEN) === 0) break;
        s = (s + 1) & mask;
      }
      // Later rows of one fingerprint replace earlier ones (only the last can be alive).
      this.slots[s] = r + 1;
    }
  }

  private reservePool(count: number): void {
    if ((this.poolN + count) * ID <= this.pool.length) return;
    let cap = this.pool.length * 2;
    while ((this.poolN + count) * ID > cap) cap *= 2;
    const next = Buffer.alloc(cap);
    this.pool.copy(next, 0, 0, this.poolN * ID);
    this.pool = next;
  }

  private growRows(): void {
    const cap = this.sizes.length * 2;
    const fps = Buffer.alloc(cap * FP_LEN);
    this.fps.copy(fps);
    this.fps = fps;
    const grow = <T extends Uint8Array | Float64Array | BigInt64Array | BigUint64Array | Uint32Array>(
      a: T,
      make: (n: number) => T,
      n: number,
    ): T => {
      const b = make(n);
      b.set(a as never);
      return b;
    };
    this.dead = grow(this.dead, (n) => new Uint8Array(n), cap);
    this.sizes = grow(this.sizes, (n) => new Float64Array(n), cap);
    this.times = grow(this.times, (n) => new BigInt64Array(n), cap * 2);
    this.inos = grow(this.inos, (n) => new BigUint64Array(n), cap);
    this.chunkAt = grow(this.chunkAt, (n) => new Uint32Array(n), cap);
    this.chunkN = grow(this.chunkN, (n) => new Uint32Array(n), cap);
  }
}

/** 16 bytes from a base64url fingerprint (format 1), into `into`; anything else is CORRUPT. */
function fingerprintBytes(fp: string, into: Buffer, what: string): Buffer {
  // 22 characters encode 16 bytes; write() stops at the first character that is not base64url.
  if (fp.length !== 22 || into.write(fp, 'base64url') !== FP_LEN || into.toString('base64url') !== fp)
    throw corrupt(`${what}: an entry's fingerprint is not a fingerprint`);
  return into;
}

/** A decimal integer of at most 20 digits, optionally negative (BigInt alone takes "0x1f", " 7", ""). */
function decimal(v: string, what: string): bigint {
  const start = v.charCodeAt(0) === 45 ? 1 : 0; // '-'
  let ok = v.length > start && v.length - start <= 20;
  for (let i = start; ok && i < v.length; i++) {
    const c = v.charCodeAt(i);
    ok = c >= 48 && c <= 57;
  }
  if (!ok) throw corrupt(`${what}: an entry's time or inode is not a decimal integer`);
  return BigInt(v);
}

export interface Manifest {
  files: ManifestFiles;
  trees: string[];
}

/** Of the path's bytes relative to the source folder (a string is taken as UTF-8). */
export function pathFingerprintBytes(pathKey: Buffer, relPath: string | Buffer): Buffer {
  const bytes = typeof relPath === 'string' ? Buffer.from(relPath, 'utf8') : relPath;
  return keyedHash(pathKey, bytes).subarray(0, FP_LEN);
}

/** `pathFingerprintBytes` in base64url. */
export function pathFingerprint(pathKey: Buffer, relPath: string | Buffer): string {
  return pathFingerprintBytes(pathKey, relPath).toString('base64url');
}

/** The stored manifests a snapshot needs: its own and, for a delta, its bases. */
export function manifestsOf(s: { manifest: string; manifestBases?: string[] }): string[] {
  return [s.manifest, ...(s.manifestBases ?? [])];
}

/** Every blob id (hex) a manifest references. */
export function* manifestRefs(m: Manifest): IterableIterator<string> {
  yield* m.trees;
  for (const row of m.files.rows()) yield* m.files.chunkHex(row);
}

/**
 * A stored manifest, decoded (either format): whole (no `base`), or a delta — the entries new or
 * changed since the manifest `base` and the fingerprints `removed` since it (16 bytes each), so
 * a backup that changed 1 % of 60 000 files stores ~1 % of a manifest, not all of it. `trees` is
 * always whole (one id per folder, small beside the files). Chains are at most
 * `MAX_MANIFEST_CHAIN` long.
 */
export interface StoredManifest {
  base?: string;
  files: ManifestFiles;
  removed: Buffer;
  trees: string[];
}

/** A delta's chain of bases (nearest first) never grows past this; the next manifest is whole. */
export const MAX_MANIFEST_CHAIN = 16;

/** A delta: the rows of the new manifest that are new or changed, and the fingerprints gone. */
export interface ManifestDelta {
  rows: number[];
  removed: Buffer;
}

/** The delta of `next` against `parent`, or null when storing `next` whole is as good. */
export function manifestDelta(parent: Manifest, next: Manifest): ManifestDelta | null {
  const rows: number[] = [];
  const removed: Buffer[] = [];
  const limit = next.files.size / 4;
  for (const row of next.files.rows()) {
    const p = parent.files.row(next.files.fingerprint(row));
    if (p >= 0 && next.files.same(row, parent.files, p)) continue;
    // A delta touching a quarter of the files saves little and lengthens every later read.
    rows.push(row);
    if (rows.length > limit) return null;
  }
  for (const row of parent.files.rows()) {
    const fp = parent.files.fingerprint(row);
    if (next.files.has(fp)) continue;
    removed.push(fp);
    if (rows.length + removed.length > limit) return null;
  }
  return { rows, removed: Buffer.concat(removed) };
}

/** Same files and trees (the order they were set in aside). */
export function sameManifests(a: Manifest, b: Manifest): boolean {
  if (a.trees.length !== b.trees.length || a.trees.some((t, i) => t !== b.trees[i])) return false;
  if (a.files.size !== b.files.size) return false;
  for (const row of a.files.rows()) {
    const y = b.files.row(a.files.fingerprint(row));
    if (y < 0 || !a.files.same(row, b.files, y)) return false;
  }
  return true;
}

// ── format 2: binary columns ──────────────────────────────────────────────────────────────────

/** "VLM" and the format number; a format-1 manifest is JSON and starts with "{". */
const MAGIC = Buffer.from([0x56, 0x4c, 0x4d, 0x02]);
const HEADER = 24; // magic, flags, files, removed, trees, chunks (u32 each)
const FLAG_DELTA = 1;
const MAX_SIZE = BigInt(Number.MAX_SAFE_INTEGER);

interface DecodedColumns {
  fps: Buffer;
  sizes: BigUint64Array;
  mtimes: BigInt64Array;
  ctimes: BigInt64Array;
  inos: BigUint64Array;
  counts: Uint32Array;
  chunks: Buffer;
}

/**
 * A manifest in format 2, as pieces to compress (never one buffer of the whole): header, the
 * base's id for a delta, then each column of the rows — fingerprints, sizes, mtimes, ctimes,
 * inodes (64-bit little-endian), chunk counts (u32), chunk ids — then removed fingerprints and
 * tree ids. `rows` defaults to every live row.
 */
export function* encodeManifest(m: {
  base?: string;
  files: ManifestFiles;
  rows?: readonly number[];
  removed?: Buffer;
  trees: readonly string[];
}): Generator<Buffer> {
  const rows = m.rows ?? [...m.files.rows()];
  const removed = m.removed ?? Buffer.alloc(0);
  let chunks = 0;
  for (const r of rows) chunks += m.files.chunkCount(r);
  const head = Buffer.alloc(HEADER);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(m.base !== undefined ? FLAG_DELTA : 0, 4);
  head.writeUInt32LE(rows.length, 8);
  head.writeUInt32LE(removed.length / FP_LEN, 12);
  head.writeUInt32LE(m.trees.length, 16);
  head.writeUInt32LE(chunks, 20);
  yield head;
  if (m.base !== undefined) yield Buffer.from(m.base, 'hex');
  // Columns in slices, so no column of a large manifest is built whole either.
  const STEP = 8192;
  for (const name of ['fps', 'sizes', 'mtimes', 'ctimes', 'inos', 'counts'] as const)
    for (let i = 0; i < rows.length; i += STEP) yield m.files.columnBytes(rows.slice(i, i + STEP), name);
  for (let i = 0; i < rows.length; i += STEP) yield m.files.chunkBytes(rows.slice(i, i + STEP));
  yield removed;
  const trees = Buffer.allocUnsafe(m.trees.length * ID);
  m.trees.forEach((t, i) => trees.write(t, i * ID, ID, 'hex'));
  yield trees;
}

/** Decodes a format-2 manifest; anything but exactly the layout above is CORRUPT. */
function decodeManifest(plain: Buffer, what: string): StoredManifest {
  const bad = (why: string) => corrupt(`${what} is not a valid manifest: ${why}`);
  if (plain.length < HEADER) throw bad('truncated');
  const flags = plain.readUInt32LE(4);
  if (flags & ~FLAG_DELTA) throw bad('unknown flags');
  const files = plain.readUInt32LE(8);
  const removed = plain.readUInt32LE(12);
  const trees = plain.readUInt32LE(16);
  const chunks = plain.readUInt32LE(20);
  const delta = (flags & FLAG_DELTA) !== 0;
  if (!delta && removed) throw bad('removed entries without a base');
  const expect =
    HEADER + (delta ? ID : 0) + files * (FP_LEN + 8 * 4 + 4) + chunks * ID + removed * FP_LEN + trees * ID;
  if (plain.length !== expect) throw bad(`${plain.length} bytes where its counts make ${expect}`);
  let at = HEADER;
  const take = (n: number): Buffer => plain.subarray(at, (at += n));
  // Copied into arrays of their own: the 8-byte columns need alignment, and views would pin `plain`.
  const col = <T>(make: (b: ArrayBuffer) => T, width: number): T => {
    const bytes = take(files * width);
    const own = new ArrayBuffer(bytes.length);
    new Uint8Array(own).set(bytes);
    return make(own);
  };
  const base = delta ? take(ID).toString('hex') : undefined;
  const c: DecodedColumns = {
    fps: take(files * FP_LEN),
    sizes: col((b) => new BigUint64Array(b), 8),
    mtimes: col((b) => new BigInt64Array(b), 8),
    ctimes: col((b) => new BigInt64Array(b), 8),
    inos: col((b) => new BigUint64Array(b), 8),
    counts: col((b) => new Uint32Array(b), 4),
    chunks: take(chunks * ID),
  };
  let sum = 0;
  for (let i = 0; i < files; i++) {
    if (c.sizes[i]! > MAX_SIZE) throw bad('a size past 2^53');
    sum += c.counts[i]!;
  }
  if (sum !== chunks) throw bad('chunk counts do not add up');
  const removedFps = Buffer.from(take(removed * FP_LEN));
  const treeBytes = take(trees * ID);
  const treeIds = new Array<string>(trees);
  for (let i = 0; i < trees; i++) treeIds[i] = treeBytes.toString('hex', i * ID, (i + 1) * ID);
  const out: StoredManifest = {
    files: ManifestFiles.fromColumns(c, what),
    removed: removedFps,
    trees: treeIds,
  };
  if (base !== undefined) out.base = base;
  return out;
}

// ── format 1: JSON ────────────────────────────────────────────────────────────────────────────

/** A format-1 manifest as stored: `files` by base64url fingerprint. */
export interface ManifestJson {
  base?: string;
  files: Record<string, ManifestFile>;
  removed?: string[];
  trees: string[];
}

/** Checks a decrypted format-1 manifest's shape (a forged or damaged one is refused, not half-used). */
export function validManifestJson(m: unknown): m is ManifestJson {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return false;
  const s = m as Record<string, unknown>;
  if (Object.keys(s).some((k) => !['base', 'files', 'removed', 'trees'].includes(k))) return false;
  if (s.base !== undefined && (typeof s.base !== 'string' || !/^[0-9a-f]{64}$/.test(s.base))) return false;
  if (s.removed !== undefined && (s.base === undefined || !isStringArray(s.removed))) return false;
  if (!isStringArray(s.trees)) return false;
  if (typeof s.files !== 'object' || s.files === null || Array.isArray(s.files)) return false;
  return Object.values(s.files).every(
    (f) =>
      Array.isArray(f) &&
      f.length === 5 &&
      typeof f[0] === 'number' &&
      typeof f[1] === 'string' &&
      typeof f[2] === 'string' &&
      typeof f[3] === 'string' &&
      isStringArray(f[4]),
  );
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function fromJson(m: ManifestJson, what: string): StoredManifest {
  const removed = Buffer.alloc((m.removed?.length ?? 0) * FP_LEN);
  const scratch = Buffer.alloc(FP_LEN);
  (m.removed ?? []).forEach((fp, i) => fingerprintBytes(fp, scratch, what).copy(removed, i * FP_LEN));
  const out: StoredManifest = { files: ManifestFiles.fromRecord(m.files, what), removed, trees: m.trees };
  if (m.base !== undefined) out.base = m.base;
  return out;
}

// ── reading ───────────────────────────────────────────────────────────────────────────────────

/** A manifest resolved whole, and the ids of the stored manifests it was built from (nearest base first). */
export interface LoadedManifest {
  manifest: Manifest;
  bases: string[];
}

/**
 * Reads manifest `id` and, when it is a delta, its chain of bases, and returns it whole. `cache`
 * (stored manifests by id) lets a caller reading many snapshots read each shared base once.
 */
export async function loadManifestChain(
  repo: Repository,
  id: string,
  cache?: Map<string, StoredManifest>,
): Promise<LoadedManifest> {
  const stored = [await readStoredManifest(repo, id, cache)];
  const bases: string[] = [];
  for (let m = stored[0]!; m.base !== undefined; m = stored[stored.length - 1]!) {
    if (bases.length >= MAX_MANIFEST_CHAIN)
      throw corrupt(`manifest ${id.slice(0, 8)}: its chain of bases is longer than ${MAX_MANIFEST_CHAIN}`);
    bases.push(m.base);
    stored.push(await readStoredManifest(repo, m.base, cache, id));
  }
  const root = stored[stored.length - 1]!;
  if (stored.length === 1) return { manifest: { files: root.files, trees: root.trees }, bases };
  // Every delta applied to the root, oldest first: to a copy when the root is cached (shared by
  // other chains), else in place (a backup's parent: 60,000 rows not copied for nothing).
  const files = cache ? root.files.clone() : root.files;
  for (let i = stored.length - 2; i >= 0; i--) {
    const d = stored[i]!;
    for (let at = 0; at < d.removed.length; at += FP_LEN) files.delete(d.removed, at);
    for (const row of d.files.rows()) files.copy(d.files.fingerprint(row), 0, d.files, row);
  }
  const manifest: Manifest = { files, trees: stored[0]!.trees };
  return { manifest, bases };
}

export async function loadManifest(
  repo: Repository,
  id: string,
  cache?: Map<string, StoredManifest>,
): Promise<Manifest> {
  return (await loadManifestChain(repo, id, cache)).manifest;
}

async function readStoredManifest(
  repo: Repository,
  id: string,
  cache: Map<string, StoredManifest> | undefined,
  deltaOf?: string,
): Promise<StoredManifest> {
  // Only bases are cached: they are what several snapshots share, and whole manifests are large.
  const hit = deltaOf ? cache?.get(id) : undefined;
  if (hit) return hit;
  const name = `manifests/${id}`;
  let bytes: Buffer;
  try {
    bytes = await repo.backend.get(name);
  } catch (err) {
    if (deltaOf && err instanceof StorageError && err.code === 'NOT_FOUND')
      throw corrupt(`manifest ${deltaOf.slice(0, 8)}: its base manifest ${id.slice(0, 8)} is missing`, err);
    throw err;
  }
  verifyContentName(id, bytes, name);
  const m = openManifest(repo.keys.metaKey, bytes, name);
  if (deltaOf) cache?.set(id, m);
  return m;
}

/** Decrypts and decodes a stored manifest of either format. */
export function openManifest(metaKey: Buffer, sealed: Uint8Array, what: string): StoredManifest {
  const text = openCompressed(metaKey, 'manifest', sealed, what);
  if (text.length >= 4 && text.subarray(0, 4).equals(MAGIC)) return decodeManifest(text, what);
  let json: unknown;
  try {
    json = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw corrupt(`${what} is not valid`, err);
  }
  if (!validManifestJson(json)) throw corrupt(`${what} is not a valid manifest`);
  return fromJson(json, what);
}
