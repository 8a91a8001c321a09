import {
  applyDecorators,
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiError4xx, ApiZodBody } from '../common/openapi';
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

const ApiPageQuery = (): MethodDecorator =>
  applyDecorators(
    ApiQuery({ name: 'limit', required: false, description: 'page size, 1-200 (default 50)' }),
    ApiQuery({ name: 'cursor', required: false, description: '`nextCursor` of the previous page' }),
  );

@ApiTags('plans')
@ApiBearerAuth()
@ApiError4xx(401, 'missing, invalid or revoked token')
@Controller('v1/plans')
export class PlansController {
  constructor(
    private readonly plans: PlansService,
    private readonly runs: RunsService,
  ) {}

  /** Creates the plan's repository on every target with the password, which is never stored. */
  @Post()
  @ApiZodBody(createPlanSchema)
  @ApiError4xx(400, 'invalid field, unknown target or service id')
  @ApiError4xx(409, 'name already used')
  create(@Body(new ZodBody(createPlanSchema)) body: CreatePlan): Promise<PlanView> {
    return this.plans.create(body);
  }

  @Get()
  list(): Promise<PlanView[]> {
    return this.plans.list();
  }

  /** The plan log: state, and per target the snapshot count, the space added and the last success. */
  @Get(':id')
  @ApiError4xx(404, 'unknown plan')
  get(@Param('id') id: string): Promise<PlanView> {
    return this.plans.get(id);
  }

  /** Schedule, retention, targets (adding one needs `password`) and services; never the name. */
  @Patch(':id')
  @ApiZodBody(updatePlanSchema)
  @ApiError4xx(400, 'invalid field, `name` given, or `password` missing or wrong for a new target')
  @ApiError4xx(404, 'unknown plan')
  @ApiError4xx(409, 'the plan is being deleted')
  update(@Param('id') id: string, @Body(new ZodBody(updatePlanSchema)) body: UpdatePlan): Promise<PlanView> {
    return this.plans.update(id, body);
  }

  @Post(':id/pause')
  @HttpCode(200)
  @ApiError4xx(404, 'unknown plan')
  @ApiError4xx(409, 'the plan is being deleted')
  pause(@Param('id') id: string): Promise<PlanView> {
    return this.plans.pause(id);
  }

  @Post(':id/resume')
  @HttpCode(200)
  @ApiError4xx(404, 'unknown plan')
  @ApiError4xx(409, 'the plan is being deleted')
  resume(@Param('id') id: string): Promise<PlanView> {
    return this.plans.resume(id);
  }

  /**
   * Deletes the plan and every snapshot it made, on every target: 202, the plan shows as
   * `deleting` until the worker has emptied each target. Repeating it is harmless and re-queues
   * what a failure left out.
   */
  @Delete(':id')
  @HttpCode(202)
  @ApiError4xx(404, 'unknown plan')
  @ApiError4xx(503, 'Redis unavailable: the plan stays marked deleting; repeat the request')
  remove(@Param('id') id: string): Promise<PlanView> {
    return this.plans.remove(id);
  }

  /**
   * Rebuilds the plan's snapshot catalog from its repositories, which are the truth: a worker lists
   * each target's snapshots with the writer key and corrects the catalog. 202: queued.
   */
  @Post(':id/catalog/sync')
  @HttpCode(202)
  @ApiError4xx(404, 'unknown plan')
  @ApiError4xx(409, 'the plan is being deleted')
  @ApiError4xx(503, 'Redis unavailable')
  syncCatalog(@Param('id') id: string): Promise<{ planId: string; targetIds: string[] }> {
    return this.plans.syncCatalog(id);
  }

  /**
   * Changes the password of every target's repository; existing snapshots open with the new one.
   * All targets must be reachable (docs/security.md, "Password change").
   */
  @Post(':id/password')
  @HttpCode(200)
  @ApiZodBody(changePasswordSchema)
  @ApiError4xx(400, 'invalid field')
  @ApiError4xx(422, 'WRONG_PASSWORD: `oldPassword` does not open the repositories (nothing changed)')
  @ApiError4xx(404, 'unknown plan')
  @ApiError4xx(409, 'the plan is being deleted, or its password is being changed')
  @ApiError4xx(503, 'a target is unreachable (nothing changed)')
  changePassword(
    @Param('id') id: string,
    @Body(new ZodBody(changePasswordSchema)) body: ChangePassword,
  ): Promise<PasswordChangeView> {
    return this.plans.changePassword(id, body);
  }

  /** The plan's catalogued snapshots, newest first. */
  @Get(':id/snapshots')
  @ApiPageQuery()
  @ApiQuery({ name: 'serviceId', required: false })
  @ApiQuery({ name: 'targetId', required: false })
  @ApiError4xx(400, 'invalid filter, limit or cursor')
  @ApiError4xx(404, 'unknown plan')
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
  @HttpCode(202)
  @ApiZodBody(verifyNowSchema)
  @ApiError4xx(400, 'invalid field')
  @ApiError4xx(422, 'WRONG_PASSWORD: `password` does not open the repositories (nothing queued)')
  @ApiError4xx(404, 'unknown plan')
  @ApiError4xx(409, 'the plan is being deleted')
  @ApiError4xx(503, 'Redis or a target (deep verify) unavailable')
  verify(
    @Param('id') id: string,
    @Body(new ZodBody(verifyNowSchema)) body: VerifyNow,
  ): Promise<{ planId: string; jobId: string; kind: 'scheduled' | 'deep' }> {
    return this.plans.verifyNow(id, body);
  }

  /** The plan's verifications (one per target and run), newest first. */
  @Get(':id/verifications')
  @ApiPageQuery()
  @ApiError4xx(400, 'invalid limit or cursor')
  @ApiError4xx(404, 'unknown plan')
  listVerifications(
    @Param('id') id: string,
    @Query(new ZodQuery(pageQuerySchema)) query: PageQuery,
  ): Promise<Page<VerificationView>> {
    return this.plans.verifications(id, query);
  }

  /** The plan's runs, newest first. */
  @Get(':id/runs')
  @ApiPageQuery()
  @ApiError4xx(400, 'invalid limit or cursor')
  @ApiError4xx(404, 'unknown plan')
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
  @HttpCode(202)
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '1-255 printable ASCII characters' })
  @ApiError4xx(400, 'invalid Idempotency-Key')
  @ApiError4xx(404, 'unknown plan')
  @ApiError4xx(409, 'the plan is being deleted, or a request with this Idempotency-Key is in progress')
  run(@Param('id') id: string, @Headers('idempotency-key') idempotencyKey?: string): Promise<RunView> {
    return this.runs.startManual(id, idempotencyKey);
  }
}
