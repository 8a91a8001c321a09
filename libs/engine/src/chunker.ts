/**
 * FastCDC-style content-defined chunking with normalized chunking (Xia et al., 2016/2020).
 *
 * A 32-bit gear hash rolls over the data; a boundary is declared where the hash's high bits are
 * zero. Before the average size a stricter mask is used, after it a looser one, which pulls chunk
 * sizes toward the average. The hash depends only on the last 32 bytes, so an insertion moves at
 * most the boundaries next to it. The gear table is derived from a per-repository secret so that
 * chunk sizes cannot be used to fingerprint known files.
 */
import { nativeCodec } from './codec';
import { hkdf } from './crypto';
import { EngineError } from './errors';

export interface ChunkerParams {
  min: number;
  avg: number;
  max: number;
}

export const DEFAULT_CHUNKER: ChunkerParams = { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 };

export function validateChunkerParams(p: ChunkerParams): void {
  const ok =
    Number.isInteger(p.min) &&
    Number.isInteger(p.avg) &&
    Number.isInteger(p.max) &&
    p.min >= 64 &&
    p.min < p.avg &&
    p.avg < p.max &&
    p.max <= 64 * 1024 * 1024 &&
    (p.avg & (p.avg - 1)) === 0;
  if (!ok) {
    throw new EngineError(
      'INVALID_ARGUMENT',
      `invalid chunker parameters ${JSON.stringify(p)}: need 64 ≤ min < avg < max ≤ 64 MiB, avg a power of two`,
    );
  }
}

/** A mask with `bits` ones in the high part of a 32-bit word (the bits that see the most bytes). */
function highMask(bits: number): number {
  return bits >= 32 ? -1 : (~0 << (32 - bits)) | 0;
}

export class Chunker {
  private readonly gear: Int32Array;
  private readonly gearBytes: Uint8Array;
  private readonly maskS: number;
  private readonly maskL: number;

  constructor(
    readonly params: ChunkerParams,
    seed: Buffer,
  ) {
    validateChunkerParams(params);
    const table = hkdf(seed, 'vaultline gear table v1', 256 * 4);
    this.gear = new Int32Array(256);
    for (let i = 0; i < 256; i++) this.gear[i] = table.readInt32LE(i * 4);
    this.gearBytes = new Uint8Array(this.gear.buffer);
    const bits = Math.log2(params.avg);
    // Normalization level 2, as in the FastCDC paper.
    this.maskS = highMask(Math.min(31, bits + 2));
    this.maskL = highMask(Math.max(1, bits - 2));
  }

  /**
   * Length of the next chunk starting at `start`. `end - start` must be at least `max` unless the
   * data ends at `end`. Hot loop: kept free of allocation and closures.
   */
  cut(data: Uint8Array, start: number, end: number): number {
    const { min, avg, max } = this.params;
    const len = end - start;
    if (len <= min) return len;
    const native = nativeCodec();
    if (native)
      return native.gearCut(this.gearBytes, data, start, end, min, avg, max, this.maskS, this.maskL);
    const stop = start + Math.min(len, max);
    const normal = start + Math.min(len, avg);
    const gear = this.gear;
    const maskS = this.maskS;
    const maskL = this.maskL;
    let h = 0;
    let i = start + min;
    for (; i < normal; i++) {
      h = ((h << 1) + gear[data[i]!]!) | 0;
      if ((h & maskS) === 0) return i - start + 1;
    }
    for (; i < stop; i++) {
      h = ((h << 1) + gear[data[i]!]!) | 0;
      if ((h & maskL) === 0) return i - start + 1;
    }
    return stop - start;
  }

  /** All chunk lengths of an in-memory buffer (tests and small inputs). */
  split(data: Uint8Array): number[] {
    const out: number[] = [];
    let pos = 0;
    while (pos < data.length) {
      const n = this.cut(data, pos, data.length);
      out.push(n);
      pos += n;
    }
    return out;
  }
}
