/**
 * Request bodies of the snapshot browser (POST /v1/snapshots/:id/tree and /download). The password
 * travels in the body, never in a URL (URLs end up in logs and browser history), and is checked
 * against the repository like a restore's.
 */
import { MAX_PASSWORD_LENGTH } from '@vaultline/contracts';
import { z } from 'zod';

export const browseSnapshotSchema = z
  .strictObject({
    /** The target the snapshot is on (a snapshot id can be on several targets of its plan). */
    targetId: z.uuid({ error: 'must be an id' }),
    password: z
      .string()
      .min(1, { error: 'is required' })
      .refine((p) => [...p].length <= MAX_PASSWORD_LENGTH, {
        error: `must have at most ${MAX_PASSWORD_LENGTH} characters`,
      }),
    /** A folder or file inside the snapshot, `/`-separated; default the root. */
    path: z.string().max(4096, { error: 'must have at most 4096 characters' }).optional(),
    /** The same as base64 of its bytes, for a path with names that are not valid UTF-8 (nameB64). */
    pathB64: z.base64({ error: 'must be base64' }).max(8192, { error: 'is too long' }).optional(),
  })
  .refine((b) => b.path === undefined || b.pathB64 === undefined, {
    path: ['pathB64'],
    error: 'give path or pathB64, not both',
  });
export type BrowseSnapshot = z.output<typeof browseSnapshotSchema>;
