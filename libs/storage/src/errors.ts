import type { ByteRange } from './backend';
export type StorageErrorCode =
  | 'NOT_FOUND'
  | 'FULL'
  | 'READ_ONLY'
  | 'PERMISSION_DENIED'
  | 'UNREACHABLE'
  | 'INVALID_NAME'
  | 'INVALID_LOCATION'
  | 'IO';

/** Every backend failure surfaces as this, with a stable code and a one-line message. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const NAME_RE = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/** Object names are relative, slash-separated, with no empty, `.` or `..` segment. */
export function assertValidName(name: string): void {
  if (!NAME_RE.test(name) || name.split('/').some((s) => s === '.' || s === '..')) {
    throw new StorageError('INVALID_NAME', `invalid object name: ${JSON.stringify(name)}`);
  }
}

/**
 * List prefixes are object-name fragments (`data/`, `snapshots/`, `data/a`, or `` for all):
 * the same characters as names, and no `.`/`..` segment that could leave the repository.
 */
export function assertValidPrefix(prefix: string): void {
  if (prefix === '') return;
  const segments = prefix.split('/');
  const last = segments.pop() ?? '';
  if (
    !/^[A-Za-z0-9._-]*$/.test(last) ||
    last === '..' ||
    segments.some((s) => !/^[A-Za-z0-9._-]+$/.test(s) || s === '.' || s === '..')
  ) {
    throw new StorageError('INVALID_NAME', `invalid list prefix: ${JSON.stringify(prefix)}`);
  }
}

/** The string `code` of a Node system error (`ENOENT`) or an S3 error (`NoSuchKey`), if any. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    return err.code;
  }
  return undefined;
}

/** Byte ranges are whole, non-negative numbers; anything else is a caller bug, reported as IO. */
export function assertValidRange(range: ByteRange): void {
  if (
    !Number.isSafeInteger(range.offset) ||
    !Number.isSafeInteger(range.length) ||
    range.offset < 0 ||
    range.length < 0 ||
    (range.into !== undefined && range.into.byteLength < range.length)
  ) {
    throw new StorageError('IO', `invalid byte range offset=${range.offset} length=${range.length}`);
  }
}
