import { Inject, Injectable } from '@nestjs/common';
import { parseJobPayload, type RetentionPolicy, type Schedule, scheduleToCron } from '@vaultline/contracts';
import type { Plan, Target } from '@vaultline/db';
import { EngineError } from '@vaultline/engine';
import type { ServerKeys } from '@vaultline/secrets';
import { StorageError } from '@vaultline/storage';
import type { Logger } from 'pino';
import { ApiError, invalidField, notFound } from '../common/api-error';
import { prismaCode } from '../common/prisma-errors';
import { PrismaService } from '../common/prisma.service';
import { QueuesService } from '../common/queues.service';
import { LOGGER, REPO_KDF, SERVER_KEYS } from '../common/tokens';
import { UUID_RE } from '../common/zod-body.pipe';
import {
  checkPlanPassword,
  type CreatedRepo,
  createPlanRepository,
  type RepoKdf,
  removeNewRepository,
} from './plan-repository';
import type { CreatePlan, UpdatePlan } from './plan.schemas';

/** A plan's target as the API shows it: where its repository is, never its writer key. */
export interface PlanTargetView {
  id: string;
  name: string;
  kind: string;
  repoId: string;
  repoLocation: string;
  /** Sum of the catalogued snapshots' bytesAdded: what this plan stored on the target. */
  sizeBytes: number;
}

export interface PlanView {
  id: string;
  name: string;
  schedule: Schedule;
  retention: RetentionPolicy;
  paused: boolean;
  targets: PlanTargetView[];
  services: { id: string; name: string }[];
  createdAt: string;
  updatedAt: string;
}

function scheduleOf(p: Plan): Schedule {
  return p.frequency === 'weekly'
    ? { frequency: 'weekly', time: p.startTime, dayOfWeek: p.dayOfWeek ?? 0, timezone: p.timezone }
    : { frequency: 'daily', time: p.startTime, timezone: p.timezone };
}

function scheduleColumns(s: Schedule) {
  return { frequency: s.frequency, startTime: s.time, dayOfWeek: s.dayOfWeek ?? null, timezone: s.timezone };
}

@Injectable()
export class PlansService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly queues: QueuesService,
    @Inject(SERVER_KEYS) private readonly keys: ServerKeys,
    @Inject(REPO_KDF) private readonly kdf: RepoKdf | undefined,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async create(input: CreatePlan): Promise<PlanView> {
    const targets = await this.findTargets(input.targetIds);
    await this.checkServices(input.serviceIds);
    let plan: Plan;
    try {
      plan = await this.prisma.client.plan.create({
        data: { name: input.name, ...scheduleColumns(input.schedule), retention: input.retention },
      });
    } catch (err) {
      throw translate(err, input.name);
    }
    // The plan row exists first because each writer key is sealed to <planId>/<targetId>. From here
    // on, a failure deletes it (and what hangs off it) and the repositories made so far.
    const created: { target: Target; repo: CreatedRepo }[] = [];
    try {
      for (const target of targets) {
        const repo = await this.initRepository(target, plan.id, input.password);
        created.push({ target, repo });
      }
      await this.prisma.client.$transaction([
        this.prisma.client.planTarget.createMany({
          data: created.map(({ target, repo }) => ({ planId: plan.id, targetId: target.id, ...repo })),
        }),
        this.prisma.client.planService.createMany({
          data: input.serviceIds.map((serviceId) => ({ planId: plan.id, serviceId })),
        }),
      ]);
      await this.upsertScheduler(plan.id, input.schedule);
    } catch (err) {
      // Should a timed-out upsert still reach Redis, this removal follows it on the same connection.
      this.queues.schedule.removeJobScheduler(plan.id).catch((e: unknown) => {
        this.logger.warn(
          { err: e, planId: plan.id },
          'could not remove the scheduler of a half-created plan',
        );
      });
      await this.prisma.client.plan.delete({ where: { id: plan.id } }).catch((e: unknown) => {
        this.logger.error({ err: e, planId: plan.id }, 'could not delete a half-created plan');
      });
      for (const { target, repo } of created) {
        await removeNewRepository(this.keys, target, repo.repoLocation).catch((e: unknown) => {
          this.logger.warn({ err: e, targetId: target.id }, 'could not remove a new repository');
        });
      }
      throw err;
    }
    return this.get(plan.id);
  }

  async list(): Promise<PlanView[]> {
    const rows = await this.prisma.client.plan.findMany({
      where: { deletedAt: null },
      orderBy: { name: 'asc' },
      select: { id: true },
    });
    return Promise.all(rows.map((r) => this.get(r.id)));
  }

  async get(id: string): Promise<PlanView> {
    const plan = await this.find(id);
    const [targets, services, sizes] = await Promise.all([
      this.prisma.client.planTarget.findMany({
        where: { planId: id },
        include: { target: true },
        orderBy: { createdAt: 'asc' },
      }),
      this.prisma.client.planService.findMany({ where: { planId: id }, include: { service: true } }),
      this.prisma.client.snapshot.groupBy({
        by: ['targetId'],
        where: { planId: id },
        _sum: { bytesAdded: true },
      }),
    ]);
    const size = new Map(sizes.map((s) => [s.targetId, Number(s._sum.bytesAdded ?? 0n)]));
    return {
      id: plan.id,
      name: plan.name,
      schedule: scheduleOf(plan),
      // Written only from a parsed RetentionPolicy (create and update).
      retention: plan.retention as RetentionPolicy,
      paused: plan.paused,
      targets: targets.map((pt) => ({
        id: pt.targetId,
        name: pt.target.name,
        kind: pt.target.kind,
        repoId: pt.repoId,
        repoLocation: pt.repoLocation,
        sizeBytes: size.get(pt.targetId) ?? 0,
      })),
      services: services
        .map((ps) => ({ id: ps.serviceId, name: ps.service.name }))
        .sort((a, b) => a.name.localeCompare(b.name)),
      createdAt: plan.createdAt.toISOString(),
      updatedAt: plan.updatedAt.toISOString(),
    };
  }

  async update(id: string, input: UpdatePlan): Promise<PlanView> {
    if (input.name !== undefined) throw invalidField('name', 'cannot be changed after creation');
    const plan = await this.find(id);
    const current = await this.prisma.client.planTarget.findMany({
      where: { planId: id },
      include: { target: true },
    });
    const currentIds = new Set(current.map((pt) => pt.targetId));
    const wanted = input.targetIds ?? [...currentIds];
    const added = await this.findTargets(wanted.filter((t) => !currentIds.has(t)));
    const removed = [...currentIds].filter((t) => !wanted.includes(t));
    if (input.serviceIds) await this.checkServices(input.serviceIds);

    const created: { target: Target; repo: CreatedRepo }[] = [];
    if (added.length) {
      if (input.password === undefined) {
        throw invalidField('password', 'is required to add a target (its repository is created with it)');
      }
      // One password per plan: it must open the plan's existing repositories.
      const first = current[0];
      if (first) await this.checkPassword(first.target, first.repoLocation, input.password);
      for (const target of added) {
        try {
          created.push({ target, repo: await this.initRepository(target, id, input.password) });
        } catch (err) {
          await this.removeRepositories(created);
          throw err;
        }
      }
    }
    try {
      await this.prisma.client.$transaction([
        this.prisma.client.plan.update({
          where: { id },
          data: {
            ...(input.schedule ? scheduleColumns(input.schedule) : {}),
            retention: input.retention,
          },
        }),
        // A removed target's repository and snapshots stay on the target (deleting them is the
        // maintenance queue's job); the plan just stops writing there.
        this.prisma.client.planTarget.deleteMany({ where: { planId: id, targetId: { in: removed } } }),
        this.prisma.client.planTarget.createMany({
          data: created.map(({ target, repo }) => ({ planId: id, targetId: target.id, ...repo })),
        }),
        ...(input.serviceIds
          ? [
              this.prisma.client.planService.deleteMany({ where: { planId: id } }),
              this.prisma.client.planService.createMany({
                data: input.serviceIds.map((serviceId) => ({ planId: id, serviceId })),
              }),
            ]
          : []),
      ]);
    } catch (err) {
      await this.removeRepositories(created);
      throw translate(err, plan.name, id);
    }
    if (input.schedule && !plan.paused) await this.upsertScheduler(id, input.schedule);
    return this.get(id);
  }

  async pause(id: string): Promise<PlanView> {
    await this.find(id);
    await this.prisma.client.plan.update({ where: { id }, data: { paused: true } });
    // After the row: a firing between the two sees the plan paused and skips (PLAN_PAUSED).
    await this.queues.run(() => this.queues.schedule.removeJobScheduler(id));
    return this.get(id);
  }

  async resume(id: string): Promise<PlanView> {
    const plan = await this.find(id);
    await this.prisma.client.plan.update({ where: { id }, data: { paused: false } });
    await this.upsertScheduler(id, scheduleOf(plan));
    return this.get(id);
  }

  /** The plan, or 404 for an unknown id, a non-UUID or a plan being deleted. */
  async find(id: string): Promise<Plan> {
    const row = UUID_RE.test(id) ? await this.prisma.client.plan.findUnique({ where: { id } }) : null;
    if (!row || row.deletedAt) throw notFound('plan', id);
    return row;
  }

  /** One job scheduler per plan, keyed by the plan id: upserting replaces the old schedule. */
  private async upsertScheduler(planId: string, schedule: Schedule): Promise<void> {
    await this.queues.run(() =>
      this.queues.schedule.upsertJobScheduler(planId, scheduleToCron(schedule), {
        name: 'schedule.run',
        data: parseJobPayload('schedule.run', { planId }),
      }),
    );
  }

  private async initRepository(target: Target, planId: string, password: string): Promise<CreatedRepo> {
    try {
      return await createPlanRepository(this.keys, target, planId, password, this.kdf);
    } catch (err) {
      throw storageFailure(err, target);
    }
  }

  private async checkPassword(target: Target, location: string, password: string): Promise<void> {
    try {
      await checkPlanPassword(this.keys, target, location, password);
    } catch (err) {
      if (err instanceof EngineError && err.code === 'WRONG_PASSWORD') {
        throw invalidField('password', "does not open the plan's repositories");
      }
      throw storageFailure(err, target);
    }
  }

  private async removeRepositories(created: readonly { target: Target; repo: CreatedRepo }[]): Promise<void> {
    for (const { target, repo } of created) {
      await removeNewRepository(this.keys, target, repo.repoLocation).catch((e: unknown) => {
        this.logger.warn({ err: e, targetId: target.id }, 'could not remove a new repository');
      });
    }
  }

  /** Unknown ids are a 400 on the field that lists them (the body is wrong, not the URL). */
  private async findTargets(ids: readonly string[]): Promise<Target[]> {
    if (!ids.length) return [];
    const rows = await this.prisma.client.target.findMany({ where: { id: { in: [...ids] } } });
    const missing = ids.filter((id) => !rows.some((r) => r.id === id));
    if (missing.length) throw invalidField('targetIds', `unknown target ${missing.join(', ')}`);
    // In the order given: repositories are created in that order.
    return ids.map((id) => rows.find((r) => r.id === id) as Target);
  }

  private async checkServices(ids: readonly string[]): Promise<void> {
    const rows = await this.prisma.client.service.findMany({
      where: { id: { in: [...ids] } },
      select: { id: true },
    });
    const missing = ids.filter((id) => !rows.some((r) => r.id === id));
    if (missing.length) throw invalidField('serviceIds', `unknown service ${missing.join(', ')}`);
  }
}

/** A target that cannot take the repository is the target's problem, told with its name. */
function storageFailure(err: unknown, target: Target): unknown {
  if (err instanceof StorageError) {
    return new ApiError('UNAVAILABLE', `target ${JSON.stringify(target.name)}: ${err.message}`);
  }
  if (err instanceof EngineError && err.code === 'ALREADY_INITIALIZED') {
    return new ApiError('CONFLICT', `target ${JSON.stringify(target.name)}: ${err.message}`);
  }
  return err;
}

function translate(err: unknown, name?: string, id?: string): unknown {
  switch (prismaCode(err)) {
    case 'P2002':
      return new ApiError('CONFLICT', `a plan named ${JSON.stringify(name)} already exists`, [
        { path: 'name', message: 'is already used by another plan' },
      ]);
    case 'P2025':
      return notFound('plan', id ?? '');
    case 'P2003':
      // A target or service deleted between the check and the insert.
      return new ApiError('CONFLICT', 'a target or service of the request was deleted meanwhile');
    default:
      return err;
  }
}
