/**
 * One blob as stored inside a pack: seal(sessionKey, flag ‖ payload, aad = type ‖ id).
 * Binding type and id in the AAD means a blob cannot be swapped for another without detection, and
 * the id (keyed hash of the plaintext) is re-checked after decryption.
 */
import { compress, decompress } from './compression';
import { createCipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { NONCE_LEN, constantTimeEqual, keyedHash, open } from './crypto';
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

/**
 * The sealed blob as parts to be written back to back (nonce ‖ encrypted flag, body, tag): the
 * large body is never copied again on its way into a pack.
 */
export function sealBlobParts(
  sessionKey: Buffer | KeyObject,
  type: BlobType,
  id: Uint8Array,
  plaintext: Uint8Array,
  level: number,
): Buffer[] {
  const { flag, payload } = compress(plaintext, level);
  const nonce = randomBytes(NONCE_LEN);
  const cipher = createCipheriv('aes-256-gcm', sessionKey, nonce);
  cipher.setAAD(blobAad(type, id));
  const head = Buffer.concat([nonce, cipher.update(Buffer.of(flag))]);
  const body = cipher.update(payload);
  const tail = Buffer.concat([cipher.final(), cipher.getAuthTag()]);
  return [head, body, tail];
}

export function sealBlob(
  sessionKey: Buffer,
  type: BlobType,
  id: Uint8Array,
  plaintext: Uint8Array,
  level: number,
): Buffer {
  return Buffer.concat(sealBlobParts(sessionKey, type, id, plaintext, level));
}

export function openBlob(
  sessionKey: Buffer | KeyObject,
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
