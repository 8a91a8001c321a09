/**
 * Key hierarchy (see docs/repository-format.md):
 *   password ──Argon2id──► wrapping key ──AES-GCM──► master key set (all secrets below)
 *   writer key set   = repository id, id key, chunker seed, metadata key, repository public key
 *   private key      = X25519 secret that opens packs, trees and snapshot bodies
 * A worker holding only the writer key set can add snapshots and deduplicate, never decrypt data.
 */
import { argon2, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { generateX25519, hkdf, open, seal } from './crypto';
import { EngineError } from './errors';

export const MIN_PASSWORD_LENGTH = 4;

export interface KdfParams {
  algorithm: 'argon2id';
  /** KiB of memory. */
  memory: number;
  passes: number;
  parallelism: number;
  salt: string;
}

/**
 * RFC 9106's second recommended option (64 MiB, t = 3, p = 4; above OWASP's ≥ 19 MiB, t ≥ 2). The
 * four lanes run on libuv threads, so an unlock takes ~110 ms instead of ~170 ms (p = 1) on two
 * cores, while a guess costs an attacker the same memory × passes. Key files store their own
 * parameters: older ones (p = 1) still open.
 */
export const DEFAULT_KDF = { memory: 64 * 1024, passes: 3, parallelism: 4 } as const;

export interface WriterKeys {
  repoId: string;
  /** Keys chunk ids (keyed BLAKE3) so ids do not reveal plaintext hashes. */
  idKey: Buffer;
  /** Seeds the chunker's gear table so chunk boundaries do not fingerprint content. */
  chunkerSeed: Buffer;
  /** Encrypts what writers must read back: index, snapshot headers, manifests, config MAC. */
  metaKey: Buffer;
  /** X25519 public key every pack's session key is agreed against. */
  publicKey: Buffer;
}

export interface MasterKeys extends WriterKeys {
  privateKey: Buffer;
}

export function generateMasterKeys(repoId: string): MasterKeys {
  const pair = generateX25519();
  return {
    repoId,
    idKey: randomBytes(32),
    chunkerSeed: randomBytes(32),
    metaKey: randomBytes(32),
    publicKey: pair.publicKey,
    privateKey: pair.privateKey,
  };
}

/** Derived key used for path fingerprints in manifests, separate from chunk ids. */
export function pathKey(keys: WriterKeys): Buffer {
  return hkdf(keys.idKey, 'vaultline path fingerprint v1');
}

export function assertPassword(password: string): void {
  if (typeof password !== 'string' || [...password].length < MIN_PASSWORD_LENGTH) {
    throw new EngineError(
      'PASSWORD_TOO_SHORT',
      `password must have at least ${MIN_PASSWORD_LENGTH} characters`,
    );
  }
}

export interface KeyFile {
  v: 1;
  repo: string;
  created: string;
  host: string;
  kdf: KdfParams;
  data: string;
}

async function deriveWrappingKey(password: string, kdf: KdfParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    argon2(
      'argon2id',
      {
        message: Buffer.from(password.normalize('NFC'), 'utf8'),
        nonce: Buffer.from(kdf.salt, 'base64'),
        memory: kdf.memory,
        passes: kdf.passes,
        parallelism: kdf.parallelism,
        tagLength: 32,
      },
      (err, key) => (err ? reject(err) : resolve(Buffer.from(key))),
    );
  });
}

function keyAad(repoId: string): Buffer {
  return Buffer.from(`vaultline key v1 ${repoId}`);
}

function encodeMaster(keys: MasterKeys): Buffer {
  return Buffer.from(
    JSON.stringify({
      idKey: keys.idKey.toString('base64'),
      chunkerSeed: keys.chunkerSeed.toString('base64'),
      metaKey: keys.metaKey.toString('base64'),
      publicKey: keys.publicKey.toString('base64'),
      privateKey: keys.privateKey.toString('base64'),
    }),
  );
}

export async function wrapMasterKeys(
  keys: MasterKeys,
  password: string,
  kdfOptions: Partial<Omit<KdfParams, 'salt' | 'algorithm'>> = {},
): Promise<KeyFile> {
  assertPassword(password);
  const kdf: KdfParams = {
    algorithm: 'argon2id',
    memory: kdfOptions.memory ?? DEFAULT_KDF.memory,
    passes: kdfOptions.passes ?? DEFAULT_KDF.passes,
    parallelism: kdfOptions.parallelism ?? DEFAULT_KDF.parallelism,
    salt: randomBytes(16).toString('base64'),
  };
  const wrapping = await deriveWrappingKey(password, kdf);
  return {
    v: 1,
    repo: keys.repoId,
    created: new Date().toISOString(),
    host: hostname(),
    kdf,
    data: seal(wrapping, encodeMaster(keys), keyAad(keys.repoId)).toString('base64'),
  };
}

/** Returns the master keys, or null when the password does not open this key file. */
export async function unwrapMasterKeys(file: KeyFile, password: string): Promise<MasterKeys | null> {
  if (file.v !== 1 || file.kdf?.algorithm !== 'argon2id') {
    throw new EngineError('UNSUPPORTED_VERSION', 'key file has an unsupported version or KDF');
  }
  const wrapping = await deriveWrappingKey(password, file.kdf);
  let plain: Buffer;
  try {
    plain = open(wrapping, Buffer.from(file.data, 'base64'), keyAad(file.repo), 'key file');
  } catch {
    return null;
  }
  const raw = JSON.parse(plain.toString('utf8')) as Record<string, string>;
  const b = (k: string): Buffer => Buffer.from(raw[k] ?? '', 'base64');
  return {
    repoId: file.repo,
    idKey: b('idKey'),
    chunkerSeed: b('chunkerSeed'),
    metaKey: b('metaKey'),
    publicKey: b('publicKey'),
    privateKey: b('privateKey'),
  };
}

const WRITER_PREFIX = 'vlwk1.';

/**
 * The writer key as one opaque string: what a scheduled worker is given instead of the password.
 * It lets its holder add snapshots to this repository and read the index; it opens no data.
 */
export function exportWriterKey(keys: WriterKeys): string {
  const body = {
    repo: keys.repoId,
    idKey: keys.idKey.toString('base64'),
    chunkerSeed: keys.chunkerSeed.toString('base64'),
    metaKey: keys.metaKey.toString('base64'),
    publicKey: keys.publicKey.toString('base64'),
  };
  return WRITER_PREFIX + Buffer.from(JSON.stringify(body)).toString('base64url');
}

export function parseWriterKey(text: string): WriterKeys {
  const trimmed = text.trim();
  const fail = (): never => {
    throw new EngineError(
      'INVALID_ARGUMENT',
      'writer key is malformed (expected a string starting with vlwk1.)',
    );
  };
  if (!trimmed.startsWith(WRITER_PREFIX)) fail();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(
      Buffer.from(trimmed.slice(WRITER_PREFIX.length), 'base64url').toString('utf8'),
    ) as Record<string, unknown>;
  } catch {
    return fail();
  }
  const b = (k: string): Buffer => {
    const v = body[k];
    if (typeof v !== 'string') fail();
    const buf = Buffer.from(v as string, 'base64');
    if (buf.length !== 32) fail();
    return buf;
  };
  if (typeof body.repo !== 'string') fail();
  return {
    repoId: body.repo as string,
    idKey: b('idKey'),
    chunkerSeed: b('chunkerSeed'),
    metaKey: b('metaKey'),
    publicKey: b('publicKey'),
  };
}
