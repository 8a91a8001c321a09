/**
 * A service's pre/post hook (quiesce before its backup, resume after), as the API validates it and
 * the worker runs it. Stored as jsonb in `services.pre_hook` / `post_hook` (prisma/schema.prisma).
 */
import { z } from 'zod';

const timeoutMsSchema = z
  .number()
  .int({ error: 'must be a whole number of milliseconds' })
  .min(1, { error: 'must be at least 1' })
  .max(3_600_000, { error: 'must be at most 3600000 (one hour)' });

const httpUrlSchema = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

export const hookSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('http'),
    url: httpUrlSchema,
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).optional(),
    timeoutMs: timeoutMsSchema.optional(),
  }),
  z.strictObject({
    kind: z.literal('command'),
    /** Run without a shell: argv[0] is the program. */
    argv: z
      .array(z.string().min(1, { error: 'must not be empty' }).max(4096))
      .min(1, { error: 'must name the program' })
      .max(256),
    timeoutMs: timeoutMsSchema.optional(),
  }),
]);
export type Hook = z.output<typeof hookSchema>;
