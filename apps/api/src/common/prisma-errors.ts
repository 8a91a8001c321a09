import { Prisma } from '@vaultline/db';
import { ApiError } from './api-error';

/** Prisma's codes for a unique violation, a missing row and a foreign-key violation. */
export function prismaCode(err: unknown): 'P2002' | 'P2025' | 'P2003' | undefined {
  if (!(err instanceof Prisma.PrismaClientKnownRequestError)) return undefined;
  return err.code === 'P2002' || err.code === 'P2025' || err.code === 'P2003' ? err.code : undefined;
}

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
 * The one translation of database failures into API errors, applied by the exception filter to
 * anything the handlers, guards and pipes throw: a database that is down is 503 UNAVAILABLE (the
 * client retries later), never a 500. The driver's message (host, port) stays in the log.
 */
export function translateDatabaseError(err: unknown): ApiError | undefined {
  if (isDatabaseUnavailable(err))
    return new ApiError('UNAVAILABLE', 'the database is unavailable; retry later');
  return undefined;
}
