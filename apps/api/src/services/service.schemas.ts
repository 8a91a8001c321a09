/**
 * Request bodies of /v1/services. They mirror the `services` table (prisma/schema.prisma); hooks
 * use the jsonb shape documented there, `{ kind, …, timeoutMs? }`, which is what the worker reads.
 */
import path from 'node:path';
import {
  architectureSchema,
  dumpPresetInputSchema,
  dumpSourceSchema,
  dumpSourcesSchema,
  expandDumpPreset,
  hookSchema,
  placementSchema,
} from '@vaultline/contracts';
import { z } from 'zod';

export const nameSchema = z
  .string()
  .trim()
  .min(1, { error: 'must have at least one character' })
  .max(64, { error: 'must have at most 64 characters' });

export const absolutePathSchema = z
  .string()
  .max(4096, { error: 'must have at most 4096 characters' })
  .refine((p) => path.posix.isAbsolute(p), { error: 'must be an absolute path' })
  .refine((p) => !p.includes('\0'), { error: 'must not contain NUL' });

/** gitignore patterns are line-based, so a pattern cannot hold a line break. */
const excludeSchema = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(1024, { error: 'must have at most 1024 characters' })
  .refine((p) => !/[\r\n\0]/.test(p), { error: 'must be a single gitignore pattern (no line breaks)' });

/**
 * Dump sources as plain commands, or presets (`{ preset: 'postgres', database: 'app' }`) that are
 * turned into plain commands here: what is stored, shown and edited is always the commands.
 */
const dumpsInputSchema = z
  .array(z.union([dumpPresetInputSchema, dumpSourceSchema]))
  .max(32, { error: 'must have at most 32 dump sources' })
  .transform((list) => list.map((d) => ('preset' in d ? expandDumpPreset(d) : d)))
  .pipe(dumpSourcesSchema);

export const createServiceSchema = z.strictObject({
  name: nameSchema,
  dataPath: absolutePathSchema,
  excludes: z.array(excludeSchema).max(1000).default([]),
  arch: architectureSchema,
  preHook: hookSchema.nullable().optional(),
  postHook: hookSchema.nullable().optional(),
  /** The node holding dataPath, or a node label `key=value`; only workers there take its jobs. */
  node: placementSchema.nullable().optional(),
  dumps: dumpsInputSchema.default([]),
});
export type CreateService = z.output<typeof createServiceSchema>;

/** Every field optional; `null` removes a hook. */
export const updateServiceSchema = z.strictObject({
  name: nameSchema.optional(),
  dataPath: absolutePathSchema.optional(),
  excludes: z.array(excludeSchema).max(1000).optional(),
  arch: architectureSchema.optional(),
  preHook: hookSchema.nullable().optional(),
  postHook: hookSchema.nullable().optional(),
  /** `null` moves the service back to the shared queues. */
  node: placementSchema.nullable().optional(),
  /** Replaces the list ([] removes them all). */
  dumps: dumpsInputSchema.optional(),
});
export type UpdateService = z.output<typeof updateServiceSchema>;
