/**
 * The blob codec's hot paths — seal (compress + encrypt) and open (decrypt + decompress) one blob
 * into a caller's buffer, and the chunker's gear loop — in our native helper
 * (`libs/native/src/vaultline_codec.c`), with the JavaScript implementation as the fallback. Both
 * produce and accept exactly the same bytes (docs/repository-format.md, "Blobs and packs"); the
 * native one reuses one zstd and one cipher context per thread and allocates nothing per blob,
 * which is what service data made of many small files needs (see docs/benchmarks.md).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type BlobType, openBlob, sealBlobParts } from './blob';
import { NONCE_LEN, TAG_LEN, constantTimeEqual, keyedHash } from './crypto';
import { corrupt } from './errors';

/** Most bytes sealing adds to a plaintext (nonce, compression flag, tag). */
export const SEAL_OVERHEAD_MAX = NONCE_LEN + 1 + TAG_LEN;

interface NativeCodec {
  available: boolean;
  sealBlob(
    key: Uint8Array,
    type: number,
    id: Uint8Array,
    plain: Uint8Array,
    level: number,
    out: Uint8Array,
    offset: number,
  ): number;
  openBlob(
    key: Uint8Array,
    type: number,
    id: Uint8Array,
    sealed: Uint8Array,
    rawLength: number,
    out: Uint8Array,
    offset: number,
  ): number;
  gearCut(
    gear: Uint8Array,
    data: Uint8Array,
    start: number,
    end: number,
    min: number,
    avg: number,
    max: number,
    maskS: number,
    maskL: number,
  ): number;
}

let loaded: NativeCodec | null | undefined;
let enabled = true;

/** The native codec, or null (not built, or a Node without zstd): the JavaScript path is used. */
export function nativeCodec(): NativeCodec | null {
  if (!enabled) return null;
  if (loaded === undefined) {
    loaded = null;
    try {
      // dist/libs/engine/src/codec.js → dist/native/
      const mod = createRequire(__filename)(
        join(__dirname, '..', '..', '..', 'native', 'vaultline_codec.node'),
      ) as NativeCodec;
      if (mod.available) loaded = mod;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

/** Tests: run this thread on the JavaScript codec (both must read what the other wrote). */
export function useNativeCodec(on: boolean): void {
  enabled = on;
}

/** Seals one blob into `out` at `offset` (room for `plain.length + SEAL_OVERHEAD_MAX`); returns its length. */
export function sealBlobInto(
  key: Buffer,
  type: BlobType,
  id: Uint8Array,
  plain: Uint8Array,
  level: number,
  out: Uint8Array,
  offset: number,
): number {
  const native = nativeCodec();
  if (native) return native.sealBlob(key, type, id, plain, level, out, offset);
  let n = offset;
  for (const part of sealBlobParts(key, type, id, plain, level)) {
    out.set(part, n);
    n += part.length;
  }
  return n - offset;
}

/**
 * Opens one blob into `out` at `offset` and checks its keyed hash against `id`: on return the
 * `rawLength` bytes there are exactly the blob's plaintext. Throws CORRUPT otherwise.
 */
export function openBlobInto(
  key: Buffer,
  idKey: Buffer,
  type: BlobType,
  id: Uint8Array,
  sealed: Uint8Array,
  rawLength: number,
  out: Uint8Array,
  offset: number,
): void {
  const native = nativeCodec();
  if (!native) {
    out.set(openBlob(key, idKey, type, id, sealed, rawLength), offset);
    return;
  }
  const hex = (): string => Buffer.from(id).toString('hex');
  try {
    native.openBlob(key, type, id, sealed, rawLength, out, offset);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'CORRUPT_AUTH') throw corrupt(`blob ${hex()} failed authentication`, err);
    throw corrupt(`blob ${hex()} does not decode: ${(err as Error).message}`, err);
  }
  const plain = out.subarray(offset, offset + rawLength);
  if (!constantTimeEqual(keyedHash(idKey, plain), Buffer.from(id.buffer, id.byteOffset, id.byteLength)))
    throw corrupt(`blob ${hex()} does not match its id`);
}
