import { Prisma } from '@vaultline/db';

/**
 * What a repository call can fail with, in the catalog's words: apps react to these codes and never
 * to Prisma's (P2002 …), so the driver can change without touching them.
 * - NOT_FOUND: the row to change or delete is not there;
 * - CONFLICT: a unique value (a name) is already taken;
 * - FOREIGN_KEY: a row the change refers to is gone, or a row still referred to cannot be deleted;
 * - UNAVAILABLE: the database is down or unreachable (retry later), not a wrong query.
 */
export type CatalogErrorCode = 'NOT_FOUND' | 'CONFLICT' | 'FOREIGN_KEY' | 'UNAVAILABLE';

export class CatalogError extends Error {
  override readonly name = 'CatalogError';

  constructor(
    readonly code: CatalogErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Prisma's codes that are a caller's problem, and what the catalog calls them. */
const REQUEST_CODES: Record<string, Exclude<CatalogErrorCode, 'UNAVAILABLE'>> = {
  P2002: 'CONFLICT',
  P2025: 'NOT_FOUND',
  P2003: 'FOREIGN_KEY',
};

/**
 * Prisma's codes for a server that cannot be reached or stopped answering: P1001 can't reach,
 * P1002 timed out, P1008 operation timed out, P1017 server closed the connection, P2024 no pool
 * connection in time.
 */
const UNAVAILABLE_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
/** The kinds @prisma/adapter-pg gives socket and server-state failures (its `mapSocketError` etc.). */
const UNAVAILABLE_KINDS = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
]);
/** Node's socket errors, when an error arrives without Prisma's wrapping. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EPIPE',
]);
/** PostgreSQL's SQLSTATEs of a server shutting down or not ready: admin/crash shutdown, cannot connect now. */
const SHUTDOWN_SQLSTATES = new Set(['57P01', '57P02', '57P03']);

interface AdapterCause {
  kind?: unknown;
  code?: unknown;
}

function adapterCause(err: object): AdapterCause | undefined {
  const meta = (err as { meta?: { driverAdapterError?: { cause?: AdapterCause } } }).meta;
  if (meta?.driverAdapterError?.cause) return meta.driverAdapterError.cause;
  // A DriverAdapterError that escaped Prisma's wrapping (e.g. from inside a transaction callback).
  if ((err as { name?: unknown }).name === 'DriverAdapterError')
    return (err as { cause?: AdapterCause }).cause;
  return undefined;
}

/**
 * Whether `err` says the database is down or unreachable (rather than that the query was wrong).
 * Walks `cause` chains, since drivers and Prisma wrap one another.
 */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 5) return false;
  if (err instanceof CatalogError) return err.code === 'UNAVAILABLE';
  if (err instanceof Prisma.PrismaClientKnownRequestError && UNAVAILABLE_CODES.has(err.code)) return true;
  if (err instanceof Prisma.PrismaClientInitializationError && UNAVAILABLE_CODES.has(err.errorCode ?? ''))
    return true;
  const cause = adapterCause(err);
  if (cause) {
    if (typeof cause.kind === 'string' && UNAVAILABLE_KINDS.has(cause.kind)) return true;
    if (cause.kind === 'postgres' && typeof cause.code === 'string' && SHUTDOWN_SQLSTATES.has(cause.code))
      return true;
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || SHUTDOWN_SQLSTATES.has(code))) return true;
  // node-postgres' own words when the server goes away mid-query (it sets no code).
  if (err instanceof Error && /^Connection terminated( unexpectedly)?$/.test(err.message)) return true;
  return isDatabaseUnavailable((err as { cause?: unknown }).cause, depth + 1);
}

/**
 * The one translation of Prisma's failures: a CatalogError for what the catalog can name, anything
 * else (a wrong query, a bug) unchanged. The driver's message (host, port) stays in `cause`, for
 * the log; the CatalogError's own message never names it.
 */
export function toCatalogError(err: unknown): unknown {
  if (err instanceof CatalogError) return err;
  if (isDatabaseUnavailable(err)) {
    return new CatalogError('UNAVAILABLE', 'the database is unavailable; retry later', { cause: err });
  }
  if (err instanceof Prisma.PrismaClientKnownRequestError) {
    const code = REQUEST_CODES[err.code];
    if (code) return new CatalogError(code, catalogMessage(code), { cause: err });
  }
  return err;
}

function catalogMessage(code: CatalogErrorCode): string {
  switch (code) {
    case 'NOT_FOUND':
      return 'the row is not in the catalog';
    case 'CONFLICT':
      return 'a unique value is already taken';
    case 'FOREIGN_KEY':
      return 'a related row is missing or still refers to this one';
    case 'UNAVAILABLE':
      return 'the database is unavailable; retry later';
  }
}

/** Whether `err` is a CatalogError with this code (a narrowing helper for `catch` blocks). */
export function isCatalogError(err: unknown, code?: CatalogErrorCode): err is CatalogError {
  return err instanceof CatalogError && (code === undefined || err.code === code);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * The repository with every method's failures translated: callers only ever see CatalogError (or
 * the untouched error of a bug), however a method reaches the database.
 */
export function translating<T extends object>(repository: T): T {
  return new Proxy(repository, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        try {
          const out: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
          // Thenables too: Prisma's own promises (returned as they are by non-async methods) are
          // not Promise instances, and only run once awaited.
          return isThenable(out)
            ? Promise.resolve(out).catch((err: unknown) => {
                throw toCatalogError(err);
              })
            : out;
        } catch (err) {
          throw toCatalogError(err);
        }
      };
    },
  });
}
