/**
 * Cryptographic primitives. Everything at rest is AES-256-GCM with a random 96-bit nonce; keys for
 * data come from an X25519 agreement so that writers never hold a key that opens stored data.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { Blake3Hasher, blake3 } from '@napi-rs/blake-hash';
import { corrupt } from './errors';

export const NONCE_LEN = 12;
export const TAG_LEN = 16;
/** Bytes added to a plaintext by `seal`. */
export const SEAL_OVERHEAD = NONCE_LEN + TAG_LEN;

/** nonce ‖ ciphertext ‖ tag. `aad` binds the ciphertext to its context (id, type, file kind). */
export function seal(key: Buffer, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_LEN);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return Buffer.concat([nonce, body, final, cipher.getAuthTag()]);
}

/**
 * `seal` of a plaintext given in pieces: the same format, written straight into one buffer, so a
 * large plaintext (a manifest's compressed JSON) is never also held whole beside it.
 */
export function sealPieces(key: Buffer, pieces: readonly Uint8Array[], aad: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_LEN);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const out = Buffer.allocUnsafe(pieces.reduce((n, p) => n + p.length, SEAL_OVERHEAD));
  nonce.copy(out);
  let at = NONCE_LEN;
  // GCM is a stream cipher: each update returns as many bytes as it was given (none held back).
  for (const p of pieces) at += cipher.update(p).copy(out, at);
  at += cipher.final().copy(out, at);
  cipher.getAuthTag().copy(out, at);
  if (at + TAG_LEN !== out.length) throw new Error('sealPieces: ciphertext length mismatch');
  return out;
}

export function open(key: Buffer | KeyObject, sealed: Uint8Array, aad: Uint8Array, what: string): Buffer {
  if (sealed.length < SEAL_OVERHEAD) throw corrupt(`${what} is truncated`);
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(0, NONCE_LEN));
  decipher.setAAD(aad);
  decipher.setAuthTag(buf.subarray(buf.length - TAG_LEN));
  try {
    return Buffer.concat([decipher.update(buf.subarray(NONCE_LEN, buf.length - TAG_LEN)), decipher.final()]);
  } catch (err) {
    throw corrupt(`${what} failed authentication`, err);
  }
}

// A keyed hasher per key, reset between uses: creating one costs more than hashing a small file.
// Keys are few (the id key and the path key of the repositories a process opens).
const hashers = new Map<string, Blake3Hasher>();

/** Keyed BLAKE3: chunk ids and path fingerprints reveal nothing without the repository's id key. */
export function keyedHash(key: Buffer, data: Uint8Array): Buffer {
  const k = key.toString('latin1');
  let h = hashers.get(k);
  if (!h) {
    if (hashers.size >= 64) hashers.clear();
    hashers.set(k, (h = Blake3Hasher.newKeyed(key)));
  } else h.reset();
  return h.update(Buffer.from(data.buffer, data.byteOffset, data.byteLength)).digestBuffer();
}

/** Plain BLAKE3, used to name files after their content so corruption is visible without keys. */
export function contentHash(data: Uint8Array): Buffer {
  return blake3(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

export function hkdf(ikm: Uint8Array, info: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), info, length));
}

const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export interface RawKeyPair {
  publicKey: Buffer;
  privateKey: Buffer;
}

export function generateX25519(): RawKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return {
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).subarray(X25519_SPKI_PREFIX.length),
    privateKey: privateKey.export({ type: 'pkcs8', format: 'der' }).subarray(X25519_PKCS8_PREFIX.length),
  };
}

function publicKeyObject(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function privateKeyObject(raw: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

/**
 * The symmetric key of one writer session, derived from ECDH(ephemeral, repository public key).
 * The writer learns it only while it holds the ephemeral private key, which it never stores.
 */
export function sessionKeyFromEphemeral(ephemeral: RawKeyPair, repoPublicKey: Buffer): Buffer {
  const shared = diffieHellman({
    privateKey: privateKeyObject(ephemeral.privateKey),
    publicKey: publicKeyObject(repoPublicKey),
  });
  return hkdf(Buffer.concat([shared, ephemeral.publicKey, repoPublicKey]), 'vaultline session key v1');
}

/** The reader's side of the same agreement: needs the repository private key. */
export function sessionKeyFromRepoPrivate(
  ephemeralPublic: Buffer,
  repoPrivateKey: Buffer,
  repoPublicKey: Buffer,
): Buffer {
  const shared = diffieHellman({
    privateKey: privateKeyObject(repoPrivateKey),
    publicKey: publicKeyObject(ephemeralPublic),
  });
  return hkdf(Buffer.concat([shared, ephemeralPublic, repoPublicKey]), 'vaultline session key v1');
}

export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function randomId(bytes = 32): string {
  return randomBytes(bytes).toString('hex');
}
