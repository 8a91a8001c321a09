import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';

import {
  ConfigError,
  ROLES,
  VARIABLES,
  loadConfig,
  redactedConfig,
  type ApiConfig,
  type ConfigProblem,
  type Env,
  type ReportConfig,
  type WorkerConfig,
} from './config';
import { Secret } from './secret';

const SECRET_HEX = '3f1c9a7be2d45086a1f0c3b2e9d87a6541f2c0b3a9d8e7f6a5b4c3d2e1f00112';
const SECRET_BYTES = Buffer.from(SECRET_HEX, 'hex');

/** A complete environment for every role: each test changes only what it is about. */
function env(overrides: Env = {}): Env {
  return { VAULTLINE_SERVER_SECRET: SECRET_HEX, ...overrides };
}

function problems(fn: () => unknown): readonly ConfigProblem[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_CONFIG');
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig: defaults', () => {
  test('api', () => {
    const c: ApiConfig = loadConfig(env(), 'api');
    assert.deepEqual(
      { ...c, serverSecret: undefined },
      {
        role: 'api',
        databaseUrl: 'postgresql://postgres@127.0.0.1:5432/vaultline',
        redisUrl: 'redis://127.0.0.1:6379',
        serverSecret: undefined,
        logLevel: 'info',
        queuePrefix: 'vaultline',
        httpPort: 3000,
        defaultTargetDir: resolve('.vaultline/targets'),
        backupRetryDelayMs: 30_000,
        restoreRoots: ['/srv', '/mnt', '/media', '/tmp', '/var/tmp'],
        sessionIdleMinutes: 720,
        sessionMaxHours: 168,
        trustProxy: false,
        loginFailuresPerMinute: 5,
        userKdfMemoryKib: 65536,
        outboundAllowCidrs: '',
        outboundDenyCidrs: '',
      },
    );
    assert.ok(c.serverSecret instanceof Secret);
    assert.deepEqual(c.serverSecret.reveal(), SECRET_BYTES);
  });

  test('worker', () => {
    const c: WorkerConfig = loadConfig(env(), 'worker');
    assert.equal(c.role, 'worker');
    assert.equal(c.metricsPort, 9464);
    assert.equal(c.workerConcurrency, 2);
    assert.equal(c.jobLockMs, 30_000);
    assert.equal(c.hookUid, null);
    assert.equal(c.hookGid, null);
    assert.equal(loadConfig(env({ HOOK_UID: '1000' }), 'worker').hookUid, 1000);
    assert.throws(() => loadConfig(env({ HOOK_UID: 'nobody' }), 'worker'), /HOOK_UID must be a numeric uid/);
    assert.throws(
      () => loadConfig(env({ OUTBOUND_DENY_CIDRS: '10.0.0.0/8,10.0.0.0/99' }), 'worker'),
      /OUTBOUND_DENY_CIDRS must list CIDRs/,
    );
    assert.deepEqual(c.workerQueues, ['backup', 'restore', 'maintenance']);
    assert.deepEqual(loadConfig(env({ WORKER_QUEUES: ' restore , restore' }), 'worker').workerQueues, [
      'restore',
    ]);
    assert.throws(
      () => loadConfig(env({ WORKER_QUEUES: 'backup,report' }), 'worker'),
      /WORKER_QUEUES must list only backup, restore, maintenance/,
    );
    assert.equal('httpPort' in c, false);
    assert.equal(c.nodeName, null);
    assert.equal(loadConfig(env({ NODE_NAME: 'k3s-node-1.lan' }), 'worker').nodeName, 'k3s-node-1.lan');
    assert.throws(() => loadConfig(env({ NODE_NAME: 'Node_1' }), 'worker'), /NODE_NAME must be a node name/);
    assert.equal(c.nodeQueuesOnly, false);
    assert.equal(
      loadConfig(env({ NODE_NAME: 'n1', NODE_QUEUES_ONLY: 'true' }), 'worker').nodeQueuesOnly,
      true,
    );
    assert.throws(
      () => loadConfig(env({ NODE_QUEUES_ONLY: 'true' }), 'worker'),
      /NODE_QUEUES_ONLY needs NODE_NAME or NODE_LABELS/,
    );
    assert.throws(
      () => loadConfig(env({ NODE_QUEUES_ONLY: 'yes' }), 'worker'),
      /NODE_QUEUES_ONLY must be true or false/,
    );
    assert.deepEqual(c.nodeLabels, []);
    const labelled = loadConfig(
      env({ NODE_LABELS: 'disk=ssd, vaultline.io/pool=nas,disk=ssd', NODE_QUEUES_ONLY: 'true' }),
      'worker',
    );
    assert.deepEqual(labelled.nodeLabels, ['disk=ssd', 'vaultline.io/pool=nas']);
    for (const bad of ['disk', 'disk=', '=ssd', 'a b=c', 'Pool/x=y', 'k=v=w'])
      assert.throws(
        () => loadConfig(env({ NODE_LABELS: bad }), 'worker'),
        /NODE_LABELS must list node labels/,
        bad,
      );
  });

  test('report', () => {
    const c: ReportConfig = loadConfig(env(), 'report');
    assert.equal(c.nodeWorkerGraceSeconds, 300);
    assert.equal(c.nodeJobDeadlineHours, 24);
    assert.throws(
      () => loadConfig(env({ NODE_JOB_DEADLINE_HOURS: '0' }), 'report'),
      /NODE_JOB_DEADLINE_HOURS must be a whole number/,
    );
    assert.equal(c.metricsPort, 9464);
    assert.equal(c.webhookUrl, null);
    assert.equal('workerConcurrency' in c, false);
  });

  test('an empty value counts as unset', () => {
    const c = loadConfig(env({ HTTP_PORT: '', LOG_LEVEL: '', VAULTLINE_WEBHOOK_URL: '' }), 'api');
    assert.equal(c.httpPort, 3000);
    assert.equal(c.logLevel, 'info');
    assert.equal(loadConfig(env({ VAULTLINE_WEBHOOK_URL: '' }), 'report').webhookUrl, null);
  });

  test('the config is frozen', () => {
    const c = loadConfig(env(), 'worker');
    assert.ok(Object.isFrozen(c));
    assert.throws(() => {
      (c as { workerConcurrency: number }).workerConcurrency = 99;
    }, TypeError);
  });
});

describe('loadConfig: values', () => {
  test('every variable of a role, set', () => {
    const api = loadConfig(
      env({
        DATABASE_URL: 'postgres://vault:pw@db.internal:5433/catalog',
        REDIS_URL: 'rediss://:pw@redis.internal:6380/2',
        HTTP_PORT: '8080',
        LOG_LEVEL: 'debug',
        QUEUE_PREFIX: '{vaultline}',
        VAULTLINE_DEFAULT_TARGET_DIR: '/var/lib/vaultline/targets',
      }),
      'api',
    );
    assert.equal(api.databaseUrl, 'postgres://vault:pw@db.internal:5433/catalog');
    assert.equal(api.redisUrl, 'rediss://:pw@redis.internal:6380/2');
    assert.equal(api.httpPort, 8080);
    assert.equal(api.logLevel, 'debug');
    assert.equal(api.queuePrefix, '{vaultline}');
    assert.equal(api.defaultTargetDir, '/var/lib/vaultline/targets');

    const socket = 'postgresql:///vaultline?host=/run/postgresql&user=postgres';
    assert.equal(loadConfig(env({ DATABASE_URL: socket }), 'report').databaseUrl, socket);

    const worker = loadConfig(env({ METRICS_PORT: '9100', WORKER_CONCURRENCY: '8' }), 'worker');
    assert.equal(worker.metricsPort, 9100);
    assert.equal(worker.workerConcurrency, 8);

    const report = loadConfig(
      env({ VAULTLINE_WEBHOOK_URL: 'https://hooks.example.com/T0/B0/xyz' }),
      'report',
    );
    assert.equal(report.webhookUrl, 'https://hooks.example.com/T0/B0/xyz');
  });

  test('the server secret: hex, base64, base64url; whitespace around it ignored', () => {
    for (const given of [
      SECRET_HEX,
      SECRET_HEX.toUpperCase(),
      SECRET_BYTES.toString('base64'),
      SECRET_BYTES.toString('base64url'),
      `${SECRET_HEX}\n`,
    ]) {
      const c = loadConfig({ VAULTLINE_SERVER_SECRET: given }, 'report');
      assert.deepEqual(c.serverSecret.reveal(), SECRET_BYTES, given);
    }
    // More than 32 bytes is fine.
    const long = Buffer.concat([SECRET_BYTES, SECRET_BYTES.subarray(0, 16)]);
    assert.equal(
      loadConfig({ VAULTLINE_SERVER_SECRET: long.toString('base64') }, 'api').serverSecret.length,
      48,
    );
  });

  test('variables of other roles are ignored, even invalid', () => {
    assert.doesNotThrow(() =>
      loadConfig(env({ HTTP_PORT: 'x', VAULTLINE_WEBHOOK_URL: 'ftp://x' }), 'worker'),
    );
    assert.doesNotThrow(() =>
      loadConfig(
        env({ METRICS_PORT: 'x', WORKER_CONCURRENCY: '0', VAULTLINE_WEBHOOK_URL: 'ftp://x' }),
        'api',
      ),
    );
    assert.doesNotThrow(() => loadConfig(env({ HTTP_PORT: 'x', WORKER_CONCURRENCY: '0' }), 'report'));
  });
});

describe('loadConfig: errors', () => {
  test('every bad or missing variable is listed at once, with its reason', () => {
    const found = problems(() =>
      loadConfig(
        {
          DATABASE_URL: 'postgresql:///vaultline?host=relative',
          REDIS_URL: 'not a url',
          METRICS_PORT: '70000',
          WORKER_CONCURRENCY: 'two',
          LOG_LEVEL: 'verbose',
          QUEUE_PREFIX: 'vault line',
        },
        'worker',
      ),
    );
    assert.deepEqual(found, [
      { variable: 'DATABASE_URL', reason: 'must be a postgresql:// URL' },
      { variable: 'REDIS_URL', reason: 'must be a redis:// or rediss:// URL' },
      { variable: 'VAULTLINE_SERVER_SECRET', reason: 'is required' },
      { variable: 'METRICS_PORT', reason: 'must be a TCP port from 1 to 65535 (got "70000")' },
      { variable: 'WORKER_CONCURRENCY', reason: 'must be a whole number from 1 to 64 (got "two")' },
      {
        variable: 'LOG_LEVEL',
        reason: 'must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")',
      },
      { variable: 'QUEUE_PREFIX', reason: 'must be 1-64 letters, digits or _ . : { } - (got "vault line")' },
    ]);
  });

  test('the message names the role and every variable, one line', () => {
    try {
      loadConfig({ HTTP_PORT: '0' }, 'api');
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(
        err.message,
        'invalid configuration for the api (see docs/configuration.md): ' +
          'VAULTLINE_SERVER_SECRET is required; HTTP_PORT must be a TCP port from 1 to 65535 (got "0")',
      );
    }
  });

  test('numbers are whole and in range', () => {
    for (const bad of ['0', '65', '-1', '1.5', ' 2', '2e1', '99999999999']) {
      const found = problems(() => loadConfig(env({ WORKER_CONCURRENCY: bad }), 'worker'));
      assert.deepEqual(
        found.map((p) => p.variable),
        ['WORKER_CONCURRENCY'],
        bad,
      );
    }
  });

  test('the webhook URL is http or https', () => {
    for (const bad of ['ftp://hooks.example.com/x', 'file:///etc/passwd', 'hooks.example.com/x', 'http://']) {
      assert.deepEqual(
        problems(() => loadConfig(env({ VAULTLINE_WEBHOOK_URL: bad }), 'report')),
        [{ variable: 'VAULTLINE_WEBHOOK_URL', reason: 'must be an http:// or https:// URL' }],
        bad,
      );
    }
  });

  test('the server secret: too short, not hex or base64, a placeholder — and never echoed', () => {
    const cases: [string, RegExp][] = [
      [SECRET_HEX.slice(0, 62), /must decode to at least 32 bytes, got 31/],
      [SECRET_BYTES.subarray(0, 24).toString('base64'), /must decode to at least 32 bytes, got 24/],
      ['correct horse battery staple, but not encoded!', /must be hex or base64/],
      ['00'.repeat(32), /looks like a placeholder/],
      ['deadbeef'.repeat(8), /looks like a placeholder/],
    ];
    for (const [given, reason] of cases) {
      try {
        loadConfig({ VAULTLINE_SERVER_SECRET: given }, 'worker');
        assert.fail(`accepted ${given}`);
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.problems.length, 1);
        assert.equal(err.problems[0]?.variable, 'VAULTLINE_SERVER_SECRET');
        assert.match(err.problems[0]?.reason ?? '', reason);
        assert.ok(!err.message.includes(given), 'the secret must not appear in the message');
        assert.ok(!inspect(err).includes(given), 'nor anywhere in the error');
      }
    }
  });

  test('URLs that may carry credentials are not echoed', () => {
    const found = problems(() =>
      loadConfig(
        env({ DATABASE_URL: 'mysql://admin:hunter22@db/x', REDIS_URL: 'http://:hunter22@r' }),
        'api',
      ),
    );
    assert.equal(found.length, 2);
    assert.doesNotMatch(JSON.stringify(found), /hunter22/);
  });

  test('an unknown role', () => {
    assert.deepEqual(
      problems(() => loadConfig(env(), 'scheduler' as 'api')),
      [{ variable: 'role', reason: 'must be one of api, worker, report' }],
    );
  });
});

describe('redaction', () => {
  test('redactedConfig hides the secret, URL passwords and the webhook path', () => {
    const api = loadConfig(
      env({
        DATABASE_URL: 'postgresql://vault:hunter22@db:5432/vaultline',
        REDIS_URL: 'redis://:hunter22@redis:6379',
      }),
      'api',
    );
    assert.deepEqual(redactedConfig(api), {
      role: 'api',
      databaseUrl: 'postgresql://vault:%5Bredacted%5D@db:5432/vaultline',
      redisUrl: 'redis://:%5Bredacted%5D@redis:6379',
      serverSecret: '[redacted]',
      logLevel: 'info',
      queuePrefix: 'vaultline',
      httpPort: 3000,
      defaultTargetDir: resolve('.vaultline/targets'),
      backupRetryDelayMs: 30_000,
      restoreRoots: '/srv,/mnt,/media,/tmp,/var/tmp',
      sessionIdleMinutes: 720,
      sessionMaxHours: 168,
      trustProxy: false,
      loginFailuresPerMinute: 5,
      userKdfMemoryKib: 65536,
      outboundAllowCidrs: '',
      outboundDenyCidrs: '',
    });
    const report = loadConfig(
      env({ VAULTLINE_WEBHOOK_URL: 'https://hooks.example.com/services/T0/B0/tok3n?x=1' }),
      'report',
    );
    assert.equal(redactedConfig(report).webhookUrl, 'https://hooks.example.com/[redacted]');
    assert.equal(
      redactedConfig(loadConfig(env({ VAULTLINE_WEBHOOK_URL: 'http://notify.lan:8080' }), 'report'))
        .webhookUrl,
      'http://notify.lan:8080',
    );
    assert.equal(redactedConfig(loadConfig(env(), 'report')).webhookUrl, null);
  });

  test('the config itself never prints the secret (logged by mistake, serialized, inspected)', () => {
    const c = loadConfig(env(), 'worker');
    const b64 = SECRET_BYTES.toString('base64');
    for (const text of [
      JSON.stringify(c),
      inspect(c, { depth: 5 }),
      String(c.serverSecret),
      `${c.serverSecret.toString()}`,
    ]) {
      assert.ok(!text.includes(SECRET_HEX) && !text.includes(b64), text);
    }
    assert.match(JSON.stringify(c), /"serverSecret":"\[redacted\]"/);
  });

  test('reveal() hands out a copy', () => {
    const s = new Secret(SECRET_BYTES);
    s.reveal().fill(0);
    assert.deepEqual(s.reveal(), SECRET_BYTES);
  });
});

describe('the README', () => {
  test('lists every variable of the fleet', () => {
    const readme = readFileSync(join(__dirname, '../../../../README.md'), 'utf8');
    for (const name of Object.keys(VARIABLES)) {
      assert.ok(
        readme.split('\n').some((line) => line.startsWith(`| \`${name}\``)),
        `${name} in the README`,
      );
    }
  });
});

describe('VAULTLINE_TRUST_PROXY', () => {
  test('0 or 1', () => {
    assert.equal(loadConfig(env({ VAULTLINE_TRUST_PROXY: '1' }), 'api').trustProxy, true);
    assert.equal(loadConfig(env({ VAULTLINE_TRUST_PROXY: '0' }), 'api').trustProxy, false);
    assert.throws(
      () => loadConfig(env({ VAULTLINE_TRUST_PROXY: 'yes' }), 'api'),
      /VAULTLINE_TRUST_PROXY must be 0 or 1/,
    );
  });
});

describe('VAULTLINE_RESTORE_ROOTS', () => {
  test('comma-separated absolute folders, normalised; relative paths and .. refused', () => {
    const roots = (v: string) => loadConfig(env({ VAULTLINE_RESTORE_ROOTS: v }), 'api').restoreRoots;
    assert.deepEqual(roots(' /data/restores/ , //srv//x '), ['/data/restores', '/srv/x']);
    for (const bad of ['restores', '/srv,../etc', '/srv/../etc']) {
      assert.throws(() => roots(bad), /VAULTLINE_RESTORE_ROOTS/, bad);
    }
  });
});

describe('docs/configuration.md', () => {
  test('lists every variable with its default and the roles that read it', () => {
    // Compiled to dist/libs/config/src: the repository root is four levels up.
    const doc = readFileSync(join(__dirname, '../../../../docs/configuration.md'), 'utf8');
    for (const [name, v] of Object.entries(VARIABLES)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${name}\``));
      assert.ok(row, `${name} has a row in the table`);
      const cells = row.split('|').map((c) => c.trim());
      const defaultCell = cells[2] ?? '';
      const rolesCell = cells[3] ?? '';
      if ('default' in v)
        assert.ok(defaultCell.includes(`\`${v.default}\``), `${name}: default ${v.default}`);
      else assert.match(defaultCell, /required|none/, name);
      for (const role of ROLES) {
        assert.equal(
          rolesCell.includes(role),
          (v.roles as readonly string[]).includes(role),
          `${name}: role ${role}`,
        );
      }
    }
  });
});
