import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { StorageBackend } from './backend';
import { StorageError } from './errors';
import { FsBackend } from './fs-backend';
import { S3Backend, isValidBucketName } from './s3-backend';
import type { RetryPolicy, S3Options } from './s3-backend';

export type Env = Record<string, string | undefined>;

export type ParsedLocation = { kind: 'fs'; root: string } | { kind: 's3'; options: S3Options };

export interface OpenBackendOptions {
  /** Create the directory or bucket when it does not exist (`init`); otherwise it must exist. */
  create?: boolean;
  /** S3 only: override the retry policy (tests use a tiny one). */
  retry?: Partial<RetryPolicy>;
  /** S3 only: the agent its connections go through (see S3Options.agent). */
  agent?: S3Options['agent'];
}

export const DEFAULT_S3_ENDPOINT = 'https://s3.amazonaws.com';
export const DEFAULT_S3_REGION = 'us-east-1';

const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

/** First non-empty value among `names` in `env`. */
function fromEnv(env: Env, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/** The bucket and key prefix of an `s3://bucket[/prefix]` location (nothing else may be in it). */
function parseS3Address(location: string): { bucket: string; prefix: string } {
  const rest = location.slice(location.indexOf('://') + 3);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  if (authority.includes('@') || authority.includes(':')) {
    // Never echo this location: it probably carries credentials.
    throw new StorageError(
      'INVALID_LOCATION',
      'S3 location must be s3://bucket[/prefix] without credentials; set VAULTLINE_S3_ACCESS_KEY and ' +
        'VAULTLINE_S3_SECRET_KEY instead',
    );
  }
  if (/[?#]/.test(rest)) {
    throw new StorageError('INVALID_LOCATION', `S3 location ${location} must not contain '?' or '#'`);
  }
  const bucket = authority;
  if (!isValidBucketName(bucket)) {
    throw new StorageError(
      'INVALID_LOCATION',
      `invalid S3 bucket name ${JSON.stringify(bucket)} in ${location}: 3-63 characters of a-z, 0-9, '.' and '-', ` +
        'starting and ending with a letter or digit',
    );
  }
  // A trailing slash is tolerated (`s3://bucket/backups/`); empty inner segments are not.
  const segments =
    slash < 0
      ? []
      : rest
          .slice(slash + 1)
          .replace(/\/+$/, '')
          .split('/');
  if (segments.length === 1 && segments[0] === '') segments.pop();
  if (segments.some((s) => !SEGMENT_RE.test(s) || s === '.' || s === '..')) {
    throw new StorageError(
      'INVALID_LOCATION',
      `invalid key prefix in ${location}: use '/'-separated parts of A-Z, a-z, 0-9, '.', '_' and '-'`,
    );
  }
  return { bucket, prefix: segments.join('/') };
}

function parseS3(location: string, env: Env): ParsedLocation {
  const { bucket, prefix } = parseS3Address(location);
  const accessKey = fromEnv(env, 'VAULTLINE_S3_ACCESS_KEY', 'AWS_ACCESS_KEY_ID');
  if (accessKey === undefined) {
    throw new StorageError(
      'INVALID_LOCATION',
      `no S3 access key for ${location}: set VAULTLINE_S3_ACCESS_KEY (or AWS_ACCESS_KEY_ID)`,
    );
  }
  const secretKey = fromEnv(env, 'VAULTLINE_S3_SECRET_KEY', 'AWS_SECRET_ACCESS_KEY');
  if (secretKey === undefined) {
    throw new StorageError(
      'INVALID_LOCATION',
      `no S3 secret key for ${location}: set VAULTLINE_S3_SECRET_KEY (or AWS_SECRET_ACCESS_KEY)`,
    );
  }
  return {
    kind: 's3',
    options: {
      endpoint: fromEnv(env, 'VAULTLINE_S3_ENDPOINT') ?? DEFAULT_S3_ENDPOINT,
      bucket,
      prefix,
      accessKey,
      secretKey,
      region: fromEnv(env, 'VAULTLINE_S3_REGION') ?? DEFAULT_S3_REGION,
    },
  };
}

/**
 * Turn a user-supplied repository location into backend settings, without touching the target:
 * - `/abs/path`, `relative/path` (against `cwd`), `file:///abs/path` → local or mounted folder;
 * - `s3://bucket[/prefix]` → S3, configured from `VAULTLINE_S3_*` (or `AWS_*` credentials) in `env`.
 */
export function parseLocation(location: string, env: Env, cwd: string = process.cwd()): ParsedLocation {
  if (location.trim() === '') {
    throw new StorageError('INVALID_LOCATION', 'repository location is empty');
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(location)?.[1]?.toLowerCase();
  if (scheme === 's3') {
    if (location.slice(3, 5) !== '//') {
      throw new StorageError('INVALID_LOCATION', `invalid S3 location ${location}: use s3://bucket[/prefix]`);
    }
    return parseS3(location, env);
  }
  if (scheme === 'file') {
    let root: string;
    try {
      root = fileURLToPath(new URL(location));
    } catch (err) {
      throw new StorageError(
        'INVALID_LOCATION',
        `invalid file location ${location}: ${err instanceof Error ? err.message : String(err)}`,
        {
          cause: err,
        },
      );
    }
    return { kind: 'fs', root };
  }
  if (scheme !== undefined && location.slice(scheme.length + 1, scheme.length + 3) === '//') {
    throw new StorageError(
      'INVALID_LOCATION',
      `unsupported location scheme ${scheme}:// (use a path, file:// or s3://bucket[/prefix])`,
    );
  }
  // Anything else is a path; a name like `backups:2024` is a relative directory, not a scheme.
  return { kind: 'fs', root: path.resolve(cwd, location) };
}

/** Parse `location` and open (optionally creating) the backend it names. */
export async function openBackend(
  location: string,
  env: Env,
  opts: OpenBackendOptions = {},
): Promise<StorageBackend> {
  const parsed = parseLocation(location, env);
  if (parsed.kind === 'fs') return FsBackend.open(parsed.root, { create: opts.create ?? false });
  const options: S3Options = {
    ...parsed.options,
    ...(opts.retry ? { retry: opts.retry } : {}),
    ...(opts.agent ? { agent: opts.agent } : {}),
  };
  return S3Backend.open(options, { create: opts.create ?? false });
}

/** An S3 target's settings as typed values (the fleet keeps them per target, not in an environment). */
export interface S3Settings {
  /** Default: AWS (`DEFAULT_S3_ENDPOINT`). */
  endpoint?: string | null;
  /** Default: `DEFAULT_S3_REGION`. */
  region?: string | null;
  accessKey: string;
  secretKey: string;
}

/**
 * Opens the `s3://bucket[/prefix]` repository `location` with `settings`, never reading the
 * process environment: one process serves targets with different endpoints and credentials.
 */
export async function openS3Backend(
  location: string,
  settings: S3Settings,
  opts: OpenBackendOptions = {},
): Promise<StorageBackend> {
  if (!/^s3:\/\//i.test(location)) {
    throw new StorageError('INVALID_LOCATION', `invalid S3 location ${location}: use s3://bucket[/prefix]`);
  }
  const { bucket, prefix } = parseS3Address(location);
  const options: S3Options = {
    endpoint: settings.endpoint || DEFAULT_S3_ENDPOINT,
    region: settings.region || DEFAULT_S3_REGION,
    bucket,
    prefix,
    accessKey: settings.accessKey,
    secretKey: settings.secretKey,
    ...(opts.retry ? { retry: opts.retry } : {}),
    ...(opts.agent ? { agent: opts.agent } : {}),
  };
  return S3Backend.open(options, { create: opts.create ?? false });
}
