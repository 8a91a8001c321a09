import { EngineError } from '@vaultline/engine';
import { StorageError } from '@vaultline/storage';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_CHECK_FAILED = 3;

/** A failure the CLI itself detects; `exitCode` is 1 (operation failed) or 2 (usage error). */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    readonly code: string = exitCode === EXIT_USAGE ? 'USAGE' : 'FAILED',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function usageError(message: string): CliError {
  return new CliError(message, EXIT_USAGE, 'USAGE');
}

/** The exit code an error maps to: invalid arguments and locations are usage errors. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof EngineError) return err.code === 'INVALID_ARGUMENT' ? EXIT_USAGE : EXIT_FAILURE;
  if (err instanceof StorageError) return err.code === 'INVALID_LOCATION' ? EXIT_USAGE : EXIT_FAILURE;
  return EXIT_FAILURE;
}

/** A stable code for machine output (`--json` failure document). */
export function errorCodeOf(err: unknown): string {
  if (err instanceof CliError || err instanceof EngineError || err instanceof StorageError) return err.code;
  return 'UNEXPECTED';
}

/** One line: the message only (no stack), newlines folded. */
export function errorMessageOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s*\n\s*/g, ' ').trim() || 'unknown error';
}
