/**
 * Manifest `manifests/<id>`: the writer-readable side of a snapshot. For each file a keyed path
 * fingerprint with size, mtime, ctime, inode and chunk ids (change detection for the next
 * backup), and the ids of all trees. Together these are every blob the snapshot references, so
 * forget and prune work with the writer key alone. File names never appear in it.
 */
import { keyedHash } from './crypto';
import { corrupt } from './errors';
import { openJson, verifyContentName } from './meta';
import type { Repository } from './repository';
import { StorageError } from '@vaultline/storage';

/** A file's entry as stored (JSON): [size, mtimeNs, ctimeNs, inode, chunk ids (hex)]. */
export type ManifestFile = [number, string, string, string, string[]];

const ID = 32;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const U64_MAX = (1n << 64n) - 1n;

/**
 * A manifest's files in memory: fingerprint → row, the rows in typed-array columns (size, mtime,
 * ctime, inode, chunk ids as raw bytes). A first backup of 60,000 files held ~300 bytes of JS
 * objects per entry (a tuple, three decimal strings, an array of hex strings) that the collector
 * traced again and again, and the heap it grew to was twice that: ~80 MiB at the end. Here an
 * entry is ~90 bytes off the JS heap plus its key in the Map (docs/benchmarks.md).
 */
export class ManifestFiles {
  private readonly rows = new Map<string, number>();
  private n = 0;
  private sizes = new Float64Array(256);
  private times = new BigInt64Array(512); // mtime, ctime per row
  private inos = new BigUint64Array(256);
  private chunkAt = new Uint32Array(256);
  private chunkN = new Uint32Array(256);
  private pool = Buffer.alloc(256 * ID);
  private poolN = 0; // chunk ids in the pool

  /** Entries (fingerprints), not rows: a row replaced or deleted is no longer counted. */
  get size(): number {
    return this.rows.size;
  }

  /** The row of `fp`, or -1. */
  row(fp: string): number {
    return this.rows.get(fp) ?? -1;
  }

  has(fp: string): boolean {
    return this.rows.has(fp);
  }

  delete(fp: string): boolean {
    return this.rows.delete(fp);
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

  /** The raw id of the row's chunk `i` (a view into the pool: copy it to keep it). */
  chunkId(row: number, i: number): Buffer {
    const at = (this.chunkAt[row]! + i) * ID;
    return this.pool.subarray(at, at + ID);
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
   * Sets `fp` to a new row. `chunks` are hex ids or their raw bytes (32 each). Values come from
   * stat (in range) or from `setStored`, which checks them; the typed arrays would wrap others.
   */
  set(
    fp: string,
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
    return this.commit(fp, size, mtime, ctime, ino, count);
  }

  /**
   * Sets `fp` from a stored entry, refusing values a manifest never holds (CORRUPT). Checked by
   * hand, not by regular expressions: a no-change backup loads 60,000 of these before its walk.
   */
  setStored(fp: string, f: ManifestFile, what: string): number {
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
    return this.commit(fp, size, m, c, i, chunks.length);
  }

  /** A new row whose `count` chunk ids were just written at the pool's end. */
  private commit(fp: string, size: number, mtime: bigint, ctime: bigint, ino: bigint, count: number): number {
    const row = this.n++;
    if (row === this.sizes.length) this.growRows();
    this.sizes[row] = size;
    this.times[row * 2] = mtime;
    this.times[row * 2 + 1] = ctime;
    this.inos[row] = ino;
    this.chunkAt[row] = this.poolN;
    this.chunkN[row] = count;
    this.poolN += count;
    this.rows.set(fp, row);
    return row;
  }

  private reservePool(count: number): void {
    while ((this.poolN + count) * ID > this.pool.length) this.growPool();
  }

  /** Sets `fp` to a copy of row `row` of `from` (which may be this table). */
  copy(fp: string, from: ManifestFiles, row: number): number {
    const at = from.chunkAt[row]! * ID;
    const chunks = Buffer.from(from.pool.subarray(at, at + from.chunkN[row]! * ID));
    return this.set(fp, from.sizes[row]!, from.mtime(row), from.ctime(row), from.ino(row), chunks);
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

  /** The row as stored. */
  entry(row: number): ManifestFile {
    return [
      this.sizes[row]!,
      this.mtime(row).toString(),
      this.ctime(row).toString(),
      this.ino(row).toString(),
      this.chunkHex(row),
    ];
  }

  /** [fingerprint, row] of every entry, in the order they were set. */
  entries(): IterableIterator<[string, number]> {
    return this.rows.entries();
  }

  fingerprints(): IterableIterator<string> {
    return this.rows.keys();
  }

  /** A plain object of the entries (tests, small deltas). */
  toRecord(): Record<string, ManifestFile> {
    const out: Record<string, ManifestFile> = {};
    for (const [fp, row] of this.rows) out[fp] = this.entry(row);
    return out;
  }

  static fromRecord(files: Record<string, ManifestFile>, what = 'manifest'): ManifestFiles {
    const t = new ManifestFiles();
    for (const fp of Object.keys(files)) t.setStored(fp, files[fp]!, what);
    return t;
  }

  private growRows(): void {
    const cap = this.sizes.length * 2;
    const grow = <T extends Float64Array | BigInt64Array | BigUint64Array | Uint32Array>(
      a: T,
      n: number,
      make: (n: number) => T,
    ): T => {
      const b = make(n);
      b.set(a as never);
      return b;
    };
    this.sizes = grow(this.sizes, cap, (n) => new Float64Array(n));
    this.times = grow(this.times, cap * 2, (n) => new BigInt64Array(n));
    this.inos = grow(this.inos, cap, (n) => new BigUint64Array(n));
    this.chunkAt = grow(this.chunkAt, cap, (n) => new Uint32Array(n));
    this.chunkN = grow(this.chunkN, cap, (n) => new Uint32Array(n));
  }

  private growPool(): void {
    const next = Buffer.alloc(this.pool.length * 2);
    this.pool.copy(next, 0, 0, this.poolN * ID);
    this.pool = next;
  }
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
export function pathFingerprint(pathKey: Buffer, relPath: string | Buffer): string {
  const bytes = typeof relPath === 'string' ? Buffer.from(relPath, 'utf8') : relPath;
  return keyedHash(pathKey, bytes).subarray(0, 16).toString('base64url');
}

/** The stored manifests a snapshot needs: its own and, for a delta, its bases. */
export function manifestsOf(s: { manifest: string; manifestBases?: string[] }): string[] {
  return [s.manifest, ...(s.manifestBases ?? [])];
}

/** Every blob id (hex) a manifest references. */
export function* manifestRefs(m: Manifest): IterableIterator<string> {
  yield* m.trees;
  for (const [, row] of m.files.entries()) yield* m.files.chunkHex(row);
}

/**
 * How a manifest is stored. Whole (no `base`), or as a delta: the entries new or changed since
 * the manifest `base` and the fingerprints `removed` since it, so a backup that changed 1 % of
 * 60 000 files stores ~1 % of a manifest, not all of it. `trees` is always whole (one id per
 * folder, small beside the files). Chains are at most `MAX_MANIFEST_CHAIN` long.
 */
export interface StoredManifest {
  base?: string;
  files: Record<string, ManifestFile>;
  removed?: string[];
  trees: string[];
}

/**
 * The JSON text of `m` in pieces of about `pieceChars` (what `JSON.stringify(m)` returns, cut
 * up): a manifest is written without ever being one string (`sealJsonPieces`).
 */
export function* storedManifestJson(
  m: Omit<StoredManifest, 'files'> & { files: ManifestFiles | Record<string, ManifestFile> },
  pieceChars = 64 * 1024,
): Generator<string> {
  let out = '{';
  if (m.base !== undefined) out += `"base":${JSON.stringify(m.base)},`;
  out += '"files":{';
  let first = true;
  const files = m.files;
  const entries: Iterable<[string, ManifestFile]> =
    files instanceof ManifestFiles
      ? (function* () {
          for (const [fp, row] of files.entries()) yield [fp, files.entry(row)];
        })()
      : // Own enumerable keys in JSON.stringify's order.
        Object.keys(files).map((fp): [string, ManifestFile] => [fp, files[fp]!]);
  for (const [fp, entry] of entries) {
    out += `${first ? '' : ','}${JSON.stringify(fp)}:${JSON.stringify(entry)}`;
    first = false;
    if (out.length >= pieceChars) {
      yield out;
      out = '';
    }
  }
  out += '}';
  for (const [name, list] of [
    ['removed', m.removed],
    ['trees', m.trees],
  ] as const) {
    if (list === undefined) continue;
    out += `,"${name}":[`;
    for (let i = 0; i < list.length; i++) {
      out += `${i ? ',' : ''}${JSON.stringify(list[i])}`;
      if (out.length >= pieceChars) {
        yield out;
        out = '';
      }
    }
    out += ']';
  }
  yield `${out}}`;
}

/** A delta's chain of bases (nearest first) never grows past this; the next manifest is whole. */
export const MAX_MANIFEST_CHAIN = 16;

/** The delta of `next` against `parent`, or null when storing `next` whole is as good. */
export function manifestDelta(
  parent: Manifest,
  next: Manifest,
): Pick<StoredManifest, 'files' | 'removed'> | null {
  const files: Record<string, ManifestFile> = {};
  const removed: string[] = [];
  let changed = 0;
  const limit = next.files.size / 4;
  for (const [fp, row] of next.files.entries()) {
    const p = parent.files.row(fp);
    if (p >= 0 && next.files.same(row, parent.files, p)) continue;
    // A delta touching a quarter of the files saves little and lengthens every later read.
    if (++changed > limit) return null;
    files[fp] = next.files.entry(row);
  }
  for (const fp of parent.files.fingerprints()) {
    if (next.files.has(fp)) continue;
    removed.push(fp);
    if (changed + removed.length > limit) return null;
  }
  return { files, removed };
}

/** Same files and trees (the order they were set in aside). */
export function sameManifests(a: Manifest, b: Manifest): boolean {
  if (a.trees.length !== b.trees.length || a.trees.some((t, i) => t !== b.trees[i])) return false;
  if (a.files.size !== b.files.size) return false;
  for (const [fp, row] of a.files.entries()) {
    const y = b.files.row(fp);
    if (y < 0 || !a.files.same(row, b.files, y)) return false;
  }
  return true;
}

/** Checks a decrypted manifest's shape (a forged or damaged one is refused, not half-used). */
export function validStoredManifest(m: unknown): m is StoredManifest {
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
  // The whole root, then every delta applied, oldest first (the stored ones may be cached and shared).
  const what = `manifest ${id.slice(0, 8)}`;
  const files = ManifestFiles.fromRecord(stored[stored.length - 1]!.files, what);
  for (let i = stored.length - 2; i >= 0; i--) {
    for (const fp of stored[i]!.removed ?? []) files.delete(fp);
    const delta = stored[i]!.files;
    for (const fp of Object.keys(delta)) files.setStored(fp, delta[fp]!, what);
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
  const m = openJson<unknown>(repo.keys.metaKey, 'manifest', bytes, name);
  if (!validStoredManifest(m)) throw corrupt(`${name} is not a valid manifest`);
  if (deltaOf) cache?.set(id, m);
  return m;
}
