/**
 * Writer-readable metadata objects (index, snapshot headers, manifests): seal(metaKey, zstd(plaintext)),
 * the plaintext JSON or, for index files and manifests, binary columns.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createZstdCompress, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { contentHash, open, seal, sealPieces } from './crypto';
import { corrupt } from './errors';

export type MetaKind = 'index' | 'snapshot header' | 'manifest' | 'snapshot body' | 'config';

export function metaAad(kind: MetaKind): Buffer {
  return Buffer.from(`vaultline ${kind} v1`);
}

export function sealJson(key: Buffer, kind: MetaKind, value: unknown): Buffer {
  return seal(key, zstdCompressSync(Buffer.from(JSON.stringify(value))), metaAad(kind));
}

/**
 * `seal(key, zstd(plaintext))` with the plaintext given in pieces, compressed as a stream: for
 * metadata large enough that one buffer of it beside its compressed copy would weigh on peak
 * memory — a manifest of 60,000 files is ~6 MB, and at the end of a backup such a spike was the
 * peak.
 */
export async function sealCompressed(
  key: Buffer,
  kind: MetaKind,
  pieces: Iterable<Uint8Array>,
): Promise<Buffer> {
  const compressed: Buffer[] = [];
  await pipeline(
    Readable.from(pieces),
    createZstdCompress({ chunkSize: 256 * 1024 }),
    async (source: AsyncIterable<Buffer>) => {
      for await (const c of source) compressed.push(c);
    },
  );
  return sealPieces(key, compressed, metaAad(kind));
}

/** The plaintext of `seal(key, zstd(plaintext))`; a bad seal or stream is CORRUPT. */
export function openCompressed(key: Buffer, kind: MetaKind, sealed: Uint8Array, what: string): Buffer {
  const plain = open(key, sealed, metaAad(kind), what);
  try {
    return zstdDecompressSync(plain);
  } catch (err) {
    throw corrupt(`${what} is not valid`, err);
  }
}

export function openJson<T>(key: Buffer, kind: MetaKind, sealed: Uint8Array, what: string): T {
  const text = openCompressed(key, kind, sealed, what);
  try {
    return JSON.parse(text.toString('utf8')) as T;
  } catch (err) {
    throw corrupt(`${what} is not valid`, err);
  }
}

/** Content-addressed name: `dir/<blake3 hex>`. */
export function contentName(dir: string, bytes: Uint8Array): { id: string; name: string } {
  const id = contentHash(bytes).toString('hex');
  return { id, name: `${dir}/${id}` };
}

/** Re-hashes a content-addressed object after download: detects corruption and swaps without keys. */
export function verifyContentName(id: string, bytes: Uint8Array, what: string): void {
  if (contentHash(bytes).toString('hex') !== id)
    throw corrupt(`${what} does not match its name (corrupted or tampered)`);
}
