/**
 * Request shapes the API validates and the report service reads back: a plan's name, schedule and
 * retention policy, the password rules, a service's architecture. The rules are the product's
 * (../shared/seeds, Terminus "Backup Management"): name of at least one character, daily or weekly,
 * a start time, a day of the week when weekly, a password of at least 4 characters entered twice.
 */
import { z } from 'zod';

/** At least one character (the documents' rule); it cannot be changed later, so it is trimmed first. */
export const planNameSchema = z
  .string()
  .trim()
  .min(1, { error: 'must have at least one character' })
  .max(128, { error: 'must have at most 128 characters' });

// ---------------------------------------------------------------------------------------------
// Schedule

/**
 * An IANA time zone name ('Europe/Paris', 'UTC') that Intl knows, kept as given: the plan's job
 * scheduler resolves it through the same Intl data (BullMQ's cron parser), so what passes here also
 * fires there. Not canonicalised, since Intl's canonical form can be an older alias than what the
 * user chose ('America/Argentina/Buenos_Aires' → 'America/Buenos_Aires'). Offsets such as '+01:00'
 * are refused although Intl accepts them: a fixed offset ignores daylight saving time, which is
 * never what "02:00 every day" means.
 */
export const timezoneSchema = z
  .string()
  .refine((tz) => /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(tz) && isKnownTimeZone(tz), {
    error: "must be an IANA time zone name such as 'Europe/Paris' or 'UTC'",
  });

function isKnownTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false; // RangeError: Intl does not know this zone
  }
}

export const FREQUENCIES = ['daily', 'weekly'] as const;

/** 24-hour wall-clock time in the schedule's time zone. */
export const timeOfDaySchema = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'must be a time HH:MM between 00:00 and 23:59' });

/** 0 = Sunday … 6 = Saturday, as in cron and `Date.getDay()`. */
export const dayOfWeekSchema = z
  .number()
  .int({ error: 'must be a whole number from 0 (Sunday) to 6 (Saturday)' })
  .min(0, { error: 'must be a whole number from 0 (Sunday) to 6 (Saturday)' })
  .max(6, { error: 'must be a whole number from 0 (Sunday) to 6 (Saturday)' });

/**
 * When a plan runs. `dayOfWeek` is required when weekly and refused when daily (rather than
 * ignored), so a client that thinks it set a day on a daily plan hears about it.
 */
export const scheduleSchema = z
  .strictObject({
    frequency: z.enum(FREQUENCIES),
    time: timeOfDaySchema,
    dayOfWeek: dayOfWeekSchema.optional(),
    timezone: timezoneSchema,
  })
  .check((ctx) => {
    const s = ctx.value;
    if (s.frequency === 'weekly' && s.dayOfWeek === undefined) {
      ctx.issues.push({ code: 'custom', input: s, path: ['dayOfWeek'], message: 'is required when weekly' });
    }
    if (s.frequency === 'daily' && s.dayOfWeek !== undefined) {
      ctx.issues.push({
        code: 'custom',
        input: s,
        path: ['dayOfWeek'],
        message: 'is only allowed when weekly',
      });
    }
  });
export type Schedule = z.output<typeof scheduleSchema>;

/**
 * The schedule as a cron pattern and time zone: the `repeat` options of the plan's BullMQ job
 * scheduler (`{ pattern, tz }`). Kept here so the API and any tool that explains a schedule agree.
 */
export function scheduleToCron(s: Schedule): { pattern: string; tz: string } {
  const [hh, mm] = s.time.split(':').map(Number) as [number, number];
  const day = s.frequency === 'weekly' ? String(s.dayOfWeek ?? 0) : '*';
  return { pattern: `${mm} ${hh} * * ${day}`, tz: s.timezone };
}

// ---------------------------------------------------------------------------------------------
// Retention

const keep = z
  .number()
  .int({ error: 'must be a whole number ≥ 0' })
  .min(0, { error: 'must be a whole number ≥ 0' })
  .max(100_000, { error: 'must be at most 100000' })
  .optional();

/** The engine's tag rule (backup.ts `assertValidTags`): retention selects snapshots by these tags. */
export const tagSchema = z
  .string()
  .regex(/^[\w.:@-]{1,64}$/u, { error: 'must be 1-64 letters, digits and . : @ _ -' });

/**
 * Mirrors the engine's `RetentionPolicy` (forget.ts) and its `validatePolicy` rule: at least one
 * keep rule above 0 or a tag to keep, because a policy that keeps nothing would forget every snapshot.
 */
export const retentionPolicySchema = z
  .strictObject({
    keepLast: keep,
    keepHourly: keep,
    keepDaily: keep,
    keepWeekly: keep,
    keepMonthly: keep,
    keepYearly: keep,
    keepTags: z.array(tagSchema).max(32).optional(),
  })
  .check((ctx) => {
    const p = ctx.value;
    const counts = [p.keepLast, p.keepHourly, p.keepDaily, p.keepWeekly, p.keepMonthly, p.keepYearly];
    if (!counts.some((n) => (n ?? 0) > 0) && !(p.keepTags ?? []).length) {
      ctx.issues.push({
        code: 'custom',
        input: p,
        message: 'must keep something: set at least one keep rule above 0 or a tag to keep',
      });
    }
  });
export type RetentionPolicy = z.output<typeof retentionPolicySchema>;

// ---------------------------------------------------------------------------------------------
// Passwords

/** The engine's MIN_PASSWORD_LENGTH (keys.ts), counted as it counts: in characters (code points). */
export const MIN_PASSWORD_LENGTH = 4;
/** Bounds the request and the Argon2id input; far above any passphrase a person types. */
export const MAX_PASSWORD_LENGTH = 1024;

const codePoints = (s: string): number => [...s].length;

export const passwordSchema = z
  .string()
  .refine((p) => codePoints(p) >= MIN_PASSWORD_LENGTH, {
    error: `must have at least ${MIN_PASSWORD_LENGTH} characters`,
  })
  .refine((p) => codePoints(p) <= MAX_PASSWORD_LENGTH, {
    error: `must have at most ${MAX_PASSWORD_LENGTH} characters`,
  });

/**
 * The check that a password was entered twice alike, as a `.check` for any object holding both
 * fields (plan creation embeds them in its body). The mismatch is reported on the confirmation,
 * the field the user has to fix; no message ever contains either value.
 */
export function confirms(field: string, confirmation: string) {
  return (ctx: z.core.ParsePayload<Record<string, unknown>>): void => {
    if (ctx.value[field] !== ctx.value[confirmation]) {
      ctx.issues.push({
        code: 'custom',
        input: '[redacted]',
        path: [confirmation],
        message: `does not match ${field}`,
      });
    }
  };
}

/** The fields of a new password entered twice, to spread into a body's strict object. */
export const newPasswordFields = { password: passwordSchema, passwordConfirmation: z.string() };

/** A new password, entered twice (plan creation). */
export const newPasswordSchema = z
  .strictObject(newPasswordFields)
  .check(confirms('password', 'passwordConfirmation'));
export type NewPassword = z.output<typeof newPasswordSchema>;

/**
 * Changing a plan's password: the old one (any length: it is checked against the keys, not the
 * rules, so a password set before a rule change still opens) and the new one twice.
 */
export const passwordChangeSchema = z
  .strictObject({
    oldPassword: z.string().min(1, { error: 'is required' }),
    newPassword: passwordSchema,
    newPasswordConfirmation: z.string(),
  })
  .check(confirms('newPassword', 'newPasswordConfirmation'));
export type PasswordChange = z.output<typeof passwordChangeSchema>;

// ---------------------------------------------------------------------------------------------
// Verification

export const VERIFY_SCHEDULES = ['off', 'daily', 'weekly'] as const;

/**
 * A plan's scheduled verification: how often the worker re-reads a share of each target's packs
 * with the writer key, how big that share is (a rotation: ceil(100 / percent) runs read every
 * pack once), and when, in the plan's time zone (default 04:00, away from the usual backup
 * hours; Sundays when weekly). The object is set whole: an omitted `time` is 04:00.
 */
export const verifySettingsSchema = z.strictObject({
  schedule: z.enum(VERIFY_SCHEDULES),
  percent: z.number().int().min(1).max(100),
  time: timeOfDaySchema.default('04:00'),
});
export type VerifySettings = z.output<typeof verifySettingsSchema>;
export const DEFAULT_VERIFY: VerifySettings = Object.freeze({ schedule: 'off', percent: 10, time: '04:00' });

/** The slice count of a share: slice k of N is read on the k-th run (mod N). */
export function verifySliceCount(percent: number): number {
  return Math.ceil(100 / percent);
}

/** The verify scheduler's repeat options (daily, or Sundays), or null when verification is off. */
export function verifyToCron(
  v: Pick<VerifySettings, 'schedule' | 'time'>,
  tz: string,
): { pattern: string; tz: string } | null {
  if (v.schedule === 'off') return null;
  const [hh, mm] = v.time.split(':').map(Number) as [number, number];
  return { pattern: `${mm} ${hh} * * ${v.schedule === 'daily' ? '*' : '0'}`, tz };
}
