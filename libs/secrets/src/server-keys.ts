/**
 * Encryption at rest and in transit with the server secret (VAULTLINE_SERVER_SECRET).
 *
 * The fleet keeps a few secrets it must be able to use unattended: each plan's writer key (backups
 * without the password), target credentials (S3 keys), and for a moment a restore password on its
 * way to a worker. They are sealed with AES-256-GCM under keys derived from the server secret, so a
 * database dump or a Redis snapshot alone reveals none of them.
 *
 * - One key per purpose (HKDF-SHA256, info = purpose): a sealed writer key can never be opened as
 *   target credentials, and each key encrypts only its own kind of record.
 * - Associated data binds each sealed value to its record (purpose + record id): a ciphertext
 *   copied from one row into another does not open there.
 * - Random 96-bit nonces: safe far beyond the number of records one fleet seals under one key.
 *
 * What is sealed here is a stored format: the version 'v1' is part of the associated data and of
 * the string form, so a later format (e.g. with a key id for secret rotation) can live beside it.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';

import type { Secret } from '@vaultline/config';

export const SERVER_KEY_PURPOSES = ['writer-key', 'target-credentials', 'password-envelope'] as const;
export type ServerKeyPurpose = (typeof SERVER_KEY_PURPOSES)[number];

const FORMAT = 'v1';
const HKDF_SALT = 'vaultline/server-keys/v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export type SecretsErrorCode =
  /** Wrong server secret, purpose or record id, or the data was altered: GCM authentication failed. */
  | 'OPEN_FAILED'
  /** Not a sealed value of this format (bad encoding, wrong lengths). */
  | 'MALFORMED'
  /** A password envelope past its expiry. */
  | 'EXPIRED'
  | 'INVALID_ARGUMENT';

/** Messages name the purpose and record, never a key or plaintext. */
export class SecretsError extends Error {
  override readonly name = 'SecretsError';
  constructor(
    readonly code: SecretsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A sealed value: base64url strings, JSON- and database-friendly. */
export interface SealedBox {
  /** The 12-byte nonce. */
  readonly nonce: string;
  /** The ciphertext followed by the 16-byte GCM tag. */
  readonly ciphertext: string;
}

/** The derived keys, held where no caller can read them (they are only used through seal/open). */
const derivedKeys = new WeakMap<ServerKeys, ReadonlyMap<ServerKeyPurpose, Buffer>>();

/** An opaque handle on the keys derived from the server secret; it prints as `[redacted]`. */
export class ServerKeys {
  private constructor() {
    Object.freeze(this);
  }

  /** @internal Use `serverKeys(config)`. */
  static derive(secret: Uint8Array): ServerKeys {
    const keys = new ServerKeys();
    derivedKeys.set(
      keys,
      new Map(
        SERVER_KEY_PURPOSES.map(
          (p) => [p, Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, p, 32))] as const,
        ),
      ),
    );
    return keys;
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'ServerKeys([redacted])';
  }
}

/**
 * Derives the purpose-separated 32-byte keys from the config's server secret. Call it once at
 * startup and pass the result to the services that seal or open records.
 */
export function serverKeys(config: { readonly serverSecret: Secret }): ServerKeys {
  const secret = config.serverSecret.reveal();
  try {
    return ServerKeys.derive(secret);
  } finally {
    secret.fill(0);
  }
}

function keyFor(keys: ServerKeys, purpose: ServerKeyPurpose): Buffer {
  const key = derivedKeys.get(keys)?.get(purpose);
  if (!key) {
    throw new SecretsError(
      'INVALID_ARGUMENT',
      derivedKeys.has(keys)
        ? `unknown key purpose ${JSON.stringify(purpose)}`
        : 'not keys made by serverKeys()',
    );
  }
  return key;
}

/** Unambiguous encoding of (format, purpose, record id): JSON of an array cannot collide. */
function associatedData(purpose: ServerKeyPurpose, recordId: string): Buffer {
  if (typeof recordId !== 'string' || recordId === '') {
    throw new SecretsError('INVALID_ARGUMENT', `a ${purpose} record needs a record id`);
  }
  return Buffer.from(JSON.stringify([FORMAT, purpose, recordId]), 'utf8');
}

/** Seals `plaintext` for one record: it opens only with the same keys, purpose and record id. */
export function sealWithServerKey(
  keys: ServerKeys,
  purpose: ServerKeyPurpose,
  recordId: string,
  plaintext: Uint8Array | string,
): SealedBox {
  const key = keyFor(keys, purpose);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(associatedData(purpose, recordId));
  const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  const ciphertext = Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()]);
  return { nonce: nonce.toString('base64url'), ciphertext: ciphertext.toString('base64url') };
}

function decode(value: unknown, what: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]*$/.test(value)) {
    throw new SecretsError('MALFORMED', `sealed value: ${what} is not base64url`);
  }
  return Buffer.from(value, 'base64url');
}

/** Opens a value sealed by sealWithServerKey. Throws SecretsError OPEN_FAILED on any mismatch. */
export function openWithServerKey(
  keys: ServerKeys,
  purpose: ServerKeyPurpose,
  recordId: string,
  box: SealedBox,
): Buffer {
  const key = keyFor(keys, purpose);
  const nonce = decode(box.nonce, 'nonce');
  const sealed = decode(box.ciphertext, 'ciphertext');
  if (nonce.length !== NONCE_BYTES || sealed.length < TAG_BYTES) {
    throw new SecretsError('MALFORMED', 'sealed value: wrong nonce or ciphertext length');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(associatedData(purpose, recordId));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SecretsError(
      'OPEN_FAILED',
      `cannot open ${purpose} record ${JSON.stringify(recordId)}: wrong server secret, purpose or record id, or the data was altered`,
    );
  }
}

/** One string for a database column: `v1.<nonce>.<ciphertext>`. */
export function formatSealed(box: SealedBox): string {
  return `${FORMAT}.${box.nonce}.${box.ciphertext}`;
}

export function parseSealed(value: string): SealedBox {
  const parts = value.split('.');
  if (parts.length !== 3 || parts[0] !== FORMAT || !parts[1] || !parts[2]) {
    throw new SecretsError('MALFORMED', `sealed value: expected ${FORMAT}.<nonce>.<ciphertext>`);
  }
  return { nonce: parts[1], ciphertext: parts[2] };
}

/**
 * Record ids the sealed columns are bound to: one definition for every app that seals or opens
 * them, so the API and the worker cannot drift apart.
 */
export const recordIds = {
  /** plan_targets.writer_key_enc */
  writerKey: (planId: string, targetId: string): string => `${planId}/${targetId}`,
  /** targets.s3_secret_enc */
  targetCredentials: (targetId: string): string => targetId,
} as const;
