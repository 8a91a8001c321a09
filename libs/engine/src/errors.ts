export type EngineErrorCode =
  | 'WRONG_PASSWORD'
  | 'PASSWORD_TOO_SHORT'
  | 'NO_REPOSITORY'
  | 'ALREADY_INITIALIZED'
  | 'FOREIGN_REPOSITORY'
  | 'UNSUPPORTED_VERSION'
  | 'CORRUPT'
  | 'NEEDS_PASSWORD'
  | 'LOCKED'
  | 'NOT_FOUND'
  | 'UNSAFE_PATH'
  | 'INVALID_ARGUMENT'
  | 'SOURCE_UNREADABLE'
  | 'LAST_KEY'
  | 'ABORTED';

/** Domain error with a stable code; the CLI prints `message` as its one line. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function corrupt(what: string, cause?: unknown): EngineError {
  return new EngineError('CORRUPT', `repository damaged or tampered: ${what}`, { cause });
}

/** Throws when `signal` has fired: operations stop at their next safe point. */
export function throwIfAborted(signal: AbortSignal | undefined, operation: string): void {
  if (signal?.aborted) throw new EngineError('ABORTED', `${operation} cancelled`);
}
