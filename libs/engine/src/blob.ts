/**
 * One blob as stored inside a pack: seal(sessionKey, flag ‖ payload, aad = type ‖ id).
 * Binding type and id in the AAD means a blob cannot be swapped for another without detection, and
 * the id (keyed hash of the plaintext) is re-checked after decryption.
 */
import { compress, decompress } from './compression';
import { constantTimeEqual, keyedHash, open, seal } from './crypto';
import { corrupt } from './errors';

export const BlobType = { Data: 0, Tree: 1 } as const;
export type BlobType = (typeof BlobType)[keyof typeof BlobType];

export const ID_LEN = 32;

export function blobAad(type: BlobType, id: Uint8Array): Buffer {
  const aad = Buffer.alloc(1 + ID_LEN);
  aad[0] = type;
  aad.set(id, 1);
  return aad;
}

export function sealBlob(
  sessionKey: Buffer,
  type: BlobType,
  id: Uint8Array,
  plaintext: Uint8Array,
  level: number,
): Buffer {
  const { flag, payload } = compress(plaintext, level);
  const framed = Buffer.allocUnsafe(1 + payload.length);
  framed[0] = flag;
  framed.set(payload, 1);
  return seal(sessionKey, framed, blobAad(type, id));
}

export function openBlob(
  sessionKey: Buffer,
  idKey: Buffer,
  type: BlobType,
  id: Uint8Array,
  sealed: Uint8Array,
  rawLength: number,
): Buffer {
  const hex = Buffer.from(id).toString('hex');
  const framed = open(sessionKey, sealed, blobAad(type, id), `blob ${hex}`);
  const plain = decompress(framed[0]!, framed.subarray(1), rawLength);
  if (plain.length !== rawLength || !constantTimeEqual(keyedHash(idKey, plain), Buffer.from(id))) {
    throw corrupt(`blob ${hex} does not match its id`);
  }
  return plain;
}
