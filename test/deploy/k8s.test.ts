/**
 * Kubernetes manifests: `kustomize build` of k8s/overlays/example (and of example-hpa, the HPA
 * alternative) with a real kustomize — the standalone `kustomize` binary or the one built into
 * `kubectl kustomize`; skipped with the reason when neither is installed — then every rendered
 * object is validated against the Kubernetes OpenAPI schemas compiled into the npm packages
 * `kubernetes-models` (core API), `@kubernetes-models/keda` (ScaledObject, TriggerAuthentication)
 * and `@kubernetes-models/prometheus-operator` (ServiceMonitor, PrometheusRule). An object of an
 * unknown kind fails. On top of the schemas, the test checks what docs/operations.md promises:
 * hardened pods, probes, the worker's grace period and volumes, the migration Job, KEDA on the
 * BullMQ wait list, PDBs, monitoring and the same alert rules as deploy/prometheus/alerts.yml.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { QUEUES } from '@vaultline/contracts';

import {
  at,
  isObject,
  type JsonObject,
  loadYamlDocuments,
  loadYamlFile,
  readRepoFile,
  run,
  which,
  str,
} from './support';

interface K8sObject extends JsonObject {
  apiVersion: string;
  kind: string;
  metadata: JsonObject & { name: string; namespace?: string; labels?: Record<string, string> };
}

interface ModelInstance {
  validate(): void;
}
interface ModelClass {
  new (data: unknown): ModelInstance;
  prototype: ModelInstance;
}

const NAMESPACE = 'vaultline-example';
const IMAGE = 'registry.example.com/vaultline:0.1.0';
const ROLES = ['api', 'worker', 'report', 'migrate'];

/** The npm module whose classes model an apiVersion. */
function modelModule(apiVersion: string): string {
  if (apiVersion.startsWith('keda.sh/')) return `@kubernetes-models/keda/${apiVersion}`;
  if (apiVersion.startsWith('monitoring.coreos.com/'))
    return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

/**
 * Runs `validate` on a deep Proxy of `data` that records which properties the compiled schema
 * validator looks up. The validators look up every property their schema declares, so a key of a
 * declared object that was never looked up is a field the schema does not know (a typo, or a
 * field at the wrong level) — which Kubernetes' own schemas, without `additionalProperties: false`,
 * let pass. Maps (labels, data, KEDA metadata…) are enumerated by the validator: their keys are
 * all fine; objects on which nothing was looked up (free-form) are not judged.
 */
function unknownFields(validate: (data: unknown) => void, data: unknown): string[] {
  const looked = new Map<object, Set<string>>();
  const enumerated = new Set<object>();
  const paths = new Map<object, string>();
  const proxies = new WeakMap<object, object>();
  const wrap = (value: unknown, path: string): unknown => {
    if (typeof value !== 'object' || value === null) return value;
    const known = proxies.get(value);
    if (known) return known;
    const keys = new Set<string>();
    looked.set(value, keys);
    paths.set(value, path);
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        const v: unknown = Reflect.get(target, key, receiver);
        if (typeof key !== 'string') return v;
        keys.add(key);
        return wrap(v, `${path}/${key}`);
      },
      has(target, key) {
        if (typeof key === 'string') keys.add(key);
        return Reflect.has(target, key);
      },
      getOwnPropertyDescriptor(target, key) {
        if (typeof key === 'string') keys.add(key);
        return Reflect.getOwnPropertyDescriptor(target, key);
      },
      ownKeys(target) {
        enumerated.add(target);
        return Reflect.ownKeys(target);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  try {
    validate(wrap(data, ''));
  } catch {
    // schema errors are reported by the plain validation
  }
  const unknown: string[] = [];
  for (const [target, keys] of looked) {
    if (Array.isArray(target) || enumerated.has(target) || keys.size === 0) continue;
    for (const key of Object.keys(target)) if (!keys.has(key)) unknown.push(`${paths.get(target)}/${key}`);
  }
  return unknown;
}

async function validateObject(obj: K8sObject): Promise<string | undefined> {
  let mod: Record<string, ModelClass | undefined>;
  try {
    // ESM-only packages: a dynamic import from this CommonJS test.
    mod = (await import(modelModule(obj.apiVersion))) as Record<string, ModelClass | undefined>;
  } catch {
    return `${obj.kind} ${obj.metadata.name}: no schema for apiVersion ${obj.apiVersion}`;
  }
  const Model = mod[obj.kind];
  if (!Model) return `${obj.kind} ${obj.metadata.name}: no schema for kind ${obj.kind} in ${obj.apiVersion}`;
  let data: unknown = obj;
  if (obj.kind === 'Secret' && isObject(obj['data'])) {
    // kustomize wraps long base64 values over lines; the API server's decoder (Go's encoding/base64)
    // skips the newlines, the schema's `byte` format does not.
    const unwrapped = Object.fromEntries(
      Object.entries(obj['data']).map(([k, v]) => [k, str(v).replace(/\s/g, '')]),
    );
    data = { ...obj, data: unwrapped };
  }
  try {
    new Model(data).validate();
  } catch (err) {
    return `${obj.kind} ${obj.metadata.name}: ${err instanceof Error ? err.message : String(err)}`;
  }
  // The models copy their input; their prototype's validate() validates whatever `this` is.
  const validate = (value: unknown) => Model.prototype.validate.call(value);
  const unknown = unknownFields(validate, data);
  if (unknown.length) return `${obj.kind} ${obj.metadata.name}: unknown field(s) ${unknown.join(', ')}`;
  return undefined;
}

/** `kustomize build <dir>`, or `kubectl kustomize <dir>` (kubectl ≥ 1.14 has kustomize built in). */
function kustomizeCommand(): { command: string; args: string[] } | undefined {
  const kustomize = which('kustomize');
  if (kustomize) return { command: kustomize, args: ['build'] };
  const kubectl = which('kubectl');
  if (kubectl) return { command: kubectl, args: ['kustomize'] };
  return undefined;
}

const KUSTOMIZE = kustomizeCommand();
const NO_KUSTOMIZE = KUSTOMIZE
  ? false
  : 'neither kustomize nor kubectl is installed (kubectl from the Kubernetes apt repository, or a kustomize release binary)';

function build(dir: string): K8sObject[] {
  const { command, args } = KUSTOMIZE as { command: string; args: string[] };
  const r = run(command, [...args, dir]);
  assert.equal(r.status, 0, `kustomize build ${dir} failed:\n${r.stderr}`);
  return loadYamlDocuments(r.stdout) as K8sObject[];
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const obj = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(obj, `${kind} ${name} is rendered`);
  return obj;
}

interface Container extends JsonObject {
  name: string;
}

function podSpec(workload: K8sObject): JsonObject {
  return at(workload, 'spec', 'template', 'spec') as JsonObject;
}

function containers(workload: K8sObject): Container[] {
  return (podSpec(workload)['containers'] ?? []) as Container[];
}

/** A container's literal env value, or its fieldRef path as `fieldRef:<path>`. */
function envValue(c: Container | undefined, name: string): string | undefined {
  const e = ((c?.['env'] ?? []) as JsonObject[]).find((x) => x['name'] === name);
  if (!e) return undefined;
  const ref = at(e, 'valueFrom', 'fieldRef', 'fieldPath') as string | undefined;
  return ref ? `fieldRef:${ref}` : (e['value'] as string | undefined);
}

/** The first container's mounts by path and the pod's volumes by name. */
function mountsOf(workload: K8sObject): {
  mounts: Map<unknown, JsonObject>;
  volumes: Map<unknown, JsonObject>;
} {
  const pod = podSpec(workload);
  const [c] = containers(workload);
  return {
    mounts: new Map(((c?.['volumeMounts'] ?? []) as JsonObject[]).map((m) => [m['mountPath'], m])),
    volumes: new Map(((pod['volumes'] ?? []) as JsonObject[]).map((v) => [v['name'], v])),
  };
}

/** What docs/operations.md promises of every Vaultline pod. */
function assertHardened(workload: K8sObject): void {
  const name = workload.metadata.name;
  const pod = podSpec(workload);
  assert.equal(at(pod, 'securityContext', 'runAsNonRoot'), true, `${name}: runAsNonRoot`);
  assert.equal(at(pod, 'securityContext', 'runAsUser'), 10001, `${name}: runAsUser = the image's UID`);
  assert.equal(at(pod, 'securityContext', 'seccompProfile', 'type'), 'RuntimeDefault', `${name}: seccomp`);
  assert.equal(pod['automountServiceAccountToken'], false, `${name}: no API token`);
  for (const c of containers(workload)) {
    assert.equal(
      at(c, 'securityContext', 'allowPrivilegeEscalation'),
      false,
      `${name}: allowPrivilegeEscalation`,
    );
    assert.equal(at(c, 'securityContext', 'readOnlyRootFilesystem'), true, `${name}: readOnlyRootFilesystem`);
    assert.deepEqual(at(c, 'securityContext', 'capabilities', 'drop'), ['ALL'], `${name}: drop ALL`);
    const tmp = ((c['volumeMounts'] ?? []) as JsonObject[]).find((m) => m['mountPath'] === '/tmp');
    assert.ok(tmp, `${name}: /tmp is mounted`);
    const volume = ((pod['volumes'] ?? []) as JsonObject[]).find((v) => v['name'] === tmp['name']);
    assert.ok(isObject(volume?.['emptyDir']), `${name}: /tmp is an emptyDir`);
    assert.ok(
      at(c, 'resources', 'requests', 'memory') && at(c, 'resources', 'limits', 'memory'),
      `${name}: memory request and limit`,
    );
    const args = c['args'] as string[];
    assert.ok(ROLES.includes(args[0] ?? ''), `${name}: role ${args[0]}`);
  }
}

describe('Kubernetes manifests (kustomize build k8s/overlays/example)', { skip: NO_KUSTOMIZE }, () => {
  let rendered: K8sObject[] = [];
  const objects = (): K8sObject[] => {
    if (rendered.length === 0) rendered = build('k8s/overlays/example');
    return rendered;
  };

  test('every rendered object is valid against its Kubernetes / CRD schema', async () => {
    const problems = (await Promise.all(objects().map(validateObject))).filter((p) => p !== undefined);
    assert.deepEqual(problems, []);
    const kinds = new Set(objects().map((o) => o.kind));
    for (const kind of [
      'Namespace',
      'ConfigMap',
      'Secret',
      'Deployment',
      'Service',
      'Job',
      'ScaledObject',
      'PodDisruptionBudget',
      'NetworkPolicy',
      'ServiceMonitor',
      'PrometheusRule',
      'PersistentVolumeClaim',
    ]) {
      assert.ok(kinds.has(kind), `a ${kind} is rendered`);
    }
  });

  test('the validation is not vacuous: wrong types, missing and unknown fields fail', async () => {
    const deployment = structuredClone(find(objects(), 'Deployment', 'vaultline-api'));
    (deployment['spec'] as JsonObject)['replicas'] = 'three';
    assert.match((await validateObject(deployment)) ?? '', /replicas must be integer/);
    const scaled = structuredClone(find(objects(), 'ScaledObject', 'vaultline-worker'));
    delete (scaled['spec'] as JsonObject)['scaleTargetRef'];
    assert.match((await validateObject(scaled)) ?? '', /scaleTargetRef/);
    assert.match(
      (await validateObject({ ...deployment, apiVersion: 'apps/v1', kind: 'Deploymnt' })) ?? '',
      /no schema/,
    );
    // Fields the schemas do not know: a misspelling, and a field at the wrong level.
    const typo = structuredClone(find(objects(), 'Deployment', 'vaultline-worker'));
    const container = at(typo, 'spec', 'template', 'spec', 'containers', 0) as JsonObject;
    container['securityContex'] = container['securityContext'] ?? null;
    (typo['spec'] as JsonObject)['terminationGracePeriodSeconds'] = 120;
    assert.equal(
      await validateObject(typo),
      'Deployment vaultline-worker: unknown field(s) /spec/terminationGracePeriodSeconds, /spec/template/spec/containers/0/securityContex',
    );
    const keda = structuredClone(find(objects(), 'ScaledObject', 'vaultline-worker'));
    (at(keda, 'spec', 'triggers', 0) as JsonObject)['listName'] = 'vaultline:backup:wait';
    assert.match((await validateObject(keda)) ?? '', /unknown field\(s\) \/spec\/triggers\/0\/listName/);
  });

  test('the overlay: namespace, image, replicas, config patch and the example Secret', () => {
    for (const obj of objects()) {
      if (obj.kind === 'Namespace') assert.equal(obj.metadata.name, NAMESPACE);
      else assert.equal(obj.metadata.namespace, NAMESPACE, `${obj.kind} ${obj.metadata.name} is namespaced`);
    }
    assert.equal(
      at(find(objects(), 'Namespace', NAMESPACE), 'metadata', 'labels', 'pod-security.kubernetes.io/enforce'),
      'restricted',
    );
    assert.equal(at(find(objects(), 'Deployment', 'vaultline-api'), 'spec', 'replicas'), 3);
    assert.equal(at(find(objects(), 'Deployment', 'vaultline-report'), 'spec', 'replicas'), 1);
    const config = objects().find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('vaultline-config-'),
    );
    assert.ok(config, 'the generated ConfigMap (hash-suffixed)');
    assert.equal(at(config, 'data', 'WORKER_CONCURRENCY'), '3', 'the overlay patch is merged');
    assert.equal(at(config, 'data', 'QUEUE_PREFIX'), 'vaultline', 'the base values stay');
    const secret = find(objects(), 'Secret', 'vaultline-secrets');
    for (const key of ['DATABASE_URL', 'REDIS_URL', 'REDIS_PASSWORD', 'VAULTLINE_SERVER_SECRET']) {
      assert.ok(typeof at(secret, 'data', key) === 'string', `the Secret has ${key}`);
    }
    for (const workload of objects().filter((o) => o.kind === 'Deployment' || o.kind === 'Job')) {
      for (const c of containers(workload)) {
        assert.equal(c['image'], IMAGE, `${workload.metadata.name}/${c.name} runs the released image`);
        for (const from of (c['envFrom'] ?? []) as JsonObject[]) {
          const ref = (at(from, 'configMapRef', 'name') ?? at(from, 'secretRef', 'name')) as string;
          assert.ok(
            objects().some((o) => (o.kind === 'ConfigMap' || o.kind === 'Secret') && o.metadata.name === ref),
            `${ref} exists`,
          );
        }
      }
    }
  });

  test('configuration keys are the documented variables', () => {
    const documented = new Set(
      [...readRepoFile('docs/configuration.md').matchAll(/^\| `([A-Z_]+)`/gm)].map((m) => m[1]),
    );
    const config = objects().find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('vaultline-config-'),
    );
    for (const key of Object.keys((config?.['data'] ?? {}) as JsonObject))
      assert.ok(documented.has(key), `${key} is documented`);
    const secret = find(objects(), 'Secret', 'vaultline-secrets');
    for (const key of Object.keys(secret['data'] as JsonObject)) {
      assert.ok(
        documented.has(key) || key === 'REDIS_PASSWORD',
        `${key} is documented (REDIS_PASSWORD is KEDA's)`,
      );
    }
  });

  test('every pod is hardened: non-root, no privilege escalation, no capabilities, read-only root, seccomp, /tmp', () => {
    for (const workload of objects().filter((o) => o.kind === 'Deployment' || o.kind === 'Job')) {
      assertHardened(workload);
    }
  });

  test('Deployments probe /health on their listener: startup, readiness and liveness', () => {
    const expected: Record<string, { role: string; port: number; portName: string }> = {
      'vaultline-api': { role: 'api', port: 3000, portName: 'http' },
      'vaultline-worker': { role: 'worker', port: 9464, portName: 'metrics' },
      'vaultline-worker-restore': { role: 'worker', port: 9464, portName: 'metrics' },
      'vaultline-report': { role: 'report', port: 9464, portName: 'metrics' },
    };
    for (const [name, { role, port, portName }] of Object.entries(expected)) {
      const [c] = containers(find(objects(), 'Deployment', name));
      assert.ok(c);
      assert.deepEqual(c['args'], [role]);
      assert.deepEqual(c['ports'], [{ name: portName, containerPort: port }]);
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        assert.deepEqual(at(c, probe, 'httpGet'), { path: '/health', port: portName }, `${name}: ${probe}`);
      }
      const service = find(
        objects(),
        'Service',
        name === 'vaultline-worker-restore' ? 'vaultline-worker' : name,
      );
      assert.equal(at(service, 'spec', 'ports', 0, 'targetPort'), portName);
      assert.equal(at(service, 'spec', 'ports', 0, 'port'), port);
      assert.equal(at(service, 'metadata', 'labels', 'app.kubernetes.io/component'), role);
    }
  });

  test('the worker: autoscaled, time to reach a safe point, services data read-only, targets writable', () => {
    const worker = find(objects(), 'Deployment', 'vaultline-worker');
    assert.equal(at(worker, 'spec', 'replicas'), undefined, 'replicas are left to the autoscaler');
    const pod = podSpec(worker);
    assert.ok(Number(pod['terminationGracePeriodSeconds']) >= 120, 'terminationGracePeriodSeconds ≥ 120');
    const [c] = containers(worker);
    assert.equal(envValue(c, 'WORKER_QUEUES'), 'backup,maintenance', 'backups and maintenance only');
    const { mounts, volumes } = mountsOf(worker);
    const services = mounts.get('/srv/services');
    assert.equal(services?.['readOnly'], true, '/srv/services is mounted read-only');
    assert.equal(
      at(volumes.get(services?.['name'] as string), 'persistentVolumeClaim', 'readOnly'),
      true,
      'and its claim is read-only',
    );
    assert.ok(mounts.has('/var/lib/vaultline/targets'), 'targets are mounted');
    assert.notEqual(mounts.get('/var/lib/vaultline/targets')?.['readOnly'], true, 'targets are writable');

    // Restores: their own Deployment, the only one that writes the services' data.
    const restore = find(objects(), 'Deployment', 'vaultline-worker-restore');
    assert.equal(envValue(containers(restore)[0], 'WORKER_QUEUES'), 'restore');
    assert.ok(Number(podSpec(restore)['terminationGracePeriodSeconds']) >= 120);
    const r = mountsOf(restore);
    for (const path of ['/srv/services', '/var/lib/vaultline/targets', '/var/lib/vaultline/restores']) {
      assert.ok(r.mounts.has(path), `restore worker: ${path} is mounted`);
      assert.notEqual(r.mounts.get(path)?.['readOnly'], true, `restore worker: ${path} is writable`);
      const claim = r.volumes.get(r.mounts.get(path)?.['name']);
      assert.notEqual(at(claim, 'persistentVolumeClaim', 'readOnly'), true, `restore worker: ${path} claim`);
    }
    const selector = (w: K8sObject) => at(w, 'spec', 'selector', 'matchLabels') as Record<string, string>;
    assert.notEqual(
      selector(worker)['vaultline.io/worker-pool'],
      selector(restore)['vaultline.io/worker-pool'],
      'the two Deployments select disjoint pods',
    );
    const claims = new Map(
      objects()
        .filter((o) => o.kind === 'PersistentVolumeClaim')
        .map((o) => [o.metadata.name, o]),
    );
    for (const v of volumes.values()) {
      const claim = at(v, 'persistentVolumeClaim', 'claimName') as string | undefined;
      if (claim) assert.ok(claims.has(claim), `claim ${claim} exists`);
    }
    assert.deepEqual(
      at(claims.get('vaultline-targets'), 'spec', 'accessModes'),
      ['ReadWriteMany'],
      'targets are shared by every worker',
    );
    const api = find(objects(), 'Deployment', 'vaultline-api');
    const apiMounts = ((containers(api)[0]?.['volumeMounts'] ?? []) as JsonObject[]).map(
      (m) => m['mountPath'],
    );
    assert.ok(
      apiMounts.includes('/var/lib/vaultline/targets'),
      'the API creates repositories on the same targets',
    );
  });

  test('KEDA scales the worker on the BullMQ wait list of the backup queue', () => {
    const scaled = find(objects(), 'ScaledObject', 'vaultline-worker');
    assert.deepEqual(at(scaled, 'spec', 'scaleTargetRef'), {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'vaultline-worker',
    });
    const config = objects().find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('vaultline-config-'),
    );
    const prefix = at(config, 'data', 'QUEUE_PREFIX') as string;
    const triggers = at(scaled, 'spec', 'triggers') as JsonObject[];
    const lists = triggers.map((t) => at(t, 'metadata', 'listName'));
    assert.ok(
      lists.includes(`${prefix}:${QUEUES.backup}:wait`),
      `a trigger on ${prefix}:${QUEUES.backup}:wait`,
    );
    assert.ok(
      lists.includes(`${prefix}:${QUEUES.maintenance}:wait`),
      `a trigger on ${prefix}:${QUEUES.maintenance}:wait`,
    );
    assert.ok(!lists.includes(`${prefix}:${QUEUES.restore}:wait`), 'restores are not this Deployment’s');
    for (const t of triggers) {
      assert.equal(t['type'], 'redis');
      assert.match(String(at(t, 'metadata', 'address')), /^[a-z0-9.-]+:[0-9]+$/);
      const auth = at(t, 'authenticationRef', 'name') as string;
      const ta = find(objects(), 'TriggerAuthentication', auth);
      assert.equal(at(ta, 'spec', 'secretTargetRef', 0, 'name'), 'vaultline-secrets');
    }
    assert.ok(
      Number(at(scaled, 'spec', 'minReplicaCount')) >= 1,
      'a worker always runs (delayed jobs, maintenance)',
    );
  });

  test('the migration Job runs the migrate role once, as a PreSync hook', () => {
    const job = find(objects(), 'Job', 'vaultline-migrate');
    assert.deepEqual(containers(job)[0]?.['args'], ['migrate']);
    assert.equal(at(podSpec(job), 'restartPolicy'), 'Never');
    assert.equal(at(job, 'metadata', 'annotations', 'argocd.argoproj.io/hook'), 'PreSync');
    assert.ok(Number(at(job, 'spec', 'ttlSecondsAfterFinished')) > 0);
    // docs/operations.md applies `-l 'app.kubernetes.io/component notin (api,worker,report)'` first:
    // that must take the Job and what it needs, and none of the fleet's workloads.
    const first = objects().filter(
      (o) => !['api', 'worker', 'report'].includes(o.metadata.labels?.['app.kubernetes.io/component'] ?? ''),
    );
    const firstNames = first.map((o) => `${o.kind}/${o.metadata.name}`);
    for (const needed of [
      'Namespace/vaultline-example',
      'Secret/vaultline-secrets',
      'ServiceAccount/vaultline',
      'Job/vaultline-migrate',
    ]) {
      assert.ok(firstNames.includes(needed), `the first apply creates ${needed}`);
    }
    assert.ok(!first.some((o) => o.kind === 'Deployment'), 'no Deployment before the migration');
  });

  test('PodDisruptionBudgets and NetworkPolicies select the fleet', () => {
    // Each PDB covers its Deployment's pods (the worker's: every worker pool's).
    for (const [name, deployments] of [
      ['vaultline-api', ['vaultline-api']],
      ['vaultline-worker', ['vaultline-worker', 'vaultline-worker-restore']],
    ] as const) {
      const pdb = find(objects(), 'PodDisruptionBudget', name);
      const selector = at(pdb, 'spec', 'selector', 'matchLabels') as Record<string, string>;
      for (const d of deployments) {
        const labels = at(
          find(objects(), 'Deployment', d),
          'spec',
          'template',
          'metadata',
          'labels',
        ) as Record<string, string>;
        for (const [k, v] of Object.entries(selector))
          assert.equal(labels[k], v, `${name} selects ${d}: ${k}`);
      }
    }
    const policies = objects().filter((o) => o.kind === 'NetworkPolicy');
    const deny = policies.find(
      (p) =>
        isObject(at(p, 'spec', 'podSelector')) &&
        Object.keys(at(p, 'spec', 'podSelector') as JsonObject).length === 0,
    );
    assert.deepEqual(at(deny, 'spec', 'policyTypes'), ['Ingress', 'Egress'], 'default deny');
    const ingressPorts = policies.flatMap((p) =>
      ((at(p, 'spec', 'ingress') ?? []) as JsonObject[]).flatMap((rule) =>
        ((rule['ports'] ?? []) as JsonObject[]).map((port) => port['port']),
      ),
    );
    assert.ok(ingressPorts.includes(3000) && ingressPorts.includes(9464), 'api and metrics ingress');
    const egressPorts = policies.flatMap((p) =>
      ((at(p, 'spec', 'egress') ?? []) as JsonObject[]).flatMap((rule) =>
        ((rule['ports'] ?? []) as JsonObject[]).map((port) => port['port']),
      ),
    );
    for (const port of [53, 5432, 6379, 443]) assert.ok(egressPorts.includes(port), `egress to port ${port}`);
  });

  test('monitoring: the ServiceMonitor selects the three Services; the PrometheusRule is alerts.yml', () => {
    const monitor = find(objects(), 'ServiceMonitor', 'vaultline');
    const selector = at(monitor, 'spec', 'selector', 'matchLabels') as Record<string, string>;
    const endpoints = at(monitor, 'spec', 'endpoints') as JsonObject[];
    const ports = endpoints.map((e) => e['port']);
    for (const e of endpoints) assert.equal(e['honorLabels'], true);
    const selected = objects().filter(
      (o) => o.kind === 'Service' && Object.entries(selector).every(([k, v]) => o.metadata.labels?.[k] === v),
    );
    assert.deepEqual(selected.map((s) => s.metadata.name).sort(), [
      'vaultline-api',
      'vaultline-report',
      'vaultline-worker',
    ]);
    for (const s of selected) {
      assert.ok(
        ((at(s, 'spec', 'ports') ?? []) as JsonObject[]).some((p) => ports.includes(p['name'])),
        `${s.metadata.name} is scraped`,
      );
    }
    const rule = find(objects(), 'PrometheusRule', 'vaultline');
    assert.deepEqual(at(rule, 'spec', 'groups'), at(loadYamlFile('deploy/prometheus/alerts.yml'), 'groups'));
  });
});

describe('Kubernetes manifests (kustomize build k8s/overlays/example-hpa)', { skip: NO_KUSTOMIZE }, () => {
  test('the HPA alternative replaces the ScaledObject and validates', async () => {
    const objects = build('k8s/overlays/example-hpa');
    assert.ok(
      !objects.some((o) => o.kind === 'ScaledObject' || o.kind === 'TriggerAuthentication'),
      'no KEDA objects',
    );
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'vaultline-worker');
    assert.equal(hpa.metadata.namespace, NAMESPACE);
    assert.equal(at(hpa, 'spec', 'scaleTargetRef', 'name'), 'vaultline-worker');
    const problems = (await Promise.all(objects.map(validateObject))).filter((p) => p !== undefined);
    assert.deepEqual(problems, []);
  });
});

describe('Kubernetes base image', () => {
  test("the base pins the release it was written for (package.json's version), never latest", () => {
    const kustomization = loadYamlFile('k8s/base/kustomization.yaml') as JsonObject;
    const images = kustomization['images'] as JsonObject[];
    const version = (JSON.parse(readRepoFile('package.json')) as { version: string }).version;
    assert.deepEqual(images, [
      { name: 'vaultline', newName: 'ghcr.io/vaultline/vaultline', newTag: version },
    ]);
  });
});

describe('Kubernetes manifests (kustomize build k8s/overlays/node-local)', { skip: NO_KUSTOMIZE }, () => {
  test('a backup and a restore worker per data node, each taking only its node’s jobs', async () => {
    const objects = build('k8s/overlays/node-local');
    const problems = (await Promise.all(objects.map(validateObject))).filter((p) => p !== undefined);
    assert.deepEqual(problems, []);
    const ns = find(objects, 'Namespace', NAMESPACE);
    assert.equal(
      at(ns, 'metadata', 'labels', 'pod-security.kubernetes.io/enforce'),
      'privileged',
      'hostPath',
    );
    assert.equal(at(ns, 'metadata', 'labels', 'pod-security.kubernetes.io/warn'), 'restricted');
    // The shared workers of the base stay (maintenance, services without a node).
    find(objects, 'Deployment', 'vaultline-worker');
    find(objects, 'Deployment', 'vaultline-worker-restore');
    const pools = new Set<string>();
    for (const [name, queues, readOnly] of [
      ['vaultline-worker-node-backup', 'backup', true],
      ['vaultline-worker-node-restore', 'restore', false],
    ] as const) {
      const ds = find(objects, 'DaemonSet', name);
      assertHardened(ds);
      const [c] = containers(ds);
      assert.equal(envValue(c, 'WORKER_QUEUES'), queues, `${name}: WORKER_QUEUES`);
      assert.equal(
        envValue(c, 'NODE_NAME'),
        'fieldRef:spec.nodeName',
        `${name}: NODE_NAME from the downward API`,
      );
      assert.equal(envValue(c, 'NODE_QUEUES_ONLY'), 'true', `${name}: only its node's queues`);
      assert.equal(c?.['image'], IMAGE);
      assert.equal(
        at(podSpec(ds), 'nodeSelector', 'vaultline.io/service-data'),
        'true',
        `${name}: data nodes`,
      );
      const { mounts, volumes } = mountsOf(ds);
      const data = mounts.get('/srv/services');
      assert.equal(data?.['readOnly'] === true, readOnly, `${name}: /srv/services readOnly=${readOnly}`);
      assert.ok(at(volumes.get(data?.['name']), 'hostPath', 'path'), `${name}: the node's own folder`);
      assert.equal(at(podSpec(ds), 'terminationGracePeriodSeconds'), 120);
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        assert.deepEqual(at(c, probe, 'httpGet'), { path: '/health', port: 'metrics' }, `${name}: ${probe}`);
      }
      const labels = at(ds, 'spec', 'template', 'metadata', 'labels') as Record<string, string>;
      assert.equal(labels['app.kubernetes.io/component'], 'worker', `${name}: scraped as a worker`);
      pools.add(labels['vaultline.io/worker-pool'] ?? '');
    }
    const all = objects
      .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
      .map(
        (o) =>
          (at(o, 'spec', 'selector', 'matchLabels') as Record<string, string>)['vaultline.io/worker-pool'],
      )
      .filter((p) => p !== undefined);
    assert.equal(new Set(all).size, all.length, 'no two worker workloads select the same pods');
    assert.equal(pools.size, 2);
  });
});
