/**
 * Browser sign-in (the web UI): the rules for user names and passwords, and the body of
 * `POST /v1/session`. The response (SessionView) is in api.ts with the other responses.
 */
import { z } from 'zod';

import { MAX_PASSWORD_LENGTH } from './dto';

/** 1-64 of letters, digits and `._-`: safe in logs and URLs, case-sensitive. */
export const USER_NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const userNameSchema = z
  .string()
  .regex(USER_NAME_RE, { error: 'must be 1-64 letters, digits, dots, underscores or hyphens' });

/** A web UI password is an account password (guessable online), so longer than a plan's minimum. */
export const MIN_USER_PASSWORD_LENGTH = 8;

const codePoints = (s: string): number => [...s].length;

export const userPasswordSchema = z
  .string()
  .refine((p) => codePoints(p) >= MIN_USER_PASSWORD_LENGTH, {
    error: `must have at least ${MIN_USER_PASSWORD_LENGTH} characters`,
  })
  .refine((p) => codePoints(p) <= MAX_PASSWORD_LENGTH, {
    error: `must have at most ${MAX_PASSWORD_LENGTH} characters`,
  });

/**
 * The sign-in body. Only the bounds are checked, not the name's characters or the password's
 * minimum: a name or password that could not exist is "invalid name or password" (401), like any
 * other wrong one, and counts as a failed attempt.
 */
export const createSessionSchema = z.strictObject({
  name: z.string().min(1, { error: 'is required' }).max(64, { error: 'must have at most 64 characters' }),
  password: z
    .string()
    .min(1, { error: 'is required' })
    .refine((p) => codePoints(p) <= MAX_PASSWORD_LENGTH, {
      error: `must have at most ${MAX_PASSWORD_LENGTH} characters`,
    }),
});
export type CreateSession = z.output<typeof createSessionSchema>;
