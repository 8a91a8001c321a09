/**
 * Web UI passwords as Argon2id PHC strings (`$argon2id$v=19$m=65536,t=3,p=1$<salt>$<hash>`, base64
 * without padding, as argon2's reference tools write them), with node:crypto's argon2 like the
 * engine's key files (libs/engine keys.ts). The cost is stored in each hash, so raising the
 * configured cost only affects new hashes and every existing one still verifies.
 */
import { argon2, randomBytes, timingSafeEqual } from 'node:crypto';

export interface PasswordCost {
  /** KiB of memory. */
  memory: number;
  passes: number;
  parallelism: number;
}

/** OWASP's Argon2id guidance is ≥ 19 MiB, t ≥ 2; like the key files we spend more (one per sign-in). */
export const DEFAULT_PASSWORD_COST: PasswordCost = { memory: 64 * 1024, passes: 3, parallelism: 1 };

const TAG_BYTES = 32;
const PHC_RE =
  /^\$argon2id\$v=19\$m=(\d{1,8}),t=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{16,})$/;

function derive(password: string, salt: Buffer, cost: PasswordCost, tagLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    argon2(
      'argon2id',
      {
        // NFC: the same password typed on two keyboards (é as one code point or two) is one password.
        message: Buffer.from(password.normalize('NFC'), 'utf8'),
        nonce: salt,
        memory: cost.memory,
        passes: cost.passes,
        parallelism: cost.parallelism,
        tagLength,
      },
      (err, key) => (err ? reject(err) : resolve(Buffer.from(key))),
    );
  });
}

const b64 = (b: Buffer): string => b.toString('base64').replace(/=+$/, '');

export async function hashPassword(
  password: string,
  cost: PasswordCost = DEFAULT_PASSWORD_COST,
): Promise<string> {
  const salt = randomBytes(16);
  const tag = await derive(password, salt, cost, TAG_BYTES);
  return `$argon2id$v=19$m=${cost.memory},t=${cost.passes},p=${cost.parallelism}$${b64(salt)}$${b64(tag)}`;
}

/** Whether `password` is the one `hash` was made from. A hash this module cannot read is an error. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  const m = PHC_RE.exec(hash);
  if (!m) throw new Error('not an Argon2id password hash of this format');
  const cost = { memory: Number(m[1]), passes: Number(m[2]), parallelism: Number(m[3]) };
  const expected = Buffer.from(m[5]!, 'base64');
  const tag = await derive(password, Buffer.from(m[4]!, 'base64'), cost, expected.length);
  return timingSafeEqual(tag, expected);
}
