/**
 * The one way tests make catalog rows: `ctx.newService()`, `ctx.newTarget()`, `ctx.newPlan()`,
 * `ctx.newRun()`, `ctx.newBackup()`, `ctx.newSnapshot()`, `ctx.newRestore()`, `ctx.newReport()`,
 * `ctx.newApiToken()`, each with defaults
 * that satisfy every constraint (unique names included) and overrides for what a test is about.
 * Rows go in with Prisma directly, so a test can set up states no repository writes in one step
 * (a run already finished, a backup that succeeded hours ago) and the repositories under test are
 * not also their own fixtures.
 */
import { randomBytes, randomUUID } from 'node:crypto';

import { Catalog } from '@vaultline/catalog';
import {
  type ApiToken,
  applyMigrations,
  createPrismaClient,
  type Plan,
  type PlanService,
  type PlanTarget,
  type Prisma,
  type PrismaClient,
  type Report,
  type Restore,
  type Run,
  type Service,
  type ServiceBackup,
  type Snapshot,
  type Target,
} from '@vaultline/db';

import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from './postgres';

/** A plan's repository on a target as plan_targets keeps it (defaults: a folder under the target). */
export type PlanTargetFields = Partial<Omit<Prisma.PlanTargetUncheckedCreateInput, 'planId' | 'targetId'>>;

/** Which plan, target and service a snapshot belongs to. */
export interface SnapshotKey {
  planId: string;
  targetId: string;
  serviceId: string | null;
}

/** One snapshot of `newSnapshots`: its key and what differs from `newSnapshot`'s defaults. */
export type SnapshotRow = SnapshotKey & Partial<Prisma.SnapshotUncheckedCreateInput>;

export class CatalogFactories {
  private readonly tag = randomUUID().slice(0, 8);
  private n = 0;

  constructor(readonly prisma: PrismaClient) {}

  /** A name no other row of this factory has: `<prefix>-<tag>-<n>`. */
  uniqueName(prefix: string): string {
    return `${prefix}-${this.tag}-${this.n++}`;
  }

  newService(fields: Partial<Prisma.ServiceUncheckedCreateInput> = {}): Promise<Service> {
    const name = fields.name ?? this.uniqueName('svc');
    return this.prisma.service.create({
      data: { name, dataPath: `/srv/data/${name}`, arch: 'x86_64', ...fields },
    });
  }

  /** A local target (a folder; nothing is created on disk). */
  newTarget(fields: Partial<Prisma.TargetUncheckedCreateInput> = {}): Promise<Target> {
    const name = fields.name ?? this.uniqueName('target');
    return this.prisma.target.create({
      data: { name, kind: 'local', path: `/srv/backups/${name}`, ...fields },
    });
  }

  /**
   * A daily plan, linked to `targets` (each with `repository(target)`'s plan_targets fields, a
   * placeholder repository by default) and to `services`.
   */
  async newPlan(
    options: {
      fields?: Partial<Prisma.PlanUncheckedCreateInput>;
      targets?: readonly Target[];
      services?: readonly { id: string }[];
      repository?: (target: Target, plan: Plan) => PlanTargetFields | Promise<PlanTargetFields>;
    } = {},
  ): Promise<Plan> {
    const plan = await this.prisma.plan.create({
      data: {
        name: options.fields?.name ?? this.uniqueName('plan'),
        frequency: 'daily',
        startTime: '02:00',
        timezone: 'UTC',
        retention: { keepLast: 3 },
        ...options.fields,
      },
    });
    for (const target of options.targets ?? []) {
      await this.newPlanTarget(plan, target, await options.repository?.(target, plan));
    }
    for (const service of options.services ?? []) {
      await this.newPlanService(plan, service);
    }
    return plan;
  }

  /** Puts `service` in `plan`. */
  newPlanService(plan: { id: string }, service: { id: string }): Promise<PlanService> {
    return this.prisma.planService.create({ data: { planId: plan.id, serviceId: service.id } });
  }

  newPlanTarget(plan: Plan, target: Target, fields: PlanTargetFields = {}): Promise<PlanTarget> {
    return this.prisma.planTarget.create({
      data: {
        planId: plan.id,
        targetId: target.id,
        repoId: randomBytes(32).toString('hex'),
        repoLocation: `${target.path ?? '/srv/backups'}/${plan.name}`,
        writerKeyEnc: 'not-a-sealed-writer-key',
        ...fields,
      },
    });
  }

  /** A queued manual run with, when `pairs` are given, one service_backups row per pair. */
  async newRun(
    planId: string,
    pairs: readonly { serviceId: string; targetId: string }[] = [],
    fields: Partial<Prisma.RunUncheckedCreateInput> = {},
  ): Promise<Run> {
    const run = await this.prisma.run.create({ data: { planId, trigger: 'manual', ...fields } });
    if (pairs.length) {
      await this.prisma.serviceBackup.createMany({ data: pairs.map((p) => ({ runId: run.id, ...p })) });
    }
    return run;
  }

  /** One service × target of a run (queued unless `fields` say otherwise). */
  newBackup(
    key: { runId: string; serviceId: string; targetId: string },
    fields: Partial<Prisma.ServiceBackupUncheckedCreateInput> = {},
  ): Promise<ServiceBackup> {
    return this.prisma.serviceBackup.create({ data: { ...key, ...fields } });
  }

  /** A catalogued snapshot; its id is random unless given. */
  newSnapshot(
    key: SnapshotKey,
    fields: Partial<Prisma.SnapshotUncheckedCreateInput> = {},
  ): Promise<Snapshot> {
    return this.prisma.snapshot.create({ data: snapshotData({ ...key, ...fields }) });
  }

  /** Several catalogued snapshots in one statement, each with `newSnapshot`'s defaults. */
  newSnapshots(rows: readonly SnapshotRow[]): Promise<Snapshot[]> {
    return this.prisma.snapshot.createManyAndReturn({ data: rows.map(snapshotData) });
  }

  /** A queued restore of the latest snapshot into the service's folder, unless told otherwise. */
  newRestore(
    key: { serviceId: string; targetId: string },
    fields: Partial<Prisma.RestoreUncheckedCreateInput> = {},
  ): Promise<Restore> {
    return this.prisma.restore.create({
      data: { ...key, snapshotId: 'latest', destination: '/srv/restore', ...fields },
    });
  }

  /** A successful run's report, no webhook configured, unless told otherwise. */
  newReport(
    runId: string,
    fields: Partial<Omit<Prisma.ReportUncheckedCreateInput, 'runId'>> = {},
  ): Promise<Report> {
    return this.prisma.report.create({ data: { runId, status: 'success', summary: { runId }, ...fields } });
  }

  /** An API token (stored, as always, by its hash only); a random one unless `tokenHash` is given. */
  newApiToken(fields: Partial<Prisma.ApiTokenUncheckedCreateInput> = {}): Promise<ApiToken> {
    return this.prisma.apiToken.create({
      data: { name: this.uniqueName('token'), tokenHash: randomBytes(32).toString('hex'), ...fields },
    });
  }
}

/** A snapshot row with the defaults under its own fields: a random id, now, a few small files. */
function snapshotData(row: SnapshotRow): Prisma.SnapshotUncheckedCreateInput {
  return {
    id: randomBytes(32).toString('hex'),
    time: new Date(),
    arch: 'x86_64',
    totalBytes: 4096n,
    bytesAdded: 1024n,
    files: 3,
    ...row,
  };
}

/** A migrated database of its own, the catalog on it, and the factories: for repository tests. */
export interface CatalogTestContext extends CatalogFactories {
  db: TestDatabase;
  catalog: Catalog;
  close(): Promise<void>;
}

export async function startCatalogContext(label: string): Promise<CatalogTestContext> {
  const db = await createTestDatabase(label);
  await applyMigrations(db.url, MIGRATIONS_DIR);
  const prisma = createPrismaClient(db.url, { pool: { max: 4 } });
  const catalog = new Catalog(prisma);
  return Object.assign(new CatalogFactories(prisma), {
    db,
    catalog,
    async close() {
      await catalog.disconnect();
      await db.drop();
    },
  });
}
