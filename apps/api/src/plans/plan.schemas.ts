/**
 * Request bodies of /v1/plans. The rules (name, schedule, retention, password) are the contracts'
 * so the API, the schedule consumer and the report service agree on them.
 */
import {
  confirms,
  newPasswordFields,
  passwordChangeSchema,
  passwordSchema,
  planNameSchema,
  retentionPolicySchema,
  scheduleSchema,
  verifySettingsSchema,
} from '@vaultline/contracts';
import { z } from 'zod';
import { pageQuerySchema } from '../runs/pagination';

/** Ids of existing rows; at least one, no duplicates (a duplicate would create two repositories). */
const idList = (max: number) =>
  z
    .array(z.uuid({ error: 'must be an id' }))
    .min(1, { error: 'must list at least one id' })
    .max(max, { error: `must list at most ${max} ids` })
    .refine((ids) => new Set(ids).size === ids.length, { error: 'must not list an id twice' });
/** A repository per target is created with the password (Argon2id each): a handful, not hundreds. */
const targetIdsSchema = idList(32);
/** A self-hoster has tens of services; a platform team may put hundreds in one plan. */
const serviceIdsSchema = idList(5000);

export const createPlanSchema = z
  .strictObject({
    name: planNameSchema,
    schedule: scheduleSchema,
    retention: retentionPolicySchema,
    /** Scheduled verification; off when absent. */
    verify: verifySettingsSchema.optional(),
    targetIds: targetIdsSchema,
    serviceIds: serviceIdsSchema,
    ...newPasswordFields,
  })
  // The contracts' rule for a new password entered twice (mismatch reported on passwordConfirmation).
  .check(confirms('password', 'passwordConfirmation'));
export type CreatePlan = z.output<typeof createPlanSchema>;

/**
 * `name` is accepted by the parser only so the service can refuse it by name (it cannot change);
 * `password` is needed only when targets are added (their repositories are created with it).
 */
export const updatePlanSchema = z.strictObject({
  name: z.unknown().optional(),
  schedule: scheduleSchema.optional(),
  retention: retentionPolicySchema.optional(),
  verify: verifySettingsSchema.optional(),
  targetIds: targetIdsSchema.optional(),
  serviceIds: serviceIdsSchema.optional(),
  password: passwordSchema.optional(),
});
export type UpdatePlan = z.output<typeof updatePlanSchema>;

/**
 * Changing the plan's password: the contracts' rule (the old one of any length, the new one ≥ 4
 * characters entered twice, a mismatch reported on `newPasswordConfirmation`).
 */
export const changePasswordSchema = passwordChangeSchema;
export type ChangePassword = z.output<typeof changePasswordSchema>;

/**
 * An on-demand verification. Without `password`: the writer-key check of each target's repository,
 * re-hashing the next slice of `percent` (the plan's share when absent). With it: a deep verify
 * that decrypts and authenticates every blob (all packs, so `percent` does not apply).
 */
export const verifyNowSchema = z
  .strictObject({
    percent: z.number().int().min(1).max(100).optional(),
    password: z.string().min(1, { error: 'is required' }).optional(),
  })
  .refine((b) => b.password === undefined || b.percent === undefined, {
    error: 'a deep verify (with the password) reads every pack',
    path: ['percent'],
  });
export type VerifyNow = z.output<typeof verifyNowSchema>;

/** Filters of a plan's snapshot list, beside the page. */
export const snapshotQuerySchema = pageQuerySchema.extend({
  serviceId: z.uuid({ error: 'must be an id' }).optional(),
  targetId: z.uuid({ error: 'must be an id' }).optional(),
});
export type SnapshotQuery = z.output<typeof snapshotQuerySchema>;
