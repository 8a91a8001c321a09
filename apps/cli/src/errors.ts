/**
 * Errors and exit codes. The exit codes follow restic's so scripts written for it keep working;
 * `EXIT_CODES` is the one list (`vaultline --help` and the README print it), and every engine and
 * storage error code maps to one of them through a `Record`, so a new code does not compile until
 * it is given an exit code here.
 *
 * Nothing here loads the engine or storage at run time (only their types): `vaultline --help`
 * and usage errors answer without them. Their errors are recognised by `name` and `code`.
 */
import type { EngineErrorCode } from '@vaultline/engine';
import type { StorageErrorCode } from '@vaultline/storage';

export const EXIT_OK = 0;
/** Any failure without a more specific code below, including `check` finding problems. */
export const EXIT_FAILURE = 1;
/** Invalid arguments, options, locations or settings: nothing was done. */
export const EXIT_USAGE = 2;
/** `backup`: the snapshot was saved, but some files could not be read (they are listed). */
export const EXIT_PARTIAL = 3;
export const EXIT_NO_REPOSITORY = 10;
export const EXIT_LOCKED = 11;
export const EXIT_WRONG_PASSWORD = 12;
/** Interrupted by SIGINT (Ctrl-C), as shells report 128 + 2. */
export const EXIT_INTERRUPTED = 130;

export type ExitCode =
  | typeof EXIT_OK
  | typeof EXIT_FAILURE
  | typeof EXIT_USAGE
  | typeof EXIT_PARTIAL
  | typeof EXIT_NO_REPOSITORY
  | typeof EXIT_LOCKED
  | typeof EXIT_WRONG_PASSWORD
  | typeof EXIT_INTERRUPTED;

/** Every exit code and what it means, in order: the table of `--help` and the README. */
export const EXIT_CODES: readonly (readonly [ExitCode, string])[] = [
  [EXIT_OK, 'success'],
  [EXIT_FAILURE, 'failure (including check finding problems)'],
  [EXIT_USAGE, 'usage error: bad arguments, options or settings; nothing was done'],
  [EXIT_PARTIAL, 'backup: snapshot saved, but some files could not be read'],
  [EXIT_NO_REPOSITORY, 'no repository at the location'],
  [EXIT_LOCKED, 'repository locked by another operation'],
  [EXIT_WRONG_PASSWORD, 'wrong password'],
  [EXIT_INTERRUPTED, 'interrupted (SIGINT)'],
];

/** The exit code of each engine error. */
export const ENGINE_EXIT_CODES: Record<EngineErrorCode, ExitCode> = {
  WRONG_PASSWORD: EXIT_WRONG_PASSWORD,
  PASSWORD_TOO_SHORT: EXIT_USAGE,
  NO_REPOSITORY: EXIT_NO_REPOSITORY,
  ALREADY_INITIALIZED: EXIT_FAILURE,
  FOREIGN_REPOSITORY: EXIT_FAILURE,
  UNSUPPORTED_VERSION: EXIT_FAILURE,
  CORRUPT: EXIT_FAILURE,
  NEEDS_PASSWORD: EXIT_FAILURE,
  LOCKED: EXIT_LOCKED,
  NOT_FOUND: EXIT_FAILURE,
  UNSAFE_PATH: EXIT_FAILURE,
  INVALID_ARGUMENT: EXIT_USAGE,
  SOURCE_UNREADABLE: EXIT_FAILURE,
  LAST_KEY: EXIT_FAILURE,
  ABORTED: EXIT_INTERRUPTED,
};

/** The exit code of each storage error. */
export const STORAGE_EXIT_CODES: Record<StorageErrorCode, ExitCode> = {
  NOT_FOUND: EXIT_FAILURE,
  FULL: EXIT_FAILURE,
  READ_ONLY: EXIT_FAILURE,
  PERMISSION_DENIED: EXIT_FAILURE,
  UNREACHABLE: EXIT_FAILURE,
  INVALID_NAME: EXIT_FAILURE,
  INVALID_LOCATION: EXIT_USAGE,
  IO: EXIT_FAILURE,
};

/** A failure the CLI itself detects, with its exit code and a stable code for `--json`. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT_FAILURE,
    readonly code: string = exitCode === EXIT_USAGE ? 'USAGE' : 'FAILED',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function usageError(message: string): CliError {
  return new CliError(message, EXIT_USAGE, 'USAGE');
}

export function interrupted(): CliError {
  return new CliError('interrupted', EXIT_INTERRUPTED, 'INTERRUPTED');
}

interface CodedError extends Error {
  code: string;
}

function isCoded(err: unknown, name: string): err is CodedError {
  return err instanceof Error && err.name === name && typeof (err as Partial<CodedError>).code === 'string';
}

/**
 * Opening an existing repository's storage: a location that is not there (storage NOT_FOUND) is
 * "no repository" (exit 10), as the engine says for a folder without a config. Others as they are.
 */
export function openFailure(location: string, err: unknown): unknown {
  if (!isCoded(err, 'StorageError') || (err.code as StorageErrorCode) !== 'NOT_FOUND') return err;
  return new CliError(
    `no Vaultline repository at ${location}: ${err.message}`,
    EXIT_NO_REPOSITORY,
    'NO_REPOSITORY',
    {
      cause: err,
    },
  );
}

/** The exit code an error maps to (1 for anything unexpected). */
export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof CliError) return err.exitCode;
  if (isCoded(err, 'EngineError')) return ENGINE_EXIT_CODES[err.code as EngineErrorCode] ?? EXIT_FAILURE;
  if (isCoded(err, 'StorageError')) return STORAGE_EXIT_CODES[err.code as StorageErrorCode] ?? EXIT_FAILURE;
  return EXIT_FAILURE;
}

/** A stable code for machine output (`--json` failure document). */
export function errorCodeOf(err: unknown): string {
  if (err instanceof CliError || isCoded(err, 'EngineError') || isCoded(err, 'StorageError')) return err.code;
  return 'UNEXPECTED';
}

/** One line: the message only (no stack), newlines folded. */
export function errorMessageOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s*\n\s*/g, ' ').trim() || 'unknown error';
}

/** The exit-code table as help text lines. */
export function exitCodeHelp(indent = '  '): string {
  return EXIT_CODES.map(([code, meaning]) => `${indent}${String(code).padStart(3)}  ${meaning}`).join('\n');
}
