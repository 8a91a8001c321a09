/**
 * Index files: which blob is in which pack, at which offset.
 *
 * Format 2 (binary columns, this version writes it) is, before zstd and sealing:
 *
 *   "VLI\x02" | u32 packs | u32 blobs
 *   per pack:  pack id (32) | ephemeral public key (32) | u32 blob count
 *   per blob, column by column: type (u8) | id (32) | offset (u32) | length (u32) | raw length (u32)
 *
 * all little-endian, blobs in pack order. Format 1 is JSON (`{"packs":[{"id","eph","blobs":[[type,
 * hex id, offset, length, raw length]]}]}`) and still reads. Both decode to `IndexColumns`, which a
 * `BlobIndex` takes whole: a no-change backup of 60,000 small files spent ~0.3 s of its main thread
 * parsing the JSON, decoding 60,000 hex ids and making an array per blob.
 */
import { BlobType } from './blob';
import { type IndexedBlob, type IndexedPack, type PackInfo } from './blob-index';
import { corrupt } from './errors';

const ID = 32;
const EPH = 32;
const MAGIC = Buffer.from([0x56, 0x4c, 0x49, 0x02]);
const HEADER = 12;
const PACK_ROW = ID + EPH + 4;
const BLOB_ROW = 1 + ID + 4 * 3;
const U32_MAX = 0xffff_ffff;

/** An index file decoded: its packs, how many blobs each has, and the blobs' columns. */
export interface IndexColumns {
  packs: PackInfo[];
  counts: Uint32Array;
  types: Uint8Array;
  ids: Buffer;
  offsets: Uint32Array;
  lengths: Uint32Array;
  rawLengths: Uint32Array;
}

/** The bytes the columns hold (what the metadata cache counts them as). */
export function indexColumnsBytes(c: IndexColumns): number {
  return (
    c.packs.length * (PACK_ROW + 200) +
    c.types.length +
    c.ids.length +
    (c.offsets.length + c.lengths.length + c.rawLengths.length) * 4
  );
}

/** The columns of packs as writers and prune hold them (hex ids). */
export function indexColumns(packs: readonly IndexedPack[], what = 'index'): IndexColumns {
  let n = 0;
  for (const p of packs) n += p.blobs.length;
  const c: IndexColumns = {
    packs: [],
    counts: new Uint32Array(packs.length),
    types: new Uint8Array(n),
    ids: Buffer.alloc(n * ID),
    offsets: new Uint32Array(n),
    lengths: new Uint32Array(n),
    rawLengths: new Uint32Array(n),
  };
  let b = 0;
  packs.forEach((p, i) => {
    c.packs.push({ id: p.id, eph: p.eph });
    c.counts[i] = p.blobs.length;
    for (const [type, hex, offset, length, rawLength] of p.blobs) {
      if (type !== BlobType.Data && type !== BlobType.Tree)
        throw corrupt(`${what}: a blob of pack ${p.id} has an unknown type`);
      if (typeof hex !== 'string' || !HEX_ID.test(hex))
        throw corrupt(`${what}: index entry of pack ${p.id} has an invalid blob id`);
      c.ids.write(hex, b * ID, 'hex');
      c.types[b] = type;
      c.offsets[b] = u32(offset, what, p.id);
      c.lengths[b] = u32(length, what, p.id);
      c.rawLengths[b] = u32(rawLength, what, p.id);
      b++;
    }
  });
  return c;
}

function u32(v: unknown, what: string, pack: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > U32_MAX)
    throw corrupt(`${what}: a blob of pack ${pack} has an invalid offset or length`);
  return v;
}

const HEX_ID = /^[0-9a-f]{64}$/;
const EPH_B64 = /^[A-Za-z0-9+/]{43}=$/;

/** The packs of decoded columns, as prune and check use them (hex ids, one array per blob). */
export function indexPacks(c: IndexColumns): IndexedPack[] {
  const out: IndexedPack[] = [];
  let b = 0;
  c.packs.forEach((p, i) => {
    const blobs: IndexedBlob[] = [];
    for (const end = b + c.counts[i]!; b < end; b++)
      blobs.push([
        c.types[b] as BlobType,
        c.ids.toString('hex', b * ID, (b + 1) * ID),
        c.offsets[b]!,
        c.lengths[b]!,
        c.rawLengths[b]!,
      ]);
    out.push({ id: p.id, eph: p.eph, blobs });
  });
  return out;
}

/** An index file in format 2, as pieces to compress. */
export function* encodeIndex(c: IndexColumns): Generator<Uint8Array> {
  const n = c.types.length;
  const head = Buffer.alloc(HEADER + c.packs.length * PACK_ROW);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(c.packs.length, 4);
  head.writeUInt32LE(n, 8);
  c.packs.forEach((p, i) => {
    const at = HEADER + i * PACK_ROW;
    head.write(p.id, at, ID, 'hex');
    head.write(p.eph, at + ID, EPH, 'base64');
    head.writeUInt32LE(c.counts[i]!, at + ID + EPH);
  });
  yield head;
  yield c.types;
  yield c.ids;
  for (const col of [c.offsets, c.lengths, c.rawLengths]) yield le32(col);
}

function le32(col: Uint32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(col.buffer, col.byteOffset, col.byteLength);
  const out = Buffer.alloc(col.length * 4);
  col.forEach((v, i) => out.writeUInt32LE(v, i * 4));
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Decodes an index file of either format (the plaintext after zstd); anything malformed is CORRUPT. */
export function decodeIndex(plain: Buffer, what: string): IndexColumns {
  if (plain.length >= 4 && plain.subarray(0, 4).equals(MAGIC)) return decodeBinary(plain, what);
  let json: unknown;
  try {
    json = JSON.parse(plain.toString('utf8'));
  } catch (err) {
    throw corrupt(`${what} is not valid`, err);
  }
  return indexColumns(validJson(json, what), what);
}

function validJson(v: unknown, what: string): IndexedPack[] {
  const bad = () => corrupt(`${what} is not a valid index file`);
  if (!isObject(v) || !onlyKeys(v, ['packs']) || !Array.isArray(v['packs'])) throw bad();
  for (const p of v['packs'] as unknown[]) {
    if (
      !isObject(p) ||
      !onlyKeys(p, ['id', 'eph', 'blobs']) ||
      typeof p['id'] !== 'string' ||
      !HEX_ID.test(p['id']) ||
      typeof p['eph'] !== 'string' ||
      !EPH_B64.test(p['eph']) ||
      !Array.isArray(p['blobs']) ||
      !(p['blobs'] as unknown[]).every((b) => Array.isArray(b) && b.length === 5)
    )
      throw bad();
  }
  return v['packs'] as IndexedPack[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(o);
  return own.length === keys.length && own.every((k) => keys.includes(k));
}

function decodeBinary(plain: Buffer, what: string): IndexColumns {
  const bad = (why: string) => corrupt(`${what} is not a valid index file: ${why}`);
  if (plain.length < HEADER) throw bad('truncated');
  const packs = plain.readUInt32LE(4);
  const n = plain.readUInt32LE(8);
  const expect = HEADER + packs * PACK_ROW + n * BLOB_ROW;
  if (plain.length !== expect) throw bad(`${plain.length} bytes where its counts make ${expect}`);
  const c: IndexColumns = {
    packs: [],
    counts: new Uint32Array(packs),
    types: new Uint8Array(n),
    ids: Buffer.alloc(n * ID),
    offsets: new Uint32Array(n),
    lengths: new Uint32Array(n),
    rawLengths: new Uint32Array(n),
  };
  let sum = 0;
  for (let i = 0; i < packs; i++) {
    const at = HEADER + i * PACK_ROW;
    c.packs.push({
      id: plain.toString('hex', at, at + ID),
      eph: plain.toString('base64', at + ID, at + ID + EPH),
    });
    sum += c.counts[i] = plain.readUInt32LE(at + ID + EPH);
  }
  if (sum !== n) throw bad('blob counts do not add up');
  let at = HEADER + packs * PACK_ROW;
  // Copied, not viewed: the u32 columns need alignment, and views would pin `plain`.
  c.types.set(plain.subarray(at, (at += n)));
  for (let b = 0; b < n; b++)
    if (c.types[b] !== BlobType.Data && c.types[b] !== BlobType.Tree) throw bad('a blob of unknown type');
  plain.copy(c.ids, 0, at, (at += n * ID));
  for (const col of [c.offsets, c.lengths, c.rawLengths]) {
    if (LITTLE_ENDIAN) new Uint8Array(col.buffer).set(plain.subarray(at, at + n * 4));
    else for (let b = 0; b < n; b++) col[b] = plain.readUInt32LE(at + b * 4);
    at += n * 4;
  }
  return c;
}
