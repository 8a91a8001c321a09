import { Body, Controller, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ApiError4xx, ApiZodBody } from '../common/openapi';
import { ZodBody } from '../common/zod-body.pipe';
import { type RunView, RunsService } from '../runs/runs.service';
import { type CreatePlan, createPlanSchema, type UpdatePlan, updatePlanSchema } from './plan.schemas';
import { type PlanView, PlansService } from './plans.service';

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
  update(@Param('id') id: string, @Body(new ZodBody(updatePlanSchema)) body: UpdatePlan): Promise<PlanView> {
    return this.plans.update(id, body);
  }

  @Post(':id/pause')
  @HttpCode(200)
  @ApiError4xx(404, 'unknown plan')
  pause(@Param('id') id: string): Promise<PlanView> {
    return this.plans.pause(id);
  }

  @Post(':id/resume')
  @HttpCode(200)
  @ApiError4xx(404, 'unknown plan')
  resume(@Param('id') id: string): Promise<PlanView> {
    return this.plans.resume(id);
  }

  /** Queues a manual run: one backup per service × target, then the report. */
  @Post(':id/runs')
  @HttpCode(202)
  @ApiError4xx(404, 'unknown plan')
  run(@Param('id') id: string): Promise<RunView> {
    return this.runs.start(id);
  }
}
