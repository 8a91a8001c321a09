/**
 * A small deterministic PRNG for the benchmark dataset: xoshiro128** seeded through splitmix32
 * from a string. Not cryptographic; it only has to give the same bytes on every run and machine,
 * look incompressible, and be fast enough to write a gigabyte in a few seconds.
 */

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over the UTF-16 code units of a seed string. */
function hashSeed(seed: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    const st = { s: hashSeed(seed) };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1;
  }

  /** Next unsigned 32-bit value. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)]!;
  }

  /** `n` lowercase hex characters. */
  hex(n: number): string {
    let s = '';
    while (s.length < n) s += this.u32().toString(16).padStart(8, '0');
    return s.slice(0, n);
  }

  /** Fills `buf` with pseudo-random bytes. */
  fill(buf: Uint8Array): void {
    const words = buf.length >>> 2;
    if (buf.byteOffset % 4 === 0) {
      const view = new Uint32Array(buf.buffer, buf.byteOffset, words);
      for (let i = 0; i < words; i++) view[i] = this.u32();
    } else {
      for (let i = 0; i < words; i++) {
        const v = this.u32();
        const o = i * 4;
        buf[o] = v & 0xff;
        buf[o + 1] = (v >>> 8) & 0xff;
        buf[o + 2] = (v >>> 16) & 0xff;
        buf[o + 3] = v >>> 24;
      }
    }
    for (let i = words * 4; i < buf.length; i++) buf[i] = this.u32() & 0xff;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
