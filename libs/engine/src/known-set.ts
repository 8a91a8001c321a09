/**
 * A read-only set of chunk ids in shared memory, so worker threads can skip sealing chunks the
 * repository already has without asking the main thread. Open addressing over 32-byte slots; the
 * ids are keyed hashes (uniform), so their first four bytes are the hash. An all-zero slot is
 * empty (a zero id has probability 2^-256).
 */
import { ID_LEN } from './blob';
import type { BlobIndex } from './blob-index';

export interface KnownSet {
  table: SharedArrayBuffer;
  /** Slot count − 1 (slot count is a power of two). */
  mask: number;
}

function slotOf(id: Uint8Array, mask: number): number {
  return ((id[0]! | (id[1]! << 8) | (id[2]! << 16) | (id[3]! << 24)) >>> 0) & mask;
}

export function buildKnownSet(index: BlobIndex): KnownSet {
  const slots = 2 ** Math.ceil(Math.log2(Math.max(16, index.size * 2)));
  const table = new SharedArrayBuffer(slots * ID_LEN);
  const bytes = new Uint8Array(table);
  const mask = slots - 1;
  for (const id of index.ids()) {
    let s = slotOf(id, mask);
    while (!isEmpty(bytes, s)) s = (s + 1) & mask;
    bytes.set(id, s * ID_LEN);
  }
  return { table, mask };
}

function isEmpty(bytes: Uint8Array, slot: number): boolean {
  const o = slot * ID_LEN;
  for (let i = 0; i < ID_LEN; i++) if (bytes[o + i] !== 0) return false;
  return true;
}

export function knownHas(set: KnownSet, bytes: Uint8Array, id: Uint8Array): boolean {
  let s = slotOf(id, set.mask);
  for (;;) {
    const o = s * ID_LEN;
    let same = true;
    let empty = true;
    for (let i = 0; i < ID_LEN; i++) {
      const b = bytes[o + i]!;
      if (b !== 0) empty = false;
      if (b !== id[i]) same = false;
    }
    if (same && !empty) return true;
    if (empty) return false;
    s = (s + 1) & set.mask;
  }
}
