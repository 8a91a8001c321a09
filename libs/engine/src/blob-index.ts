/**
 * In-memory blob index: chunk id → (pack, offset, length, raw length).
 *
 * Stored column-wise in typed arrays with an open-addressing hash table over the ids (which are
 * keyed hashes, hence uniformly distributed): about 56 bytes per blob and no per-entry JS objects,
 * so 1 TiB of 1 MiB chunks needs ~60 MB rather than the ~300 MB a Map of strings would.
 */
import { type BlobType, ID_LEN } from './blob';
import { corrupt } from './errors';
import type { IndexColumns } from './index-file';

export interface BlobLocation {
  type: BlobType;
  pack: string;
  offset: number;
  length: number;
  rawLength: number;
}

/** One blob of a pack as index files list it: type, id (hex), offset, length, raw length. */
export type IndexedBlob = [BlobType, string, number, number, number];

/** A pack as index files list it. */
export interface IndexedPack extends PackInfo {
  blobs: IndexedBlob[];
}

export interface PackInfo {
  id: string;
  /** The pack's ephemeral public key (base64): the reader needs it to derive the session key. */
  eph: string;
}

export class BlobIndex {
  private ids_ = Buffer.alloc(0);
  private types = new Uint8Array(0);
  private cols = new Uint32Array(0); // pack, offset, length, raw per entry
  private slots = new Uint32Array(0);
  private count = 0;
  private readonly packs: PackInfo[] = [];
  private readonly packNo = new Map<string, number>();

  get size(): number {
    return this.count;
  }

  get packCount(): number {
    return this.packs.length;
  }

  /** Room for at least `min` entries (doubling, so slots stay a power of two). */
  private grow(min = this.count + 1): void {
    let cap = Math.max(1024, this.types.length * 2);
    while (cap < min) cap *= 2;
    const ids = Buffer.alloc(cap * ID_LEN);
    this.ids_.copy(ids);
    const types = new Uint8Array(cap);
    types.set(this.types);
    const cols = new Uint32Array(cap * 4);
    cols.set(this.cols);
    this.ids_ = ids;
    this.types = types;
    this.cols = cols;
    this.slots = new Uint32Array(cap * 2);
    for (let e = 0; e < this.count; e++) this.insertSlot(e);
  }

  private slotOf(id: Uint8Array, at = 0): number {
    return (id[at]! | (id[at + 1]! << 8) | (id[at + 2]! << 16) | (id[at + 3]! << 24)) >>> 0;
  }

  private insertSlot(entry: number): void {
    const mask = this.slots.length - 1;
    let s = this.slotOf(this.ids_, entry * ID_LEN) & mask;
    while (this.slots[s] !== 0) s = (s + 1) & mask;
    this.slots[s] = entry + 1;
  }

  /** The entry of the id at `id[at…at+32]`, or -1. */
  private find(id: Uint8Array, at = 0): number {
    if (this.count === 0) return -1;
    const mask = this.slots.length - 1;
    let s = this.slotOf(id, at) & mask;
    for (;;) {
      const e = this.slots[s]!;
      if (e === 0) return -1;
      const off = (e - 1) * ID_LEN;
      if (this.ids_.compare(id, at, at + ID_LEN, off, off + ID_LEN) === 0) return e - 1;
      s = (s + 1) & mask;
    }
  }

  packNumber(pack: PackInfo): number {
    let n = this.packNo.get(pack.id);
    if (n === undefined) {
      n = this.packs.length;
      this.packs.push(pack);
      this.packNo.set(pack.id, n);
    }
    return n;
  }

  pack(id: string): PackInfo | undefined {
    const n = this.packNo.get(id);
    return n === undefined ? undefined : this.packs[n];
  }

  /** Adds an entry unless the id is already known (the first location wins). */
  add(id: Uint8Array, loc: BlobLocation, eph: string): boolean {
    if (this.find(id) >= 0) return false;
    if (this.count >= this.types.length) this.grow();
    const e = this.count++;
    this.ids_.set(id, e * ID_LEN);
    this.types[e] = loc.type;
    const c = e * 4;
    this.cols[c] = this.packNumber({ id: loc.pack, eph });
    this.cols[c + 1] = loc.offset;
    this.cols[c + 2] = loc.length;
    this.cols[c + 3] = loc.rawLength;
    this.insertSlot(e);
    return true;
  }

  /**
   * Adds the entries of a pack from an index file (the first location of an id wins). The hex
   * ids are decoded straight into the id column — a Buffer and a location object per blob were
   * most of loading a large index.
   */
  addPack(pack: IndexedPack): void {
    if (this.count + pack.blobs.length > this.types.length) this.grow(this.count + pack.blobs.length);
    const packNo = this.packNumber({ id: pack.id, eph: pack.eph });
    for (const [type, hex, offset, length, rawLength] of pack.blobs) {
      const e = this.count;
      const at = e * ID_LEN;
      // write() stops at the first pair that is not hex.
      if (
        typeof hex !== 'string' ||
        hex.length !== ID_LEN * 2 ||
        this.ids_.write(hex, at, 'hex') !== ID_LEN
      ) {
        throw corrupt(`index entry of pack ${pack.id} has an invalid blob id`);
      }
      // Not in the slots yet: find() sees only the entries before it.
      if (this.find(this.ids_.subarray(at, at + ID_LEN)) >= 0) continue;
      this.count++;
      this.types[e] = type;
      const c = e * 4;
      this.cols[c] = packNo;
      this.cols[c + 1] = offset;
      this.cols[c + 2] = length;
      this.cols[c + 3] = rawLength;
      this.insertSlot(e);
    }
  }

  /**
   * Adds the blobs of a decoded index file (the first location of an id wins): ids are copied
   * straight from its id column, with no string or object per blob.
   */
  addColumns(c: IndexColumns): void {
    const n = c.types.length;
    if (this.count + n > this.types.length) this.grow(this.count + n);
    let b = 0;
    c.packs.forEach((pack, i) => {
      const packNo = this.packNumber(pack);
      for (const end = b + c.counts[i]!; b < end; b++) {
        if (this.find(c.ids, b * ID_LEN) >= 0) continue;
        const e = this.count++;
        c.ids.copy(this.ids_, e * ID_LEN, b * ID_LEN, (b + 1) * ID_LEN);
        this.types[e] = c.types[b]!;
        const col = e * 4;
        this.cols[col] = packNo;
        this.cols[col + 1] = c.offsets[b]!;
        this.cols[col + 2] = c.lengths[b]!;
        this.cols[col + 3] = c.rawLengths[b]!;
        this.insertSlot(e);
      }
    });
  }

  has(id: Uint8Array): boolean {
    return this.find(id) >= 0;
  }

  /**
   * `has` of the id at `bytes[at…at+32]`: no Buffer or view per question — a no-change backup
   * asks for every chunk of every file (from the manifest's id pool), and a Buffer per question was
   * a tenth of its main thread.
   */
  hasAt(bytes: Uint8Array, at: number): boolean {
    return this.find(bytes, at) >= 0;
  }

  get(id: Uint8Array): BlobLocation | undefined {
    const e = this.find(id);
    if (e < 0) return undefined;
    const c = e * 4;
    return {
      type: this.types[e] as BlobType,
      pack: this.packs[this.cols[c]!]!.id,
      offset: this.cols[c + 1]!,
      length: this.cols[c + 2]!,
      rawLength: this.cols[c + 3]!,
    };
  }

  /** Every id, as views into the index (copy them to keep them). */
  *ids(): IterableIterator<Uint8Array> {
    for (let e = 0; e < this.count; e++) yield this.ids_.subarray(e * ID_LEN, e * ID_LEN + ID_LEN);
  }

  *entries(): IterableIterator<{ id: Buffer } & BlobLocation> {
    for (let e = 0; e < this.count; e++) {
      const c = e * 4;
      yield {
        id: Buffer.from(this.ids_.subarray(e * ID_LEN, e * ID_LEN + ID_LEN)),
        type: this.types[e] as BlobType,
        pack: this.packs[this.cols[c]!]!.id,
        offset: this.cols[c + 1]!,
        length: this.cols[c + 2]!,
        rawLength: this.cols[c + 3]!,
      };
    }
  }

  allPacks(): readonly PackInfo[] {
    return this.packs;
  }
}
