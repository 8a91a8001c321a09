/**
 * Pack file: many sealed blobs in one object, so a backup makes few large uploads.
 *
 *   "VLPK" u8 version=1 u8 reserved | ephemeral X25519 public key (32) | blob … blob | sealed header | u32le header length
 *
 * The header (sealed with the pack's session key) lists type, id, offset, length and raw length of
 * every blob, so the index can be rebuilt from packs alone by a holder of the private key. The file
 * is named after the BLAKE3 hash of its bytes, so corruption is visible without any key.
 */
import { type BlobType, ID_LEN } from './blob';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { open, seal } from './crypto';
import { corrupt } from './errors';

export const PACK_MAGIC = Buffer.from([0x56, 0x4c, 0x50, 0x4b, 1, 0]);
export const PACK_PREFIX_LEN = PACK_MAGIC.length + 32;
const HEADER_AAD = Buffer.from('vaultline pack header v1');
const ENTRY_LEN = 1 + ID_LEN + 4 + 4 + 4;

export interface PackEntry {
  type: BlobType;
  id: Buffer;
  offset: number;
  length: number;
  rawLength: number;
}

export function packName(id: string): string {
  return `data/${id.slice(0, 2)}/${id}`;
}

/**
 * Assembles one pack. Its bytes stay in memory (~16 MiB, bounded) unless the caller `drain`s them
 * as it goes, e.g. into a spool file; the pack is hashed as it is drained, so nothing is read back.
 */
export class PackBuilder {
  private parts: Uint8Array[] = [];
  /** Leading parts that are not blob bytes (a following blob never extends them). */
  private fixed: number;
  private readonly hasher = new Blake3Hasher();
  readonly entries: PackEntry[] = [];
  /** The buffers the undrained bytes live in (the writer recycles them once they are stored). */
  buffers = new Set<ArrayBufferLike>();
  /** Bytes added since the last `drain`. */
  pending: number;
  size: number;

  constructor(readonly ephemeralPublic: Buffer) {
    this.parts.push(PACK_MAGIC, ephemeralPublic);
    this.fixed = this.parts.length;
    this.size = this.pending = PACK_PREFIX_LEN;
  }

  /**
   * Appends one sealed blob, given as the parts it was produced in. A part that continues the
   * previous one in the same buffer (blobs sealed back to back by a worker) extends it, so a pack
   * is a few large parts to hash and write, not one per blob.
   */
  add(type: BlobType, id: Buffer, sealed: readonly Uint8Array[], rawLength: number): void {
    let length = 0;
    for (const p of sealed) {
      length += p.length;
      this.buffers.add(p.buffer);
      const last = this.parts.length > this.fixed ? this.parts[this.parts.length - 1]! : undefined;
      if (last && last.buffer === p.buffer && last.byteOffset + last.byteLength === p.byteOffset)
        this.parts[this.parts.length - 1] = new Uint8Array(
          last.buffer,
          last.byteOffset,
          last.byteLength + p.byteLength,
        );
      else this.parts.push(p);
    }
    this.entries.push({ type, id, offset: this.size, length, rawLength });
    this.size += length;
    this.pending += length;
  }

  get blobCount(): number {
    return this.entries.length;
  }

  private hash(parts: readonly Uint8Array[]): void {
    for (const p of parts) this.hasher.update(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  }

  /** Hands over (hashed) the bytes added since the last call, with the buffers they live in. */
  drain(): { parts: Uint8Array[]; buffers: Set<ArrayBufferLike> } {
    const out = { parts: this.parts, buffers: this.buffers };
    this.hash(out.parts);
    this.parts = [];
    this.buffers = new Set();
    this.fixed = 0;
    this.pending = 0;
    return out;
  }

  /**
   * Seals the header; returns the pack's id and its undrained bytes as parts (no 16 MiB
   * concatenation): the whole pack when nothing was drained.
   */
  finish(sessionKey: Buffer): { id: string; parts: Uint8Array[]; size: number } {
    const header = Buffer.alloc(4 + this.entries.length * ENTRY_LEN);
    header.writeUInt32LE(this.entries.length, 0);
    let o = 4;
    for (const e of this.entries) {
      header[o] = e.type;
      e.id.copy(header, o + 1);
      header.writeUInt32LE(e.offset, o + 1 + ID_LEN);
      header.writeUInt32LE(e.length, o + 5 + ID_LEN);
      header.writeUInt32LE(e.rawLength, o + 9 + ID_LEN);
      o += ENTRY_LEN;
    }
    const sealedHeader = seal(sessionKey, header, HEADER_AAD);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(sealedHeader.length, 0);
    const parts = [...this.parts, sealedHeader, len];
    this.hash(parts);
    return {
      id: this.hasher.digestBuffer().toString('hex'),
      parts,
      size: this.size + sealedHeader.length + 4,
    };
  }
}

export function packEphemeral(bytes: Buffer, what: string): Buffer {
  if (bytes.length < PACK_PREFIX_LEN + 4 || !bytes.subarray(0, PACK_MAGIC.length).equals(PACK_MAGIC)) {
    throw corrupt(`${what} is not a Vaultline pack`);
  }
  return bytes.subarray(PACK_MAGIC.length, PACK_PREFIX_LEN);
}

/** Parses the header of a whole pack (needs the pack's session key). */
export function readPackHeader(bytes: Buffer, sessionKey: Buffer, what: string): PackEntry[] {
  packEphemeral(bytes, what);
  const hlen = bytes.readUInt32LE(bytes.length - 4);
  if (hlen + 4 + PACK_PREFIX_LEN > bytes.length) throw corrupt(`${what} header length is out of range`);
  const header = open(
    sessionKey,
    bytes.subarray(bytes.length - 4 - hlen, bytes.length - 4),
    HEADER_AAD,
    `${what} header`,
  );
  const n = header.readUInt32LE(0);
  if (header.length !== 4 + n * ENTRY_LEN) throw corrupt(`${what} header is malformed`);
  const entries: PackEntry[] = [];
  for (let i = 0, o = 4; i < n; i++, o += ENTRY_LEN) {
    const e: PackEntry = {
      type: header[o] as BlobType,
      id: Buffer.from(header.subarray(o + 1, o + 1 + ID_LEN)),
      offset: header.readUInt32LE(o + 1 + ID_LEN),
      length: header.readUInt32LE(o + 5 + ID_LEN),
      rawLength: header.readUInt32LE(o + 9 + ID_LEN),
    };
    if (e.offset < PACK_PREFIX_LEN || e.offset + e.length > bytes.length - 4 - hlen) {
      throw corrupt(`${what} header points outside the pack`);
    }
    entries.push(e);
  }
  return entries;
}
