/**
 * zstd from Node's own zlib (Node ≥ 22.15): no native add-on to build, and fast enough that the
 * chunker, not compression, sets the pace. Incompressible chunks are detected on a sample and
 * stored raw, so media and already-compressed files cost almost nothing here.
 */
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { corrupt } from './errors';

export const Compression = { None: 0, Zstd: 1 } as const;
export type Compression = (typeof Compression)[keyof typeof Compression];

const SAMPLE = 64 * 1024;
/** Below this saving a chunk is kept raw: decompression would cost more than it saves. */
const MIN_SAVING = 0.05;

export function compress(data: Uint8Array, level: number): { flag: Compression; payload: Uint8Array } {
  if (data.length < 128 || level <= 0) return { flag: Compression.None, payload: data };
  const params = { [constants.ZSTD_c_compressionLevel]: level };
  if (data.length > SAMPLE * 2) {
    const mid = Math.floor(data.length / 2);
    const sample = data.subarray(mid, mid + SAMPLE);
    const probe = zstdCompressSync(sample, { params: { [constants.ZSTD_c_compressionLevel]: 1 } });
    if (probe.length > sample.length * (1 - MIN_SAVING)) return { flag: Compression.None, payload: data };
  }
  const out = zstdCompressSync(data, { params });
  if (out.length > data.length * (1 - MIN_SAVING)) return { flag: Compression.None, payload: data };
  return { flag: Compression.Zstd, payload: out };
}

export function decompress(flag: number, payload: Uint8Array, rawLength: number): Buffer {
  if (flag === Compression.None) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (flag !== Compression.Zstd) throw corrupt(`unknown compression flag ${flag}`);
  try {
    const out = zstdDecompressSync(payload, { maxOutputLength: Math.max(rawLength, 1) });
    return out;
  } catch (err) {
    throw corrupt('compressed blob does not decompress', err);
  }
}
