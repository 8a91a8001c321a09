/**
 * A whole fleet on one machine, as real processes: the API, N workers and the report service,
 * each started from its built entry point (`dist/apps/<role>/src/main.js`) with its own
 * environment, exactly as a process manager or a container would start it. Used by the
 * Quickstart's main command (scripts/demo.ts), the end-to-end tests (test/e2e) and
 * `npm run bench:fleet` — so all three exercise the same wiring users run.
 *
 * Each process logs (pino JSON) to its own file under `logDir`; a process that dies before it is
 * healthy fails `start` with the tail of its log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

import { Client } from 'pg';

import { applyMigrations, withDatabase } from '@vaultline/db';

/** dist/scripts → the repository root. */
export const REPO_ROOT = resolve(__dirname, '..', '..');
const entry = (app: string, file = 'main.js'): string => join(REPO_ROOT, 'dist', 'apps', app, 'src', file);

export type Role = 'api' | 'worker' | 'report';

/**
 * Drops and recreates the database of `url` and applies the checked-in migrations (what
 * `npm run db:migrate` does on a new database). For the demo and the benchmark, which own theirs.
 */
export async function freshDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`database name must be [a-z0-9_]+: ${name}`);
  const admin = new Client({ connectionString: withDatabase(url, 'postgres') });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable (${String(err)}); start it with ` +
        'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
    );
  }
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  await applyMigrations(url, join(REPO_ROOT, 'prisma', 'migrations'));
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** One running process of the fleet. */
export class FleetProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitedNow = false;

  constructor(
    readonly name: string,
    readonly role: Role,
    readonly child: ChildProcess,
    /** HTTP port: the API's, or the health/metrics listener of a worker or the report service. */
    readonly port: number,
    readonly logFile: string,
  ) {
    this.exited = new Promise((ok) => {
      child.once('exit', (code, signal) => {
        this.exitedNow = true;
        ok({ code, signal });
      });
    });
  }

  get running(): boolean {
    return !this.exitedNow;
  }

  get healthUrl(): string {
    return `http://127.0.0.1:${this.port}/health`;
  }

  /** Resolves once /health answers 200; rejects with the log's tail if the process exits first. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(
          `${this.name} exited before it was healthy; its log ends with:\n${tail(this.logFile)}`,
        );
      }
      try {
        const res = await fetch(this.healthUrl, { signal: AbortSignal.timeout(2_000) });
        await res.body?.cancel();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(
      `${this.name} not healthy within ${timeoutMs} ms; its log ends with:\n${tail(this.logFile)}`,
    );
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 30_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  log(): string {
    return tail(this.logFile, 200);
  }
}

export interface FleetOptions {
  databaseUrl: string;
  redisUrl: string;
  /** Hex server secret shared by every process (default: a new random one). */
  serverSecret?: string;
  /** BullMQ key prefix (default: a unique one, so fleets sharing a Redis never meet). */
  queuePrefix?: string;
  /** Where each process writes its log. */
  logDir: string;
  workers?: number;
  logLevel?: string;
  /** Extra variables for every process (e.g. JOB_LOCK_MS, BACKUP_RETRY_DELAY_MS, VAULTLINE_WEBHOOK_URL). */
  env?: Record<string, string>;
  /** Extra variables per role. */
  roleEnv?: Partial<Record<Role, Record<string, string>>>;
}

export class LocalFleet {
  readonly processes: FleetProcess[] = [];
  private counter = 0;

  private constructor(
    readonly options: Required<Pick<FleetOptions, 'serverSecret' | 'queuePrefix' | 'logLevel'>> &
      FleetOptions,
  ) {}

  /** Starts the report service, the workers and the API, and waits until each is healthy. */
  static async start(options: FleetOptions): Promise<LocalFleet> {
    mkdirSync(options.logDir, { recursive: true });
    const fleet = new LocalFleet({
      ...options,
      serverSecret: options.serverSecret ?? randomBytes(32).toString('hex'),
      queuePrefix: options.queuePrefix ?? `vlfleet-${process.pid}-${randomBytes(3).toString('hex')}`,
      logLevel: options.logLevel ?? 'info',
    });
    try {
      await Promise.all([
        fleet.spawn('report'),
        ...Array.from({ length: options.workers ?? 1 }, () => fleet.spawn('worker')),
        fleet.spawn('api'),
      ]);
    } catch (err) {
      await fleet.stop();
      throw err;
    }
    return fleet;
  }

  get api(): FleetProcess {
    const api = this.processes.find((p) => p.role === 'api' && p.running);
    if (!api) throw new Error('the API is not running');
    return api;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.api.port}`;
  }

  workers(): FleetProcess[] {
    return this.processes.filter((p) => p.role === 'worker' && p.running);
  }

  /** The environment every process of this fleet gets (config is validated by each at start). */
  env(role: Role, port: number): NodeJS.ProcessEnv {
    const o = this.options;
    return {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      DATABASE_URL: o.databaseUrl,
      REDIS_URL: o.redisUrl,
      VAULTLINE_SERVER_SECRET: o.serverSecret,
      QUEUE_PREFIX: o.queuePrefix,
      LOG_LEVEL: o.logLevel,
      ...(role === 'api' ? { HTTP_PORT: String(port) } : { METRICS_PORT: String(port) }),
      ...o.env,
      ...o.roleEnv?.[role],
    };
  }

  /**
   * Starts one more process of `role` and waits until it is healthy. `env` adds variables of this
   * process only (a worker's NODE_NAME). `hide` lists folders the process must not see: it runs
   * in a mount namespace of its own (unshare, root only) with an empty tmpfs over each, as a
   * worker on another node would not see this node's data.
   */
  async spawn(
    role: Role,
    opts: { env?: Record<string, string>; hide?: readonly string[] } = {},
  ): Promise<FleetProcess> {
    const port = await freePort();
    const name = `${role}-${++this.counter}`;
    const logFile = join(this.options.logDir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const argv = [process.execPath, entry(role)];
    const hide = opts.hide ?? [];
    const [cmd, ...args] = hide.length
      ? [
          'unshare',
          '--mount',
          '--propagation',
          'private',
          '--',
          'sh',
          '-c',
          // Folders as positional parameters ("$@"), never spliced into the script.
          'node="$0"; main="$1"; shift; ' +
            'for d in "$@"; do mount -t tmpfs -o size=1m vaultline-hidden "$d" || exit 97; done; ' +
            'exec "$node" "$main"',
          ...argv,
          ...hide,
        ]
      : argv;
    const child = spawn(cmd!, args, {
      cwd: REPO_ROOT,
      env: { ...this.env(role, port), ...opts.env },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const proc = new FleetProcess(name, role, child, port, logFile);
    this.processes.push(proc);
    await proc.waitHealthy();
    return proc;
  }

  /** Creates an API token with the API's own command (`create-token`), as an operator would. */
  async createToken(name = 'fleet'): Promise<string> {
    const child = spawn(process.execPath, [entry('api', 'create-token.js'), name], {
      cwd: REPO_ROOT,
      env: this.env('api', this.api.port),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((ok) => child.once('exit', ok));
    if (code !== 0) throw new Error(`create-token failed (${code}): ${err.trim()}`);
    return out.trim();
  }

  /** Creates a web UI user with the API's own command (`create-user`); the password goes by environment, never argv. */
  async createUser(name: string, password: string): Promise<void> {
    const child = spawn(process.execPath, [entry('api', 'create-user.js'), name], {
      cwd: REPO_ROOT,
      env: { ...this.env('api', this.api.port), VAULTLINE_USER_PASSWORD: password },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((ok) => child.once('exit', ok));
    if (code !== 0) throw new Error(`create-user failed (${code}): ${err.trim()}`);
  }

  /** SIGTERM to every process (API first, so nothing new is queued), waiting for each to exit. */
  async stop(): Promise<void> {
    const order: Role[] = ['api', 'worker', 'report'];
    for (const role of order) {
      await Promise.all(this.processes.filter((p) => p.role === role).map((p) => p.stop()));
    }
  }
}

/** A small JSON client of the HTTP API with a bearer token. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string,
  ) {}

  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: T }> {
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : null) as T };
  }

  /** Like `call`, but throws with the API's error unless the status is one of `ok`. */
  async expect<T = unknown>(method: string, path: string, body: unknown, ...ok: number[]): Promise<T> {
    const { status, json } = await this.call<T>(method, path, body);
    if (!ok.includes(status)) {
      throw new Error(`${method} ${path} → ${status}: ${JSON.stringify(json)}`);
    }
    return json;
  }

  /** Polls `GET path` until `done(json)` holds; returns that json. */
  async waitFor<T>(path: string, done: (json: T) => boolean, timeoutMs = 120_000, everyMs = 200): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      const { status, json } = await this.call<T>('GET', path);
      last = json;
      if (status === 200 && done(json)) return json;
      await sleep(everyMs);
    }
    throw new Error(
      `GET ${path}: condition not met within ${timeoutMs} ms; last answer ${JSON.stringify(last)}`,
    );
  }
}
