/**
 * Keyset pagination of the newest-first lists (a plan's runs and snapshots): `?limit=&cursor=`,
 * where the cursor is the opaque position after the last item returned. Keyset rather than offset
 * so a page stays correct while new runs and snapshots arrive at the head of the list.
 */
import { z } from 'zod';
import { ApiError } from '../common/api-error';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** Position of an item in a (time desc, id desc[, key desc]) order. */
export interface CursorPosition {
  time: Date;
  id: string;
  /** Second half of a composite id (a snapshot's target). */
  key?: string;
}

const cursorSchema = z.object({
  t: z.iso.datetime(),
  i: z.string().max(128),
  k: z.string().max(128).optional(),
});

export const pageQuerySchema = z.strictObject({
  limit: z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .max(MAX_PAGE_SIZE, { error: `must be at most ${MAX_PAGE_SIZE}` })
    .default(DEFAULT_PAGE_SIZE),
  cursor: z.string().max(1024).optional(),
});
export type PageQuery = z.output<typeof pageQuerySchema>;

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

export function encodeCursor(p: CursorPosition): string {
  const body = { t: p.time.toISOString(), i: p.id, ...(p.key ? { k: p.key } : {}) };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

const CURSOR_MESSAGE = 'is not a cursor returned by this list';

/** The position the query's cursor names; a 400 on `cursor` when this API did not produce it. */
export function cursorOf(query: PageQuery): CursorPosition | undefined {
  if (query.cursor === undefined) return undefined;
  try {
    const r = cursorSchema.safeParse(JSON.parse(Buffer.from(query.cursor, 'base64url').toString('utf8')));
    if (r.success) return { time: new Date(r.data.t), id: r.data.i, key: r.data.k };
  } catch {
    // Not base64url JSON: the same answer as a well-formed but foreign cursor.
  }
  throw new ApiError('VALIDATION_FAILED', `query: cursor: ${CURSOR_MESSAGE}`, [
    { path: 'cursor', message: CURSOR_MESSAGE },
  ]);
}

/** Splits `limit + 1` fetched rows into a page and the cursor after it. */
export function pageOf<R, T>(
  rows: readonly R[],
  limit: number,
  position: (row: R) => CursorPosition,
  view: (row: R) => T,
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items: items.map(view),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(position(last)) : null,
  };
}
