/**
 * The fleet's configuration: read from the environment once, at startup, by `loadConfig`, into a
 * typed, frozen object that is passed to whatever needs it. Nothing else reads `process.env` — so
 * every variable is validated before the first connection is opened, documented in one table
 * (VARIABLES, rendered in docs/configuration.md) and covered by one set of tests.
 *
 * Each process has a role (api, worker, report: one image, role by command). A role reads only the
 * variables listed for it; the others are neither required nor validated.
 */
import { posix, resolve } from 'node:path';

import { z } from 'zod';

import { NODE_LABEL_RE, NODE_NAME_RE } from '@vaultline/contracts';

import { parseCidrList } from './outbound';
import { Secret } from './secret';

export const ROLES = ['api', 'worker', 'report'] as const;

/** The queues a worker process can consume (libs/contracts queues.ts: backup, restore, maintenance). */
export const WORKER_QUEUES = ['backup', 'restore', 'maintenance'] as const;
export type WorkerQueue = (typeof WORKER_QUEUES)[number];
export type Role = (typeof ROLES)[number];

/** pino's levels; 'silent' turns logging off (tests). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The server secret must decode to at least this many bytes (AES-256 / HKDF-SHA256 input). */
export const SERVER_SECRET_MIN_BYTES = 32;

/**
 * How a variable's value may appear in error messages and logs.
 * - `show`: harmless, echoed in errors to help fix them;
 * - `hide`: never shown (the server secret);
 * - `credentials`: a URL whose user:password part is hidden;
 * - `path`: a URL whose path and query are hidden (webhook URLs carry their token there).
 */
type Exposure = 'show' | 'hide' | 'credentials' | 'path';

interface Variable<T> {
  readonly roles: readonly Role[];
  /** The value used when the variable is unset or empty; undefined: required, or optional if `optional`. */
  readonly default?: string;
  readonly optional?: boolean;
  readonly exposure: Exposure;
  readonly description: string;
  /** Parses the raw string; its issue messages are the reasons shown to the operator. */
  readonly schema: z.ZodType<T, string>;
}

/**
 * A URL with one of `protocols` and a host. For PostgreSQL the host may instead be a Unix socket
 * folder given as `?host=/run/postgresql` (what pg and Prisma accept for local databases).
 */
function url(protocols: readonly string[], what: string, opts: { socketHost?: boolean } = {}) {
  return z.string().refine(
    (s) => {
      try {
        const u = new URL(s);
        const socket = opts.socketHost === true && (u.searchParams.get('host') ?? '').startsWith('/');
        return protocols.includes(u.protocol) && (u.hostname !== '' || socket);
      } catch {
        return false;
      }
    },
    { error: `must be ${what}` },
  );
}

function wholeNumber(min: number, max: number, what = `a whole number from ${min} to ${max}`) {
  return z
    .string()
    .regex(/^\d{1,10}$/, { error: `must be ${what}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { error: `must be ${what}` })
        .max(max, { error: `must be ${what}` }),
    );
}

/** A comma-separated CIDR list, kept as text (OutboundPolicy parses it again; it cannot fail then). */
const cidrs = z.string().superRefine((s, ctx) => {
  try {
    parseCidrList(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `must list CIDRs: ${(err as Error).message}` });
  }
});

const port = wholeNumber(1, 65535, 'a TCP port from 1 to 65535');

/**
 * The server secret: hex (tried first) or base64 / base64url, at least 32 bytes once decoded.
 * Surrounding whitespace is ignored (a Kubernetes Secret made from a file often ends in a newline).
 * A value with very few distinct bytes ('00…', 'deadbeef' × 8) is refused as a placeholder: 32
 * random bytes have about 30 distinct values, and fewer than 16 essentially never happens.
 */
const serverSecret = z.string().transform((raw, ctx): Secret => {
  const s = raw.trim();
  let bytes: Buffer | null = null;
  if (/^(?:[0-9a-fA-F]{2})+$/.test(s)) bytes = Buffer.from(s, 'hex');
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(s))
    bytes = Buffer.from(s, s.includes('-') || s.includes('_') ? 'base64url' : 'base64');
  const fail = (message: string): never => {
    ctx.issues.push({ code: 'custom', input: '[redacted]', message });
    return z.NEVER;
  };
  if (bytes === null) return fail('must be hex or base64 (generate one with `openssl rand -hex 32`)');
  if (bytes.length < SERVER_SECRET_MIN_BYTES) {
    return fail(
      `must decode to at least ${SERVER_SECRET_MIN_BYTES} bytes, got ${bytes.length} (generate one with \`openssl rand -hex 32\`)`,
    );
  }
  if (new Set(bytes).size < 16)
    return fail('looks like a placeholder, not random bytes (generate one with `openssl rand -hex 32`)');
  return new Secret(bytes);
});

/**
 * Every variable the fleet reads. docs/configuration.md documents the same table (a test checks
 * that it lists every variable with its default and roles).
 */
export const VARIABLES = {
  DATABASE_URL: {
    roles: ROLES,
    default: 'postgresql://postgres@127.0.0.1:5432/vaultline',
    exposure: 'credentials',
    description:
      'PostgreSQL connection URL of the catalog (plans, services, targets, runs, snapshots, reports).',
    schema: url(['postgres:', 'postgresql:'], 'a postgresql:// URL', { socketHost: true }),
  },
  REDIS_URL: {
    roles: ROLES,
    default: 'redis://127.0.0.1:6379',
    exposure: 'credentials',
    description:
      'Redis connection URL: BullMQ queues and the live events (@nestjs/microservices Redis transport).',
    schema: url(['redis:', 'rediss:'], 'a redis:// or rediss:// URL'),
  },
  VAULTLINE_SERVER_SECRET: {
    roles: ROLES,
    exposure: 'hide',
    description:
      'At least 32 random bytes, hex or base64. Keys derived from it encrypt writer keys and target credentials ' +
      'at rest and the password envelope of restore jobs. Losing it makes those records unreadable.',
    schema: serverSecret,
  },
  HTTP_PORT: {
    roles: ['api'],
    default: '3000',
    exposure: 'show',
    description: 'Port of the HTTP API (also serves /health and /metrics).',
    schema: port,
  },
  METRICS_PORT: {
    roles: ['worker', 'report'],
    default: '9464',
    exposure: 'show',
    description: 'Port of the small listener of processes without an HTTP API: /metrics and /health.',
    schema: port,
  },
  WORKER_CONCURRENCY: {
    roles: ['worker'],
    default: '2',
    exposure: 'show',
    description: 'Jobs one worker process runs at once (each backup also uses the engine worker threads).',
    schema: wholeNumber(1, 64),
  },
  WORKER_QUEUES: {
    roles: ['worker'],
    default: 'backup,restore,maintenance',
    exposure: 'show',
    description:
      'Comma-separated queues this worker consumes (backup, restore, maintenance). Split them to give ' +
      "restores their own Deployment with a writable mount of the services' data while backups read it read-only.",
    schema: z
      .string()
      .transform((s) => [
        ...new Set(
          s
            .split(',')
            .map((q) => q.trim())
            .filter(Boolean),
        ),
      ])
      .pipe(
        z
          .array(z.enum(WORKER_QUEUES, { error: `must list only ${WORKER_QUEUES.join(', ')}` }))
          .min(1, { error: 'must list at least one queue' }),
      ),
  },
  JOB_LOCK_MS: {
    roles: ['worker'],
    default: '30000',
    exposure: 'show',
    description:
      "How long a worker's hold on a running job lasts without renewal (BullMQ lockDuration; renewed at half " +
      'of it). A job whose worker died is handed to another worker after about this long.',
    schema: wholeNumber(1_000, 600_000),
  },
  NODE_NAME: {
    roles: ['worker'],
    optional: true,
    exposure: 'show',
    description:
      "The node this worker runs on (Kubernetes: the downward API's spec.nodeName). Set, the worker also " +
      'takes the backups and restores of services placed on that node (queues backup@<node>, restore@<node>).',
    schema: z.string().regex(NODE_NAME_RE, {
      error: 'must be a node name (lowercase letters, digits, - and ., at most 253 characters)',
    }),
  },
  NODE_LABELS: {
    roles: ['worker'],
    optional: true,
    exposure: 'show',
    description:
      'Comma-separated key=value labels of the node this worker runs on (Kubernetes cannot hand node labels ' +
      'to a pod: set them per DaemonSet). The worker also takes the jobs of services placed on one of them.',
    schema: z
      .string()
      .transform((s) => [
        ...new Set(
          s
            .split(',')
            .map((l) => l.trim())
            .filter(Boolean),
        ),
      ])
      .pipe(z.array(z.string().regex(NODE_LABEL_RE, { error: 'must list node labels key=value' })).min(1)),
  },
  NODE_QUEUES_ONLY: {
    roles: ['worker'],
    default: 'false',
    exposure: 'show',
    description:
      "true: with NODE_NAME, take only this node's jobs (backup@<node>, restore@<node>), not the shared " +
      "queues' — for node workers (a DaemonSet) that do not mount the shared volume. Needs NODE_NAME or NODE_LABELS.",
    schema: z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true'),
  },
  HOOK_UID: {
    roles: ['worker'],
    optional: true,
    exposure: 'show',
    description:
      'Numeric uid that command hooks run as. Unset: a worker running as root runs them as 65534 (nobody), ' +
      'any other worker as itself. Set 0 only to knowingly run hooks as root.',
    schema: wholeNumber(0, 2_147_483_647, 'a numeric uid from 0 to 2147483647'),
  },
  HOOK_GID: {
    roles: ['worker'],
    optional: true,
    exposure: 'show',
    description:
      'Numeric gid that command hooks run as. Unset: HOOK_UID if that is set, otherwise as for HOOK_UID (65534 under root).',
    schema: wholeNumber(0, 2_147_483_647, 'a numeric gid from 0 to 2147483647'),
  },
  BACKUP_RETRY_DELAY_MS: {
    roles: ['api'],
    default: '30000',
    exposure: 'show',
    description:
      'First delay before a backup that failed for a transient reason (target unreachable, repository locked) ' +
      'is tried again; it doubles with each of the 4 attempts.',
    schema: wholeNumber(100, 3_600_000),
  },
  LOG_LEVEL: {
    roles: ROLES,
    default: 'info',
    exposure: 'show',
    description: `Log level: ${LOG_LEVELS.join(', ')}.`,
    schema: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
  },
  OUTBOUND_ALLOW_CIDRS: {
    roles: ROLES,
    optional: true,
    exposure: 'show',
    description:
      'Comma-separated IPv4/IPv6 CIDRs the fleet may always connect to (hooks, webhook, S3 endpoints), even ' +
      'inside OUTBOUND_DENY_CIDRS or the cloud metadata addresses, which are otherwise always denied.',
    schema: cidrs,
  },
  OUTBOUND_DENY_CIDRS: {
    roles: ROLES,
    optional: true,
    exposure: 'show',
    description:
      'Comma-separated IPv4/IPv6 CIDRs the fleet must not connect to, besides the metadata addresses. ' +
      'Empty: loopback and private ranges are allowed (a LAN install); list them to deny them.',
    schema: cidrs,
  },
  VAULTLINE_WEBHOOK_URL: {
    roles: ['report'],
    optional: true,
    exposure: 'path',
    description:
      'Optional http(s) URL that receives every backup report as JSON (POST). Unset: no notification.',
    schema: url(['http:', 'https:'], 'an http:// or https:// URL'),
  },
  NODE_WORKER_GRACE_SECONDS: {
    roles: ['report'],
    default: '300',
    exposure: 'show',
    description:
      "How long a job may wait on a node's queue (backup@<node>, restore@<node>) while no worker runs there " +
      'before its run and the restore say NODE_UNAVAILABLE; the job still runs when a worker appears.',
    schema: wholeNumber(1, 86_400),
  },
  NODE_JOB_DEADLINE_HOURS: {
    roles: ['report'],
    default: '24',
    exposure: 'show',
    description:
      "A run's deadline for node-placed jobs: one still waiting this long after it was queued with no " +
      'worker on its node is given up, and its backup or restore fails with NODE_UNAVAILABLE.',
    schema: wholeNumber(1, 8_760),
  },
  VAULTLINE_DEFAULT_TARGET_DIR: {
    roles: ['api'],
    default: './.vaultline/targets',
    exposure: 'show',
    description:
      'Folder of the filesystem target the quickstart registers; resolved to an absolute path against ' +
      'the working directory, because workers started elsewhere must find the same folder.',
    schema: z
      .string()
      .refine((s) => !s.includes('\0'), { error: 'must be a path' })
      .transform((s) => resolve(s)),
  },
  VAULTLINE_RESTORE_ROOTS: {
    roles: ['api'],
    default: '/srv,/mnt,/media,/tmp,/var/tmp',
    exposure: 'show',
    description:
      "Comma-separated absolute folders a restore may write into besides the service's own data folder " +
      '(always allowed). A destination elsewhere (/etc, /usr, /root, …) is refused, so a mistyped or hostile ' +
      'request cannot overwrite the host.',
    schema: z
      .string()
      .transform((s) => s.split(',').map((p) => p.trim()))
      .check((ctx) => {
        for (const p of ctx.value) {
          if (!posix.isAbsolute(p) || p.includes('\0') || p.split('/').includes('..')) {
            ctx.issues.push({
              code: 'custom',
              input: p,
              message: `must be comma-separated absolute paths without '..' (got ${JSON.stringify(p)})`,
            });
            return;
          }
        }
      })
      .transform((roots) => roots.map((p) => posix.normalize(p).replace(/(.)\/$/, '$1'))),
  },
  VAULTLINE_SESSION_IDLE_MINUTES: {
    roles: ['api'],
    default: '720',
    exposure: 'show',
    description:
      'A web UI session that has made no request for this many minutes has ended (sign in again); 1-525600.',
    schema: wholeNumber(1, 525_600),
  },
  VAULTLINE_SESSION_MAX_HOURS: {
    roles: ['api'],
    default: '168',
    exposure: 'show',
    description: 'A web UI session ends this many hours after sign-in, however active it is; 1-8760.',
    schema: wholeNumber(1, 8_760),
  },
  VAULTLINE_TRUST_PROXY: {
    roles: ['api'],
    default: '0',
    exposure: 'show',
    description:
      '1 when the API is reached only through a reverse proxy that sets X-Forwarded-Proto and X-Forwarded-For: ' +
      'the session cookie is then Secure when X-Forwarded-Proto is https, and sign-in attempts are counted per ' +
      "the proxy's X-Forwarded-For client address. 0: both headers are ignored.",
    schema: z.enum(['0', '1'], { error: 'must be 0 or 1' }).transform((v) => v === '1'),
  },
  VAULTLINE_LOGIN_FAILURES_PER_MINUTE: {
    roles: ['api'],
    default: '5',
    exposure: 'show',
    description:
      'Failed sign-ins allowed per client address and per user name within a minute; more are refused (429) ' +
      'until the minute is over. Counted in Redis, so shared by every API process; 1-1000.',
    schema: wholeNumber(1, 1_000),
  },
  VAULTLINE_USER_KDF_MEMORY_KIB: {
    roles: ['api'],
    default: '65536',
    exposure: 'show',
    description:
      'Argon2id memory (KiB) of the password hashes create-user makes (3 passes). Existing hashes keep the cost ' +
      'they were made with; lower it only for tests; 1024-4194304.',
    schema: wholeNumber(1_024, 4_194_304),
  },
  QUEUE_PREFIX: {
    roles: ROLES,
    default: 'vaultline',
    exposure: 'show',
    description:
      'Prefix of every BullMQ key in Redis. All processes of one fleet must agree; changing it orphans ' +
      'waiting jobs and job schedulers (see libs/contracts/src/queues.ts). Use {braces} on Redis Cluster.',
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_.:{}-]{1,64}$/, { error: 'must be 1-64 letters, digits or _ . : { } -' }),
  },
} as const satisfies Record<string, Variable<unknown>>;

export type VariableName = keyof typeof VARIABLES;
type Value<N extends VariableName> =
  | z.output<(typeof VARIABLES)[N]['schema']>
  | ((typeof VARIABLES)[N] extends { optional: true } ? null : never);

interface BaseConfig {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly serverSecret: Secret;
  readonly logLevel: LogLevel;
  readonly queuePrefix: string;
  readonly outboundAllowCidrs: string;
  readonly outboundDenyCidrs: string;
}
export interface ApiConfig extends BaseConfig {
  readonly role: 'api';
  readonly httpPort: number;
  readonly defaultTargetDir: string;
  readonly backupRetryDelayMs: number;
  /** Normalised absolute folders restores may write into, besides the service's own data folder. */
  readonly restoreRoots: readonly string[];
  readonly sessionIdleMinutes: number;
  readonly sessionMaxHours: number;
  /** Believe X-Forwarded-Proto / X-Forwarded-For (the API is only reachable through a proxy). */
  readonly trustProxy: boolean;
  readonly loginFailuresPerMinute: number;
  /** Argon2id memory of new user password hashes. */
  readonly userKdfMemoryKib: number;
}
export interface WorkerConfig extends BaseConfig {
  readonly role: 'worker';
  readonly metricsPort: number;
  readonly workerConcurrency: number;
  readonly workerQueues: readonly WorkerQueue[];
  /** NODE_NAME: this worker's node; its backup/restore workers also consume that node's queues. */
  readonly nodeName: string | null;
  /** NODE_LABELS: labels of the node; its workers also consume `<queue>@<key>=<value>`. */
  readonly nodeLabels: readonly string[];
  /** NODE_QUEUES_ONLY: consume only the node's backup/restore queues, not the shared ones. */
  readonly nodeQueuesOnly: boolean;
  readonly jobLockMs: number;
  readonly hookUid: number | null;
  readonly hookGid: number | null;
}
export interface ReportConfig extends BaseConfig {
  readonly role: 'report';
  readonly metricsPort: number;
  readonly webhookUrl: string | null;
  readonly nodeWorkerGraceSeconds: number;
  readonly nodeJobDeadlineHours: number;
}
export type Config = ApiConfig | WorkerConfig | ReportConfig;

/** Which variable each config key comes from (redaction and docs follow the variable). */
const SOURCES = {
  databaseUrl: 'DATABASE_URL',
  redisUrl: 'REDIS_URL',
  serverSecret: 'VAULTLINE_SERVER_SECRET',
  logLevel: 'LOG_LEVEL',
  queuePrefix: 'QUEUE_PREFIX',
  outboundAllowCidrs: 'OUTBOUND_ALLOW_CIDRS',
  outboundDenyCidrs: 'OUTBOUND_DENY_CIDRS',
  httpPort: 'HTTP_PORT',
  defaultTargetDir: 'VAULTLINE_DEFAULT_TARGET_DIR',
  restoreRoots: 'VAULTLINE_RESTORE_ROOTS',
  sessionIdleMinutes: 'VAULTLINE_SESSION_IDLE_MINUTES',
  sessionMaxHours: 'VAULTLINE_SESSION_MAX_HOURS',
  trustProxy: 'VAULTLINE_TRUST_PROXY',
  loginFailuresPerMinute: 'VAULTLINE_LOGIN_FAILURES_PER_MINUTE',
  userKdfMemoryKib: 'VAULTLINE_USER_KDF_MEMORY_KIB',
  metricsPort: 'METRICS_PORT',
  workerConcurrency: 'WORKER_CONCURRENCY',
  jobLockMs: 'JOB_LOCK_MS',
  workerQueues: 'WORKER_QUEUES',
  nodeName: 'NODE_NAME',
  nodeQueuesOnly: 'NODE_QUEUES_ONLY',
  nodeLabels: 'NODE_LABELS',
  backupRetryDelayMs: 'BACKUP_RETRY_DELAY_MS',
  webhookUrl: 'VAULTLINE_WEBHOOK_URL',
  nodeWorkerGraceSeconds: 'NODE_WORKER_GRACE_SECONDS',
  nodeJobDeadlineHours: 'NODE_JOB_DEADLINE_HOURS',
  hookUid: 'HOOK_UID',
  hookGid: 'HOOK_GID',
} as const satisfies Record<
  Exclude<keyof ApiConfig | keyof WorkerConfig | keyof ReportConfig, 'role'>,
  VariableName
>;

export interface ConfigProblem {
  variable: string;
  reason: string;
}

/** Thrown by loadConfig with every problem at once, so one restart fixes them all. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'INVALID_CONFIG';
  constructor(
    readonly role: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(
      `invalid configuration for the ${role} (see docs/configuration.md): ` +
        problems.map((p) => `${p.variable} ${p.reason}`).join('; '),
    );
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Validates the variables `role` reads and returns its frozen config. Throws ConfigError listing
 * every missing or invalid variable with the reason; values are echoed only for harmless
 * variables, never for the secret or URLs that may carry credentials. An empty value counts as
 * unset (`FOO=` in a compose file), so the default applies.
 */
export function loadConfig(env: Env, role: 'api'): ApiConfig;
export function loadConfig(env: Env, role: 'worker'): WorkerConfig;
export function loadConfig(env: Env, role: 'report'): ReportConfig;
export function loadConfig(env: Env, role: Role): Config;
export function loadConfig(env: Env, role: Role): Config {
  if (!(ROLES as readonly string[]).includes(role)) {
    throw new ConfigError(String(role), [{ variable: 'role', reason: `must be one of ${ROLES.join(', ')}` }]);
  }
  const problems: ConfigProblem[] = [];
  const values = new Map<VariableName, unknown>();
  for (const name of Object.keys(VARIABLES) as VariableName[]) {
    const v: Variable<unknown> = VARIABLES[name];
    if (!v.roles.includes(role)) continue;
    const given = env[name];
    const raw = given === undefined || given === '' ? v.default : given;
    if (raw === undefined) {
      if (v.optional) values.set(name, null);
      else problems.push({ variable: name, reason: 'is required' });
      continue;
    }
    const r = v.schema.safeParse(raw);
    if (r.success) {
      values.set(name, r.data);
    } else {
      const reasons = [...new Set(r.error.issues.map((i) => i.message))].join(', ');
      const shown =
        v.exposure === 'show'
          ? ` (got ${JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw)})`
          : '';
      problems.push({ variable: name, reason: `${reasons}${shown}` });
    }
  }
  // The one rule across variables: a worker told to take only its node's jobs must have a node.
  if (
    values.get('NODE_QUEUES_ONLY') === true &&
    values.get('NODE_NAME') === null &&
    values.get('NODE_LABELS') === null
  ) {
    problems.push({
      variable: 'NODE_QUEUES_ONLY',
      reason: 'needs NODE_NAME or NODE_LABELS (the node whose jobs to take)',
    });
  }
  if (problems.length) throw new ConfigError(role, problems);

  // Every variable of the role parsed; `get` only restores the type the Map erased.
  const get = <N extends VariableName>(name: N): Value<N> => values.get(name) as Value<N>;
  const base: BaseConfig = {
    databaseUrl: get('DATABASE_URL'),
    redisUrl: get('REDIS_URL'),
    serverSecret: get('VAULTLINE_SERVER_SECRET'),
    logLevel: get('LOG_LEVEL'),
    queuePrefix: get('QUEUE_PREFIX'),
    outboundAllowCidrs: get('OUTBOUND_ALLOW_CIDRS') ?? '',
    outboundDenyCidrs: get('OUTBOUND_DENY_CIDRS') ?? '',
  };
  switch (role) {
    case 'api':
      return Object.freeze({
        role,
        ...base,
        httpPort: get('HTTP_PORT'),
        defaultTargetDir: get('VAULTLINE_DEFAULT_TARGET_DIR'),
        backupRetryDelayMs: get('BACKUP_RETRY_DELAY_MS'),
        restoreRoots: get('VAULTLINE_RESTORE_ROOTS'),
        sessionIdleMinutes: get('VAULTLINE_SESSION_IDLE_MINUTES'),
        sessionMaxHours: get('VAULTLINE_SESSION_MAX_HOURS'),
        trustProxy: get('VAULTLINE_TRUST_PROXY'),
        loginFailuresPerMinute: get('VAULTLINE_LOGIN_FAILURES_PER_MINUTE'),
        userKdfMemoryKib: get('VAULTLINE_USER_KDF_MEMORY_KIB'),
      });
    case 'worker':
      return Object.freeze({
        role,
        ...base,
        metricsPort: get('METRICS_PORT'),
        workerConcurrency: get('WORKER_CONCURRENCY'),
        jobLockMs: get('JOB_LOCK_MS'),
        workerQueues: Object.freeze(get('WORKER_QUEUES')),
        nodeName: get('NODE_NAME'),
        nodeQueuesOnly: get('NODE_QUEUES_ONLY'),
        nodeLabels: Object.freeze(get('NODE_LABELS') ?? []),
        hookUid: get('HOOK_UID'),
        hookGid: get('HOOK_GID'),
      });
    case 'report':
      return Object.freeze({
        role,
        ...base,
        metricsPort: get('METRICS_PORT'),
        webhookUrl: get('VAULTLINE_WEBHOOK_URL'),
        nodeWorkerGraceSeconds: get('NODE_WORKER_GRACE_SECONDS'),
        nodeJobDeadlineHours: get('NODE_JOB_DEADLINE_HOURS'),
      });
  }
}

function redactUrl(value: string, exposure: 'credentials' | 'path'): string {
  const u = new URL(value);
  if (exposure === 'path') return u.pathname === '/' && !u.search ? u.origin : `${u.origin}/[redacted]`;
  if (u.password) u.password = '[redacted]';
  return u.toString();
}

/**
 * The config as a plain object to log at startup: the server secret is replaced, URL passwords are
 * hidden and the webhook URL is cut to its origin (its path is usually the token).
 */
export function redactedConfig(config: Config): Readonly<Record<string, string | number | boolean | null>> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const [key, value] of Object.entries(config) as [string, unknown][]) {
    const exposure: Exposure =
      key === 'role' ? 'show' : VARIABLES[SOURCES[key as keyof typeof SOURCES]].exposure;
    if (value === null || typeof value === 'number' || typeof value === 'boolean') out[key] = value;
    // A list of shown values (restore roots) is logged as it was given: comma-separated.
    else if (exposure === 'show' && Array.isArray(value) && value.every((v) => typeof v === 'string'))
      out[key] = value.join(',');
    else if (exposure === 'hide' || typeof value !== 'string') out[key] = '[redacted]';
    else if (exposure === 'show') out[key] = value;
    else out[key] = redactUrl(value, exposure);
  }
  return Object.freeze(out);
}
