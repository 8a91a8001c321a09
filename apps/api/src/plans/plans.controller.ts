import { Body, Controller, Delete, Get, Headers, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiReturns, ApiZodBody, ApiZodQuery } from '../common/openapi';
import { ZodBody, ZodQuery } from '../common/zod-body.pipe';
import { type Page, type PageQuery, pageQuerySchema } from '../runs/pagination';
import { type RunSummaryView, type RunView, RunsService } from '../runs/runs.service';
import {
  type ChangePassword,
  changePasswordSchema,
  type CreatePlan,
  createPlanSchema,
  type SnapshotQuery,
  snapshotQuerySchema,
  type UpdatePlan,
  updatePlanSchema,
  type VerifyNow,
  verifyNowSchema,
} from './plan.schemas';
import {
  type PasswordChangeView,
  type PlanView,
  PlansService,
  type SnapshotView,
  type VerificationView,
} from './plans.service';

const PAGE_QUERY = { limit: 'page size, 1-200 (default 50)', cursor: '`nextCursor` of the previous page' };
const UNKNOWN_PLAN = { NOT_FOUND: 'unknown plan' } as const;
const DELETING = 'the plan is being deleted';

@ApiTags('plans')
@ApiBearerAuth()
@Controller('v1/plans')
export class PlansController {
  constructor(
    private readonly plans: PlansService,
    private readonly runs: RunsService,
  ) {}

  /** Creates the plan's repository on every target with the password, which is never stored. */
  @Post()
  @ApiReturns(201, 'PlanView')
  @ApiZodBody('CreatePlan', createPlanSchema)
  @ApiErrors({
    VALIDATION_FAILED: 'invalid field, unknown target or service id',
    CONFLICT: 'name already used, or a target or service was deleted meanwhile',
    UNAVAILABLE: 'a target is unreachable (no repository was created)',
  })
  create(@Body(new ZodBody(createPlanSchema)) body: CreatePlan): Promise<PlanView> {
    return this.plans.create(body);
  }

  @Get()
  @ApiReturns(200, ['PlanView'])
  list(): Promise<PlanView[]> {
    return this.plans.list();
  }

  /** The plan log: state, and per target the snapshot count, the space added and the last success. */
  @Get(':id')
  @ApiReturns(200, 'PlanView')
  @ApiErrors(UNKNOWN_PLAN)
  get(@Param('id') id: string): Promise<PlanView> {
    return this.plans.get(id);
  }

  /** Schedule, retention, targets (adding one needs `password`) and services; never the name. */
  @Patch(':id')
  @ApiReturns(200, 'PlanView')
  @ApiZodBody('UpdatePlan', updatePlanSchema)
  @ApiErrors({
    VALIDATION_FAILED: 'invalid field, `name` given, or `password` missing for a new target',
    WRONG_PASSWORD: "`password` does not open the plan's repositories (a new target)",
    ...UNKNOWN_PLAN,
    CONFLICT: `${DELETING}, or a target or service was deleted meanwhile`,
    UNAVAILABLE: 'a target is unreachable (a new target)',
  })
  update(@Param('id') id: string, @Body(new ZodBody(updatePlanSchema)) body: UpdatePlan): Promise<PlanView> {
    return this.plans.update(id, body);
  }

  @Post(':id/pause')
  @ApiReturns(200, 'PlanView')
  @ApiErrors({ ...UNKNOWN_PLAN, CONFLICT: DELETING, UNAVAILABLE: 'Redis unavailable' })
  pause(@Param('id') id: string): Promise<PlanView> {
    return this.plans.pause(id);
  }

  @Post(':id/resume')
  @ApiReturns(200, 'PlanView')
  @ApiErrors({ ...UNKNOWN_PLAN, CONFLICT: DELETING, UNAVAILABLE: 'Redis unavailable' })
  resume(@Param('id') id: string): Promise<PlanView> {
    return this.plans.resume(id);
  }

  /**
   * Deletes the plan and every snapshot it made, on every target: 202, the plan shows as
   * `deleting` until the worker has emptied each target. Repeating it is harmless and re-queues
   * what a failure left out.
   */
  @Delete(':id')
  @ApiReturns(202, 'PlanView', 'deletion queued: the plan, `state` deleting')
  @ApiErrors({
    ...UNKNOWN_PLAN,
    UNAVAILABLE: 'Redis unavailable: the plan stays marked deleting; repeat the request',
  })
  remove(@Param('id') id: string): Promise<PlanView> {
    return this.plans.remove(id);
  }

  /**
   * Rebuilds the plan's snapshot catalog from its repositories, which are the truth: a worker lists
   * each target's snapshots with the writer key and corrects the catalog. 202: queued.
   */
  @Post(':id/catalog/sync')
  @ApiReturns(202, 'CatalogSyncView', 'queued: one sync per target')
  @ApiErrors({ ...UNKNOWN_PLAN, CONFLICT: DELETING, UNAVAILABLE: 'Redis unavailable' })
  syncCatalog(@Param('id') id: string): Promise<{ planId: string; targetIds: string[] }> {
    return this.plans.syncCatalog(id);
  }

  /**
   * Changes the password of every target's repository; existing snapshots open with the new one.
   * All targets must be reachable (docs/security.md, "Password change").
   */
  @Post(':id/password')
  @ApiReturns(200, 'PasswordChangeView')
  @ApiZodBody('ChangePassword', changePasswordSchema)
  @ApiErrors({
    VALIDATION_FAILED: 'invalid field',
    WRONG_PASSWORD: '`oldPassword` does not open the repositories (nothing changed)',
    ...UNKNOWN_PLAN,
    CONFLICT: `${DELETING}, or its password is being changed`,
    UNAVAILABLE: 'a target or Redis is unreachable (nothing changed)',
  })
  changePassword(
    @Param('id') id: string,
    @Body(new ZodBody(changePasswordSchema)) body: ChangePassword,
  ): Promise<PasswordChangeView> {
    return this.plans.changePassword(id, body);
  }

  /** The plan's catalogued snapshots, newest first. */
  @Get(':id/snapshots')
  @ApiReturns(200, 'SnapshotPage')
  @ApiZodQuery(snapshotQuerySchema, {
    ...PAGE_QUERY,
    serviceId: 'only the snapshots of this service',
    targetId: 'only the snapshots on this target',
  })
  @ApiErrors({ VALIDATION_FAILED: 'invalid filter, limit or cursor', ...UNKNOWN_PLAN })
  snapshots(
    @Param('id') id: string,
    @Query(new ZodQuery(snapshotQuerySchema)) query: SnapshotQuery,
  ): Promise<Page<SnapshotView>> {
    return this.plans.snapshots(id, query);
  }

  /**
   * Verifies the plan's repositories now: with the writer key (the next slice of `percent`), or
   * with `password` a deep verify (every blob decrypted and authenticated). One
   * `maintenance.verify` job, its rows in GET verifications. 202: queued.
   */
  @Post(':id/verify')
  @ApiReturns(202, 'VerifyQueuedView', 'queued: the `maintenance.verify` job')
  @ApiZodBody('VerifyNow', verifyNowSchema)
  @ApiErrors({
    VALIDATION_FAILED: 'invalid field',
    WRONG_PASSWORD: '`password` does not open the repositories (nothing queued)',
    ...UNKNOWN_PLAN,
    CONFLICT: DELETING,
    UNAVAILABLE: 'Redis or a target (deep verify) unavailable',
  })
  verify(
    @Param('id') id: string,
    @Body(new ZodBody(verifyNowSchema)) body: VerifyNow,
  ): Promise<{ planId: string; jobId: string; kind: 'scheduled' | 'deep' }> {
    return this.plans.verifyNow(id, body);
  }

  /** The plan's verifications (one per target and run), newest first. */
  @Get(':id/verifications')
  @ApiReturns(200, 'VerificationPage')
  @ApiZodQuery(pageQuerySchema, PAGE_QUERY)
  @ApiErrors({ VALIDATION_FAILED: 'invalid limit or cursor', ...UNKNOWN_PLAN })
  listVerifications(
    @Param('id') id: string,
    @Query(new ZodQuery(pageQuerySchema)) query: PageQuery,
  ): Promise<Page<VerificationView>> {
    return this.plans.verifications(id, query);
  }

  /** The plan's runs, newest first. */
  @Get(':id/runs')
  @ApiReturns(200, 'RunSummaryPage')
  @ApiZodQuery(pageQuerySchema, PAGE_QUERY)
  @ApiErrors({ VALIDATION_FAILED: 'invalid limit or cursor', ...UNKNOWN_PLAN })
  listRuns(
    @Param('id') id: string,
    @Query(new ZodQuery(pageQuerySchema)) query: PageQuery,
  ): Promise<Page<RunSummaryView>> {
    return this.runs.listForPlan(id, query);
  }

  /**
   * Queues a manual run: one backup per service × target, then the report. The same
   * Idempotency-Key within 24 h returns the run the first request queued.
   */
  @Post(':id/runs')
  @ApiReturns(202, 'RunView', 'queued (or the run this Idempotency-Key queued before)')
  // Named as @Headers reads it (lower case), so it replaces the parameter Nest infers (required).
  @ApiHeader({ name: 'idempotency-key', required: false, description: '1-255 printable ASCII characters' })
  @ApiErrors({
    VALIDATION_FAILED: 'invalid Idempotency-Key',
    ...UNKNOWN_PLAN,
    CONFLICT: `${DELETING}, or a request with this Idempotency-Key is in progress`,
    UNAVAILABLE: 'Redis unavailable',
  })
  run(@Param('id') id: string, @Headers('idempotency-key') idempotencyKey?: string): Promise<RunView> {
    return this.runs.startManual(id, idempotencyKey);
  }
}
