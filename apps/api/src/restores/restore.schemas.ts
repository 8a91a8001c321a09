/**
 * Request bodies of /v1/restores. The password is checked against the repository, not against the
 * rules for new passwords (one set before a rule change must still open), so any non-empty string
 * up to the contracts' maximum is accepted here.
 */
import path from 'node:path';

import { MAX_PASSWORD_LENGTH, snapshotRefSchema } from '@vaultline/contracts';
import { z } from 'zod';

import { absolutePathSchema } from '../services/service.schemas';

const id = z.uuid({ error: 'must be an id' });

export const createRestoreSchema = z.strictObject({
  serviceId: id,
  /** A snapshot id, or 'latest' (the default): the service's most recent catalogued snapshot. */
  snapshotId: snapshotRefSchema.default('latest'),
  /** Default: the target of the chosen snapshot (for 'latest', the most recent on any target). */
  targetId: id.optional(),
  /** Default: the plan of the chosen snapshot. */
  planId: id.optional(),
  password: z
    .string()
    .min(1, { error: 'is required' })
    .refine((p) => [...p].length <= MAX_PASSWORD_LENGTH, {
      error: `must have at most ${MAX_PASSWORD_LENGTH} characters`,
    }),
  /**
   * Default: the service's data path. `..` segments are refused rather than resolved (the client
   * would not see where the restore really goes); the path is stored normalised (`//`, `.` and a
   * trailing `/` removed). Restoring into `/` is refused: it would replace the host. Whether it is
   * inside the restore roots is the service's check (it needs the config and the service).
   */
  destination: absolutePathSchema
    .refine((p) => !p.split('/').includes('..'), { error: "must not contain '..' segments" })
    .transform((p) => path.posix.normalize(p).replace(/(.)\/$/, '$1'))
    .refine((p) => p !== '/', { error: 'must not be the root folder /' })
    .optional(),
  /** Consent to restore a snapshot taken on another architecture (the service needs reinstalling). */
  allowCrossArch: z.boolean().default(false),
  /** Re-read every restored file and compare it with the snapshot. */
  verify: z.boolean().default(true),
});
export type CreateRestore = z.output<typeof createRestoreSchema>;

/** Query strings are strings: the limit is coerced. */
export const listRestoresQuerySchema = z.strictObject({
  serviceId: id.optional(),
  limit: z.coerce
    .number({ error: 'must be a whole number from 1 to 500' })
    .int({ error: 'must be a whole number from 1 to 500' })
    .min(1, { error: 'must be a whole number from 1 to 500' })
    .max(500, { error: 'must be a whole number from 1 to 500' })
    .default(100),
});
export type ListRestoresQuery = z.output<typeof listRestoresQuerySchema>;
