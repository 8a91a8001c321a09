import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  deletePlanJobId,
  syncCatalogJobId,
  type RetentionPolicy,
  type Schedule,
  scheduleToCron,
  type VerifySettings,
  verifyToCron,
} from '@vaultline/contracts';
import { Catalog, isCatalogError, type Plan, type PlanDetails, type Target } from '@vaultline/catalog';
import type { Repository } from '@vaultline/engine';
import { sealPasswordEnvelope, type ServerKeys } from '@vaultline/secrets';
import { StorageError } from '@vaultline/storage';
import {
  closeRepository,
  type CreatedRepo,
  createPlanRepository,
  openPlanRepositoryWithPassword,
  type RepoKdf,
  removeNewRepository,
} from '@vaultline/targets';
import type { Logger } from 'pino';
import { ApiError, invalidField, notFound } from '../common/api-error';
import { isWrongPassword, repositoryError } from '../common/domain-errors';
import { QueuesService } from '../common/queues.service';
import { LOGGER, REPO_KDF, SERVER_KEYS } from '../common/tokens';
import { UUID_RE } from '../common/zod-body.pipe';
import { cursorOf, type Page, type PageQuery, pageOf } from '../runs/pagination';
import type { ChangePassword, CreatePlan, SnapshotQuery, UpdatePlan, VerifyNow } from './plan.schemas';
import type {
  PasswordChangeView,
  PlanState,
  PlanView,
  SnapshotView,
  VerificationView,
} from '@vaultline/contracts';
export type { PasswordChangeView, PlanState, PlanView, SnapshotView, VerificationView };

/** Serialises password changes of one plan (two at once could leave each other's key files). */
const PASSWORD_LOCK_TTL_S = 10 * 60;

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);
const latest = (...dates: (Date | null | undefined)[]): Date | null =>
  dates.reduce<Date | null>((a, d) => (d && (!a || d > a) ? d : a), null);

function stateOf(p: Plan): PlanState {
  if (p.deletedAt) return 'deleting';
  return p.paused ? 'paused' : 'active';
}

function scheduleOf(p: Plan): Schedule {
  return p.frequency === 'weekly'
    ? { frequency: 'weekly', time: p.startTime, dayOfWeek: p.dayOfWeek ?? 0, timezone: p.timezone }
    : { frequency: 'daily', time: p.startTime, timezone: p.timezone };
}

function verifyOf(p: Plan): VerifySettings {
  return { schedule: p.verifySchedule, percent: p.verifyPercent, time: p.verifyTime };
}

function verifyColumns(v: VerifySettings) {
  return { verifySchedule: v.schedule, verifyPercent: v.percent, verifyTime: v.time };
}

/** The verify scheduler of a plan: on the maintenance queue, beside its backup scheduler's id. */
const verifySchedulerId = (planId: string): string => `verify-${planId}`;

function scheduleColumns(s: Schedule) {
  return { frequency: s.frequency, startTime: s.time, dayOfWeek: s.dayOfWeek ?? null, timezone: s.timezone };
}

function viewOf({ plan, targets, services }: PlanDetails): PlanView {
  return {
    id: plan.id,
    name: plan.name,
    state: stateOf(plan),
    schedule: scheduleOf(plan),
    // Written only from a parsed RetentionPolicy (create and update).
    retention: plan.retention as RetentionPolicy,
    verify: verifyOf(plan),
    paused: plan.paused,
    deletedAt: iso(plan.deletedAt),
    targets: targets.map((pt) => ({
      id: pt.targetId,
      name: pt.target.name,
      kind: pt.target.kind,
      repoId: pt.repoId,
      repoLocation: pt.repoLocation,
      sizeBytes: Number(pt.bytesAdded),
      snapshotCount: pt.snapshotCount,
      // The run results too: a success is known there before the catalog row is written.
      lastSuccessAt: iso(latest(pt.lastSnapshotAt, pt.lastSuccessAt)),
    })),
    services: [...services].sort((a, b) => a.name.localeCompare(b.name)),
    createdAt: plan.createdAt.toISOString(),
    updatedAt: plan.updatedAt.toISOString(),
  };
}

@Injectable()
export class PlansService {
  constructor(
    private readonly catalog: Catalog,
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
      plan = await this.catalog.plans.create({
        name: input.name,
        ...scheduleColumns(input.schedule),
        retention: input.retention,
        ...(input.verify ? { verify: verifyColumns(input.verify) } : {}),
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
      await this.catalog.plans.attach(
        plan.id,
        created.map(({ target, repo }) => ({ targetId: target.id, ...repo })),
        input.serviceIds,
      );
      await this.upsertScheduler(plan.id, input.schedule);
      await this.syncVerifyScheduler(plan);
    } catch (err) {
      // Should a timed-out upsert still reach Redis, this removal follows it on the same connection.
      this.queues.jobs.removeScheduler('schedule.run', plan.id).catch((e: unknown) => {
        this.logger.warn(
          { err: e, planId: plan.id },
          'could not remove the scheduler of a half-created plan',
        );
      });
      this.queues.jobs
        .removeScheduler('maintenance.verify', verifySchedulerId(plan.id))
        .catch((e: unknown) => {
          this.logger.warn(
            { err: e, planId: plan.id },
            'could not remove the verify scheduler of a half-created plan',
          );
        });
      await this.catalog.plans.delete(plan.id).catch((e: unknown) => {
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
    // Plans being deleted are listed too: their name stays taken until the worker is done.
    // One read for all of them (a constant number of queries, however many plans there are).
    return (await this.catalog.plans.listWithTargets()).map(viewOf);
  }

  async get(id: string): Promise<PlanView> {
    const details = UUID_RE.test(id) ? await this.catalog.plans.findWithTargets(id) : null;
    if (!details) throw notFound('plan', id);
    return viewOf(details);
  }

  async update(id: string, input: UpdatePlan): Promise<PlanView> {
    if (input.name !== undefined) throw invalidField('name', 'cannot be changed after creation');
    const plan = await this.findActive(id);
    const current = await this.catalog.plans.repositoriesOf(id);
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
      await this.catalog.plans.applyChanges(id, {
        ...(input.schedule ? { schedule: scheduleColumns(input.schedule) } : {}),
        ...(input.verify ? { verify: verifyColumns(input.verify) } : {}),
        retention: input.retention,
        // A removed target's repository and snapshots stay on the target (deleting them is the
        // maintenance queue's job); the plan just stops writing there.
        removeTargetIds: removed,
        addRepositories: created.map(({ target, repo }) => ({ targetId: target.id, ...repo })),
        ...(input.serviceIds ? { serviceIds: input.serviceIds } : {}),
      });
    } catch (err) {
      await this.removeRepositories(created);
      throw translate(err, plan.name, id);
    }
    if (input.schedule && !plan.paused) await this.upsertScheduler(id, input.schedule);
    // The time zone is the schedule's: a new schedule moves the verify scheduler too.
    if ((input.verify || input.schedule) && !plan.paused) await this.syncVerifyScheduler(await this.find(id));
    return this.get(id);
  }

  async pause(id: string): Promise<PlanView> {
    await this.findActive(id);
    await this.catalog.plans.setPaused(id, true);
    // After the row: a firing between the two sees the plan paused and skips (PLAN_PAUSED).
    await this.queues.run(() => this.queues.jobs.removeScheduler('schedule.run', id));
    await this.removeVerifyScheduler(id);
    return this.get(id);
  }

  async resume(id: string): Promise<PlanView> {
    const plan = await this.findActive(id);
    await this.catalog.plans.setPaused(id, false);
    await this.upsertScheduler(id, scheduleOf(plan));
    await this.syncVerifyScheduler(plan);
    return this.get(id);
  }

  /**
   * Deletes the plan with all its snapshots (the Terminus rule: "deleting a backup task will also
   * remove all associated backup snapshots"). The row is marked first — from then on the plan shows
   * as deleting and refuses runs and changes — then its scheduler goes and one maintenance job per
   * target removes the snapshots there; the worker drops the plan's rows when the last one is done.
   * Idempotent and re-triable: when Redis fails (503) the plan stays marked, and calling again
   * queues what is missing (job ids are deterministic; a job that failed for good is retried).
   */
  async remove(id: string): Promise<PlanView> {
    const plan = await this.find(id);
    if (!plan.deletedAt) {
      // The condition keeps the first deletion time when two requests race.
      await this.catalog.plans.markDeleting(id);
    }
    // A firing that slips in before this sees the plan deleted and skips (PLAN_DELETED).
    await this.queues.run(() => this.queues.jobs.removeScheduler('schedule.run', id));
    await this.removeVerifyScheduler(id);
    const view = await this.get(id);
    const targets = (await this.catalog.plans.targetIdsOf(id)).map((targetId) => ({ targetId }));
    if (!targets.length) {
      // No repository anywhere (every target's job already finished): nothing left for a worker.
      await this.catalog.plans.delete(id);
      return view;
    }
    await this.queues.run(async () => {
      for (const { targetId } of targets) {
        const jobId = deletePlanJobId(id, targetId);
        const existing = await this.queues.jobs.find('maintenance.deletePlan', jobId);
        if (existing) {
          if (await existing.isFailed()) await existing.retry('failed');
          continue;
        }
        await this.queues.jobs.queue({
          name: 'maintenance.deletePlan',
          data: { planId: id, targetId },
          opts: { jobId },
        });
      }
    });
    return view;
  }

  /**
   * Rebuilds the plan's snapshot catalog from its repositories (the truth): one
   * `maintenance.syncCatalog` job per target, run by a worker with the writer key. For a catalog
   * that lost rows (a restored database dump, rows removed by hand) or has rows of snapshots that
   * are gone (someone pruned with the CLI). 202 with the targets queued; a sync already pending for
   * a target is not queued twice.
   */
  async syncCatalog(id: string): Promise<{ planId: string; targetIds: string[] }> {
    await this.findActive(id);
    const targets = (await this.catalog.plans.targetIdsOf(id)).map((targetId) => ({ targetId }));
    await this.queues.run(async () => {
      for (const { targetId } of targets) {
        // Removed once done (the registry's removeOnComplete), so the next request can queue it again.
        await this.queues.jobs.queue({
          name: 'maintenance.syncCatalog',
          data: { planId: id, targetId },
          opts: { jobId: syncCatalogJobId(id, targetId) },
        });
      }
    });
    return { planId: id, targetIds: targets.map((t) => t.targetId) };
  }

  /**
   * Changes the plan's password on every target, without re-encrypting anything: a key file is a
   * wrapping of the repository's master keys, so every existing snapshot opens with the new password
   * (unlike StartOS, where old backups keep the old one). All or nothing as far as the targets allow
   * (docs/security.md "Password change"):
   *   1. every repository is opened with the old password — a wrong one (422 WRONG_PASSWORD) or an
   *      unreachable target (503) refuses the change before anything is written; a target the new
   *      password already opens (a repeated request) is left as it is;
   *   2. a key file for the new password is added to each — a failure removes those added (503);
   *   3. the old key file is removed from each — a failure there leaves the old password working on
   *      that target only, reported per target (`oldKeyRemoved: false`) rather than hidden.
   * Steps 2 and 3 are the engine's changePassword split across targets.
   */
  async changePassword(id: string, input: ChangePassword): Promise<PasswordChangeView> {
    await this.findActive(id);
    const lock = `${this.queues.prefix}:lock:plan-password:${id}`;
    const token = randomUUID();
    const locked = await this.queues.run(() =>
      this.queues.redis.set(lock, token, 'EX', PASSWORD_LOCK_TTL_S, 'NX'),
    );
    if (locked !== 'OK') throw new ApiError('CONFLICT', "the plan's password is already being changed");
    try {
      return await this.rekey(id, input);
    } finally {
      // Only our own lock: compare-and-delete in one step.
      await this.queues.redis
        .eval(
          "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
          1,
          lock,
          token,
        )
        .catch((e: unknown) => {
          this.logger.warn({ err: e, planId: id }, 'could not release the password-change lock');
        });
    }
  }

  private async rekey(id: string, input: ChangePassword): Promise<PasswordChangeView> {
    const rows = await this.catalog.plans.repositoriesOf(id);
    const opened: { target: Target; session: Repository; already: boolean; newKeyId?: string }[] = [];
    try {
      for (const row of rows) {
        opened.push({ target: row.target, ...(await this.probe(row.target, row.repoLocation, input)) });
      }
      try {
        for (const o of opened) {
          if (!o.already) o.newKeyId = await o.session.addKey(input.newPassword, this.kdf);
        }
      } catch (err) {
        for (const o of opened) {
          const keyId = o.newKeyId;
          if (keyId === undefined) continue;
          await o.session.removeKey(keyId).catch((e: unknown) => {
            this.logger.error(
              { err: e, planId: id, targetId: o.target.id },
              'could not take back a new key file',
            );
          });
        }
        throw storageFailure(err, opened.find((o) => !o.already && o.newKeyId === undefined)?.target);
      }
      const targets: PasswordChangeView['targets'] = [];
      for (const o of opened) {
        const oldKeyId = o.session.keyId;
        let oldKeyRemoved = true;
        try {
          if (!o.already && oldKeyId !== null) await o.session.removeKey(oldKeyId);
        } catch (err) {
          oldKeyRemoved = false;
          this.logger.error({ err, planId: id, targetId: o.target.id }, 'could not remove the old key file');
        }
        targets.push({ id: o.target.id, name: o.target.name, oldKeyRemoved, alreadyChanged: o.already });
      }
      this.logger.info({ planId: id, targets: targets.length }, 'plan password changed');
      return { planId: id, targets };
    } finally {
      for (const o of opened) await closeRepository(o.session);
    }
  }

  /** The plan log: its catalogued snapshots, newest first, optionally of one service or target. */
  /**
   * Queues a verification of every target now: with the writer key (the plan's share unless
   * `percent`), or — with the password, checked against every target first (422 naming
   * `password`) — a deep one. The password goes to the worker sealed like a restore's, bound to a
   * fresh request id; it is neither logged nor stored.
   */
  async verifyNow(
    id: string,
    input: VerifyNow,
  ): Promise<{ planId: string; jobId: string; kind: 'scheduled' | 'deep' }> {
    const plan = await this.findActive(id);
    if (input.password === undefined) {
      const percent = input.percent ?? plan.verifyPercent;
      const job = await this.queues.run(() =>
        this.queues.jobs.queue({
          name: 'maintenance.verify',
          data: { planId: id, kind: 'scheduled', percent },
        }),
      );
      return { planId: id, jobId: String(job.id), kind: 'scheduled' };
    }
    const password = input.password;
    for (const pt of await this.catalog.plans.repositoriesOf(id)) {
      await this.checkPassword(pt.target, pt.repoLocation, password);
    }
    const requestId = randomUUID();
    const passwordEnvelope = sealPasswordEnvelope(this.keys, requestId, password);
    const job = await this.queues.run(() =>
      this.queues.jobs.queue({
        name: 'maintenance.verify',
        data: { planId: id, kind: 'deep', requestId, passwordEnvelope },
      }),
    );
    return { planId: id, jobId: String(job.id), kind: 'deep' };
  }

  /** The plan's verifications, newest first (a deleting plan's too, until it goes). */
  async verifications(id: string, query: PageQuery): Promise<Page<VerificationView>> {
    await this.find(id);
    const rows = await this.catalog.verifications.pageForPlan(id, cursorOf(query), query.limit + 1);
    return pageOf(
      rows,
      query.limit,
      (v) => ({ time: v.startedAt, id: v.id }),
      (v): VerificationView => ({
        id: v.id,
        targetId: v.targetId,
        targetName: v.target.name,
        kind: v.kind,
        status: v.status,
        slice:
          v.sliceIndex !== null && v.sliceCount !== null
            ? { index: v.sliceIndex, count: v.sliceCount }
            : null,
        packsRead: v.packsRead,
        packsTotal: v.packsTotal,
        errors: v.errors,
        ok: v.ok,
        startedAt: v.startedAt.toISOString(),
        finishedAt: iso(v.finishedAt),
      }),
    );
  }

  async snapshots(id: string, query: SnapshotQuery): Promise<Page<SnapshotView>> {
    await this.find(id);
    const after = cursorOf(query);
    const rows = await this.catalog.snapshots.pageForPlan(
      id,
      {
        ...(query.serviceId ? { serviceId: query.serviceId } : {}),
        ...(query.targetId ? { targetId: query.targetId } : {}),
      },
      after,
      query.limit + 1,
    );
    // The run result of each snapshot says whether files were left out.
    const unreadable = await this.catalog.backups.unreadableCounts(
      id,
      rows.map((r) => r.id),
    );
    return pageOf(
      rows,
      query.limit,
      (r) => ({ time: r.time, id: r.id, key: r.targetId }),
      (r) => {
        const skipped = unreadable.get(`${r.id}/${r.targetId}`) ?? 0;
        return {
          id: r.id,
          time: r.time.toISOString(),
          serviceId: r.serviceId,
          serviceName: r.service?.name ?? null,
          targetId: r.targetId,
          targetName: r.target.name,
          runId: r.runId,
          arch: r.arch,
          totalBytes: Number(r.totalBytes),
          bytesAdded: Number(r.bytesAdded),
          files: r.files,
          status: skipped > 0 ? 'partial' : 'success',
          unreadable: skipped,
        };
      },
    );
  }

  /** The plan, or 404 for an unknown id or a non-UUID (a plan being deleted included). */
  async find(id: string): Promise<Plan> {
    const row = UUID_RE.test(id) ? await this.catalog.plans.find(id) : null;
    if (!row) throw notFound('plan', id);
    return row;
  }

  /** The plan, or 409 when it is being deleted: it takes no more changes. */
  private async findActive(id: string): Promise<Plan> {
    const row = await this.find(id);
    if (row.deletedAt) throw new ApiError('CONFLICT', `plan ${JSON.stringify(id)} is being deleted`);
    return row;
  }

  /** One job scheduler per plan, keyed by the plan id: upserting replaces the old schedule. */
  private async upsertScheduler(planId: string, schedule: Schedule): Promise<void> {
    await this.queues.run(() =>
      this.queues.jobs.upsertScheduler(planId, scheduleToCron(schedule), {
        name: 'schedule.run',
        data: { planId },
      }),
    );
  }

  /**
   * The plan's verify scheduler as its row says: upserted (`maintenance.verify` at its verify
   * time in the plan's time zone, daily or weekly), or removed when verification is off.
   */
  private async syncVerifyScheduler(plan: Plan): Promise<void> {
    const repeat = verifyToCron({ schedule: plan.verifySchedule, time: plan.verifyTime }, plan.timezone);
    if (!repeat) return this.removeVerifyScheduler(plan.id);
    await this.queues.run(() =>
      this.queues.jobs.upsertScheduler(verifySchedulerId(plan.id), repeat, {
        name: 'maintenance.verify',
        data: { planId: plan.id, kind: 'scheduled' },
      }),
    );
  }

  private async removeVerifyScheduler(planId: string): Promise<void> {
    await this.queues.run(() =>
      this.queues.jobs.removeScheduler('maintenance.verify', verifySchedulerId(planId)),
    );
  }

  private async initRepository(target: Target, planId: string, password: string): Promise<CreatedRepo> {
    try {
      return await createPlanRepository(this.keys, target, planId, password, this.kdf);
    } catch (err) {
      throw storageFailure(err, target);
    }
  }

  /**
   * Opens a target's repository for a password change: with the old password, or — when that fails
   * and the new one opens it — as already changed (a repeated request finishing what a failed
   * removal of the old key file left, step 3 of changePassword). Neither: 422 WRONG_PASSWORD on
   * oldPassword.
   */
  private async probe(
    target: Target,
    location: string,
    input: ChangePassword,
  ): Promise<{ session: Repository; already: boolean }> {
    try {
      return {
        session: await openPlanRepositoryWithPassword(this.keys, target, location, input.oldPassword),
        already: false,
      };
    } catch (err) {
      if (!isWrongPassword(err)) throw storageFailure(err, target);
    }
    try {
      return {
        session: await openPlanRepositoryWithPassword(this.keys, target, location, input.newPassword),
        already: true,
      };
    } catch (err) {
      if (!isWrongPassword(err)) throw storageFailure(err, target);
    }
    const message = `does not open the plan's repository on target ${JSON.stringify(target.name)}`;
    throw new ApiError('WRONG_PASSWORD', `oldPassword ${message}`, [{ path: 'oldPassword', message }]);
  }

  private async checkPassword(target: Target, location: string, password: string): Promise<void> {
    try {
      await closeRepository(await openPlanRepositoryWithPassword(this.keys, target, location, password));
    } catch (err) {
      throw repositoryError(err, targetName(target), {
        WRONG_PASSWORD: () =>
          new ApiError('WRONG_PASSWORD', "password does not open the plan's repositories", [
            { path: 'password', message: "does not open the plan's repositories" },
          ]),
      });
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
    const rows = await this.catalog.targets.findMany(ids);
    const missing = ids.filter((id) => !rows.some((r) => r.id === id));
    if (missing.length) throw invalidField('targetIds', `unknown target ${missing.join(', ')}`);
    // In the order given: repositories are created in that order.
    return ids.map((id) => rows.find((r) => r.id === id) as Target);
  }

  private async checkServices(ids: readonly string[]): Promise<void> {
    const found = await this.catalog.services.existingIds(ids);
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length) throw invalidField('serviceIds', `unknown service ${missing.join(', ')}`);
  }
}

const targetName = (target: Target): string => `target ${JSON.stringify(target.name)}`;

/**
 * A target that cannot take the repository is the target's problem, told with its name (the
 * tables of domain-errors.ts say which code). Without the target only a storage failure is told.
 */
function storageFailure(err: unknown, target: Target | undefined): unknown {
  if (target) return repositoryError(err, targetName(target));
  return err instanceof StorageError ? repositoryError(err, 'a target') : err;
}

function translate(err: unknown, name?: string, id?: string): unknown {
  switch (isCatalogError(err) ? err.code : undefined) {
    case 'CONFLICT':
      return new ApiError('CONFLICT', `a plan named ${JSON.stringify(name)} already exists`, [
        { path: 'name', message: 'is already used by another plan' },
      ]);
    case 'NOT_FOUND':
      return notFound('plan', id ?? '');
    case 'FOREIGN_KEY':
      // A target or service deleted between the check and the insert.
      return new ApiError('CONFLICT', 'a target or service of the request was deleted meanwhile');
    default:
      return err;
  }
}
