/**
 * A service's dump sources: commands whose standard output becomes one named file of the
 * service's snapshot (a database dump), optionally with the command a restore feeds that file to.
 * Stored as jsonb in `services.dumps` (prisma/schema.prisma); the API validates input with
 * `dumpSourceSchema`, the worker parses rows again (a row may predate a schema change).
 *
 * In the snapshot the files sit in the folder DUMP_FOLDER at its top (`.vaultline-dumps/<name>`),
 * beside the data folder's own content; a restore leaves that folder out of the data it writes and
 * runs each source's restore command on its file instead.
 */
import { z } from 'zod';

export const DUMP_FOLDER = '.vaultline-dumps';

const argvSchema = z
  .array(
    z
      .string()
      .min(1, { error: 'must not be empty' })
      .max(4096)
      .refine((a) => !a.includes('\0'), { error: 'must not contain NUL' }),
  )
  .min(1, { error: 'must name the program' })
  .max(256);

/** `postgres/app.dump`: folders and a file name of letters, digits, `.`, `_`, `-` (no `.`/`..`). */
export const dumpNameSchema = z
  .string()
  .max(255, { error: 'must have at most 255 characters' })
  .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, {
    error: 'must be a relative path of letters, digits, ., _ and - (e.g. postgres/app.dump)',
  })
  .refine((n) => n.split('/').every((p) => p !== '.' && p !== '..'), { error: 'must not contain . or ..' });

export const dumpSourceSchema = z.strictObject({
  /** The file's path in the snapshot, under DUMP_FOLDER. */
  name: dumpNameSchema,
  /** Run without a shell: argv[0] is the program; its standard output is the file. */
  argv: argvSchema,
  /** Run by a restore with the file as its standard input; none: the file is only kept. */
  restoreArgv: argvSchema.nullable().optional(),
  /** Each of the two commands is killed after this long (default 1 hour). */
  timeoutMs: z
    .number()
    .int({ error: 'must be a whole number of milliseconds' })
    .min(1000, { error: 'must be at least 1000' })
    .max(86_400_000, { error: 'must be at most 86400000 (one day)' })
    .optional(),
});
export type DumpSource = z.output<typeof dumpSourceSchema>;

export const dumpSourcesSchema = z
  .array(dumpSourceSchema)
  .max(32, { error: 'must have at most 32 dump sources' })
  .refine((list) => new Set(list.map((d) => d.name)).size === list.length, {
    error: 'must not name the same file twice',
  })
  .refine(
    (list) =>
      list.every(
        (a) =>
          !list.some((b) => a !== b && (b.name.startsWith(`${a.name}/`) || a.name.startsWith(`${b.name}/`))),
      ),
    { error: 'must not use a file name as the folder of another' },
  );

/** What a preset needs to be turned into plain commands. */
export const dumpPresetInputSchema = z
  .strictObject({
    preset: z.enum(['postgres', 'mariadb', 'mysql', 'redis']),
    /** The database (PostgreSQL, MariaDB/MySQL); Redis dumps the whole server. */
    database: z
      .string()
      .regex(/^[A-Za-z0-9_$-]{1,64}$/, { error: 'must be a database name (letters, digits, _, $ and -)' })
      .optional(),
    host: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,253}$|^\/[^\0]{0,4095}$/, {
        error: 'must be a host name, address or socket folder',
      })
      .optional(),
    port: z.number().int().min(1).max(65535).optional(),
    user: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be a user name (letters, digits, ., _ and -)' })
      .optional(),
    timeoutMs: dumpSourceSchema.shape.timeoutMs,
  })
  .refine((p) => p.preset === 'redis' || p.database !== undefined, {
    path: ['database'],
    error: 'is required for this preset',
  });
export type DumpPresetInput = z.output<typeof dumpPresetInputSchema>;

/**
 * A preset as plain commands (no shell; passwords come from the tools' own files or environment —
 * ~/.pgpass, ~/.my.cnf, REDISCLI_AUTH — never from the catalog). What it returns is stored and can
 * be edited like any other dump source.
 */
export function expandDumpPreset(p: DumpPresetInput): DumpSource {
  const opt = (flag: string, v: string | number | undefined): string[] =>
    v === undefined ? [] : [`${flag}=${v}`];
  const timeout = p.timeoutMs === undefined ? {} : { timeoutMs: p.timeoutMs };
  switch (p.preset) {
    case 'postgres': {
      const db = requireDatabase(p);
      const conn = [...opt('--host', p.host), ...opt('--port', p.port), ...opt('--username', p.user)];
      return {
        name: `postgres/${db}.dump`,
        // Custom format: compressed by pg_dump, restored selectively; --clean drops what it recreates.
        argv: ['pg_dump', '--format=custom', '--no-password', ...conn, `--dbname=${db}`],
        restoreArgv: ['pg_restore', '--clean', '--if-exists', '--no-password', ...conn, `--dbname=${db}`],
        ...timeout,
      };
    }
    case 'mariadb':
    case 'mysql': {
      const db = requireDatabase(p);
      const [dump, client] = p.preset === 'mariadb' ? ['mariadb-dump', 'mariadb'] : ['mysqldump', 'mysql'];
      const conn = [...opt('--host', p.host), ...opt('--port', p.port), ...opt('--user', p.user)];
      return {
        name: `${p.preset}/${db}.sql`,
        // One consistent snapshot of InnoDB tables without locking them; routines and triggers too.
        argv: [dump, '--single-transaction', '--routines', '--triggers', '--events', ...conn, db],
        restoreArgv: [client, ...conn, db],
        ...timeout,
      };
    }
    case 'redis': {
      const conn = [...(p.host ? ['-h', p.host] : []), ...(p.port ? ['-p', String(p.port)] : [])];
      return {
        name: 'redis/dump.rdb',
        // The server's RDB snapshot on standard output. A restore keeps the file only: Redis loads
        // an RDB at start, so put it in place of dump.rdb while the server is stopped.
        argv: ['redis-cli', ...conn, '--rdb', '-'],
        restoreArgv: null,
        ...timeout,
      };
    }
  }
}

function requireDatabase(p: DumpPresetInput): string {
  // dumpPresetInputSchema requires it; a caller that skipped the schema gets a plain error.
  if (!p.database) throw new Error(`a ${p.preset} preset needs a database`);
  return p.database;
}
