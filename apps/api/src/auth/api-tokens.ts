import { createHash, randomBytes } from 'node:crypto';
import type { Catalog } from '@vaultline/catalog';

/** Prefix makes a leaked token recognisable (secret scanners, logs); 32 random bytes follow. */
const TOKEN_PREFIX = 'vlt_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Creates a token and stores only its SHA-256. The token itself is returned once, to be shown to
 * whoever asked for it; it cannot be recovered later. A plain hash (no salt or KDF) is enough:
 * the token has 256 bits of entropy, so there is nothing to brute-force, and lookups stay one
 * indexed equality.
 */
export async function createApiToken(catalog: Catalog, name: string): Promise<{ id: string; token: string }> {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const { id } = await catalog.tokens.create(name, hashToken(token));
  return { id, token };
}
