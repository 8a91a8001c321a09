import type { z } from 'zod';

export type ContractErrorCode =
  /** A job's data did not match its payload schema (producer bug, or a job from an incompatible version). */
  | 'INVALID_JOB_PAYLOAD'
  /** A job's return value did not match its result schema. */
  | 'INVALID_JOB_RESULT'
  /** A live event's payload did not match its schema. */
  | 'INVALID_EVENT_PAYLOAD'
  /** A name that is not in the registry (a job or event this version does not know). */
  | 'UNKNOWN_NAME'
  /** Startup check: a job without a handler, with two, or a handler for no job. */
  | 'HANDLERS_MISMATCH'
  /** A request body (DTO) failed validation: the API maps this code to a 400. */
  | 'INVALID_INPUT';

/** One invalid field: `path` is dotted with array indices in brackets, e.g. `stats.files`, `unreadable[0].path`. */
export interface ContractIssue {
  path: string;
  message: string;
}

/**
 * The one error type of this library. It names what was being checked (`subject`: a job, an event,
 * a DTO) and every invalid field. Messages never contain input values: a payload may carry a
 * password envelope and a DTO a password, and errors end up in logs and HTTP responses.
 */
export class ContractError extends Error {
  override readonly name = 'ContractError';
  constructor(
    readonly code: ContractErrorCode,
    readonly subject: string,
    readonly issues: readonly ContractIssue[] = [],
    detail?: string,
  ) {
    super(
      `${subject}: ${detail ?? issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
    );
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/**
 * zod's issue list as ContractIssues. zod 4's messages describe types and rules, never the input
 * value; the input is only looked at (never copied) to say "is required" for a missing field.
 */
export function toIssues(error: z.ZodError): ContractIssue[] {
  return error.issues.flatMap((i) =>
    // An unknown key is reported at the key's own path (`retention.keepDayly`), one issue each, so
    // a client finds it like any other invalid field.
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => ({ path: formatPath([...i.path, key]), message: 'is not a known field' }))
      : [
          {
            path: formatPath(i.path),
            message: i.code === 'invalid_type' && i.input === undefined ? 'is required' : i.message,
          },
        ],
  );
}

/** Parses `data` with `schema`, throwing a ContractError with every invalid field. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  data: unknown,
  code: ContractErrorCode,
  subject: string,
): z.output<S> {
  // reportInput: toIssues needs to tell a missing field from a wrong one.
  const r = schema.safeParse(data, { reportInput: true });
  if (!r.success) throw new ContractError(code, subject, toIssues(r.error));
  return r.data;
}

/**
 * Validates a request body against one of the DTO schemas; the API's validation pipe calls this so
 * every 4xx names the field and the reason in the same format as job payload errors.
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  data: unknown,
  subject = 'request body',
): z.output<S> {
  return parseWith(schema, data, 'INVALID_INPUT', subject);
}
