/**
 * Request bodies of /v1/plans. The rules (name, schedule, retention, password) are the contracts'
 * so the API, the schedule consumer and the report service agree on them.
 */
import {
  newPasswordSchema,
  passwordSchema,
  planNameSchema,
  retentionPolicySchema,
  scheduleSchema,
} from '@vaultline/contracts';
import { z } from 'zod';

/** Ids of existing rows; at least one, no duplicates (a duplicate would create two repositories). */
const idListSchema = z
  .array(z.uuid({ error: 'must be an id' }))
  .min(1, { error: 'must list at least one id' })
  .max(100)
  .refine((ids) => new Set(ids).size === ids.length, { error: 'must not list an id twice' });

export const createPlanSchema = z
  .strictObject({
    name: planNameSchema,
    schedule: scheduleSchema,
    retention: retentionPolicySchema,
    targetIds: idListSchema,
    serviceIds: idListSchema,
    password: z.string(),
    passwordConfirmation: z.string(),
  })
  // The contracts' rule for a new password entered twice (mismatch reported on passwordConfirmation).
  .and(newPasswordSchema);
export type CreatePlan = z.output<typeof createPlanSchema>;

/**
 * `name` is accepted by the parser only so the service can refuse it by name (it cannot change);
 * `password` is needed only when targets are added (their repositories are created with it).
 */
export const updatePlanSchema = z.strictObject({
  name: z.unknown().optional(),
  schedule: scheduleSchema.optional(),
  retention: retentionPolicySchema.optional(),
  targetIds: idListSchema.optional(),
  serviceIds: idListSchema.optional(),
  password: passwordSchema.optional(),
});
export type UpdatePlan = z.output<typeof updatePlanSchema>;
