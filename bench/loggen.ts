/**
 * Deterministic, realistic-looking log text for the benchmark: application logs, nginx access
 * logs, job-worker logs, PostgreSQL logs, JSON audit lines and syslog. Everything is ASCII (one
 * byte per character) and driven by the seeded PRNG, so the same seed always gives the same text.
 */
import type { Rng } from './prng';

export type LogFormat = 'app' | 'nginx' | 'worker' | 'postgres' | 'audit' | 'syslog';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const LEVELS = ['DEBUG', 'INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'WARN', 'WARN', 'ERROR'];
const METHODS = ['GET', 'GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH'];
const STATUSES = [
  200, 200, 200, 200, 200, 200, 201, 204, 301, 304, 304, 400, 401, 403, 404, 404, 409, 500, 502,
];
const RESOURCES = [
  'items',
  'users',
  'orders',
  'invoices',
  'projects',
  'files',
  'sessions',
  'reports',
  'teams',
];
const STATIC = ['js/app', 'js/vendor', 'css/main', 'img/logo', 'img/avatar', 'fonts/inter', 'js/chunk'];
const EXT = ['js', 'js', 'css', 'png', 'svg', 'woff2', 'map'];
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'curl/8.5.0',
  'Prometheus/2.50.1',
  'kube-probe/1.29',
  'python-requests/2.31.0',
];
const REFERERS = [
  '-',
  '-',
  'https://app.example.com/dashboard',
  'https://app.example.com/projects',
  'https://www.google.com/',
];
const APP_MESSAGES = [
  'request completed',
  'request completed',
  'request completed',
  'cache hit',
  'cache miss, loading from database',
  'session refreshed',
  'rate limit check passed',
  'feature flag evaluated',
];
const WARN_MESSAGES = [
  'slow query detected',
  'retrying upstream call',
  'deprecated API version used',
  'cache eviction under memory pressure',
  'token close to expiry',
];
const ERROR_MESSAGES = [
  'upstream timed out',
  'database connection reset by peer',
  'validation failed for payload',
  'permission denied for resource',
  'unhandled exception in handler',
];
const JOBS = ['backup', 'thumbnail', 'email', 'reindex', 'export', 'cleanup', 'sync'];
const STEPS = ['started', 'fetching input', 'processing batch', 'uploading result', 'finished', 'checkpoint'];
const TABLES = ['items', 'users', 'orders', 'events', 'sessions', 'audit_log', 'files'];
const ACTIONS = [
  'file.download',
  'file.upload',
  'login',
  'logout',
  'share.create',
  'share.revoke',
  'settings.update',
];
const UNITS = ['cron.service', 'nginx.service', 'postgresql.service', 'docker.service', 'sshd.service'];

/** Millisecond clock that advances a little per line; formats timestamps without a Date per line. */
export class LogClock {
  private sec = -1;
  private isoPrefix = '';
  private plainPrefix = '';
  private clfPrefix = '';
  private syslogPrefix = '';

  constructor(public ms: number) {}

  tick(rng: Rng, maxStepMs: number): void {
    this.ms += rng.int(0, maxStepMs);
    const s = Math.floor(this.ms / 1000);
    if (s !== this.sec) {
      this.sec = s;
      const d = new Date(s * 1000);
      const iso = d.toISOString();
      this.isoPrefix = iso.slice(0, 19);
      this.plainPrefix = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
      const dd = String(d.getUTCDate()).padStart(2, '0');
      const mon = MONTHS[d.getUTCMonth()]!;
      this.clfPrefix = `${dd}/${mon}/${d.getUTCFullYear()}:${iso.slice(11, 19)} +0000`;
      this.syslogPrefix = `${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${iso.slice(11, 19)}`;
    }
  }

  private frac(): string {
    return String(this.ms % 1000).padStart(3, '0');
  }

  iso(): string {
    return `${this.isoPrefix}.${this.frac()}Z`;
  }

  plain(sep: string): string {
    return `${this.plainPrefix}${sep}${this.frac()}`;
  }

  clf(): string {
    return this.clfPrefix;
  }

  syslog(): string {
    return this.syslogPrefix;
  }
}

function ip(rng: Rng): string {
  return `10.${rng.int(0, 3)}.${rng.int(0, 40)}.${rng.int(2, 254)}`;
}

function latency(rng: Rng): string {
  // Mostly fast, with a long tail.
  const f = rng.float();
  return (f < 0.9 ? f * 40 : 40 + (f - 0.9) * 20000).toFixed(1);
}

/** One line (with trailing newline), or a few lines for error stack traces. */
export function logLine(format: LogFormat, rng: Rng, clock: LogClock): string {
  switch (format) {
    case 'app': {
      clock.tick(rng, 40);
      const level = rng.pick(LEVELS);
      const res = rng.pick(RESOURCES);
      const id = rng.int(1, 99999);
      const method = rng.pick(METHODS);
      const status = level === 'ERROR' ? 500 : rng.pick(STATUSES);
      const msg =
        level === 'ERROR'
          ? rng.pick(ERROR_MESSAGES)
          : level === 'WARN'
            ? rng.pick(WARN_MESSAGES)
            : rng.pick(APP_MESSAGES);
      let line =
        `${clock.iso()} ${level.padEnd(5)} [api-${rng.hex(4)}] req=${rng.hex(16)} user=u_${rng.int(1000, 60000)} ` +
        `method=${method} path=/api/v1/${res}/${id} status=${status} dur_ms=${latency(rng)} ` +
        `bytes=${rng.int(90, 48000)} msg="${msg}"\n`;
      if (level === 'ERROR' && rng.float() < 0.5) {
        line +=
          `Error: ${msg}\n` +
          `    at ${res}Handler (/srv/app/dist/handlers/${res}.js:${rng.int(10, 400)}:${rng.int(5, 40)})\n` +
          `    at Layer.handle (/srv/app/node_modules/express/lib/router/layer.js:95:5)\n` +
          `    at next (/srv/app/node_modules/express/lib/router/route.js:149:13)\n` +
          `    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n`;
      }
      return line;
    }
    case 'nginx': {
      clock.tick(rng, 25);
      const method = rng.pick(METHODS);
      const path =
        rng.float() < 0.5
          ? `/static/${rng.pick(STATIC)}.${rng.hex(8)}.${rng.pick(EXT)}`
          : `/api/v1/${rng.pick(RESOURCES)}/${rng.int(1, 99999)}${rng.float() < 0.3 ? `?page=${rng.int(1, 40)}` : ''}`;
      return (
        `${ip(rng)} - - [${clock.clf()}] "${method} ${path} HTTP/1.1" ${rng.pick(STATUSES)} ${rng.int(0, 250000)} ` +
        `"${rng.pick(REFERERS)}" "${rng.pick(AGENTS)}" rt=${(rng.float() * 0.4).toFixed(3)} ` +
        `uct="0.000" urt="${(rng.float() * 0.4).toFixed(3)}"\n`
      );
    }
    case 'worker': {
      clock.tick(rng, 120);
      const job = rng.pick(JOBS);
      return (
        `${clock.plain(',')} [worker-${rng.int(0, 7)}] ${rng.pick(LEVELS)} jobs.${job}: job ${rng.int(100000, 999999)} ` +
        `${rng.pick(STEPS)} item=${rng.hex(12)} size=${rng.int(0, 16777216)} elapsed=${rng.int(0, 9000)}ms ` +
        `attempt=${rng.int(1, 3)}/3\n`
      );
    }
    case 'postgres': {
      clock.tick(rng, 80);
      const table = rng.pick(TABLES);
      const pid = rng.int(1000, 65000);
      const f = rng.float();
      if (f < 0.8) {
        return (
          `${clock.plain('.')} UTC [${pid}] LOG:  duration: ${(rng.float() * 50).toFixed(3)} ms  ` +
          `statement: SELECT id, owner_id, created_at, payload FROM ${table} WHERE id = ${rng.int(1, 9999999)} ` +
          `AND deleted_at IS NULL LIMIT ${rng.int(1, 100)}\n`
        );
      }
      if (f < 0.95) {
        return (
          `${clock.plain('.')} UTC [${pid}] LOG:  duration: ${(rng.float() * 200).toFixed(3)} ms  ` +
          `statement: UPDATE ${table} SET updated_at = now(), version = version + 1 WHERE id = ${rng.int(1, 9999999)}\n`
        );
      }
      return (
        `${clock.plain('.')} UTC [${pid}] LOG:  checkpoint complete: wrote ${rng.int(10, 9000)} buffers ` +
        `(${(rng.float() * 10).toFixed(1)}%); 0 WAL file(s) added, ${rng.int(0, 3)} removed, ${rng.int(0, 5)} recycled; ` +
        `write=${(rng.float() * 30).toFixed(3)} s, sync=${rng.float().toFixed(3)} s, total=${(rng.float() * 31).toFixed(3)} s\n`
      );
    }
    case 'audit': {
      clock.tick(rng, 200);
      return (
        `{"ts":"${clock.iso()}","actor":"u_${rng.int(1000, 60000)}","action":"${rng.pick(ACTIONS)}",` +
        `"resource":"${rng.pick(RESOURCES)}/${rng.int(1, 99999)}","ip":"${ip(rng)}","ok":${rng.float() < 0.97},` +
        `"trace":"${rng.hex(32)}","ua":"${rng.pick(AGENTS)}"}\n`
      );
    }
    case 'syslog': {
      clock.tick(rng, 400);
      const host = `host-${String(rng.int(1, 6)).padStart(2, '0')}`;
      const f = rng.float();
      if (f < 0.4) {
        return `${clock.syslog()} ${host} systemd[1]: Started Session ${rng.int(1, 90000)} of User app.\n`;
      }
      if (f < 0.6) {
        return `${clock.syslog()} ${host} CRON[${rng.int(1000, 65000)}]: (root) CMD (/usr/local/bin/rotate --quiet /var/log/app)\n`;
      }
      if (f < 0.8) {
        return `${clock.syslog()} ${host} systemd[1]: ${rng.pick(UNITS)}: Consumed ${(rng.float() * 90).toFixed(3)}s CPU time.\n`;
      }
      return (
        `${clock.syslog()} ${host} kernel: [${(clock.ms / 1000).toFixed(6)}] audit: type=1400 ` +
        `apparmor="ALLOWED" operation="open" profile="docker-default" name="/proc/${rng.int(1, 65000)}/stat" ` +
        `pid=${rng.int(1, 65000)} comm="node"\n`
      );
    }
  }
}

/** Log lines of `format` until at least `minBytes` (whole lines). */
export function logText(format: LogFormat, rng: Rng, clock: LogClock, minBytes: number): string {
  const parts: string[] = [];
  let n = 0;
  while (n < minBytes) {
    const l = logLine(format, rng, clock);
    parts.push(l);
    n += l.length;
  }
  return parts.join('');
}
