import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ApiError4xx } from '../common/openapi';
import { type ReportView, type RunView, RunsService } from './runs.service';

@ApiTags('runs')
@ApiBearerAuth()
@ApiError4xx(401, 'missing, invalid or revoked token')
@Controller('v1/runs')
export class RunsController {
  constructor(private readonly runs: RunsService) {}

  @Get(':id')
  @ApiError4xx(404, 'unknown run')
  get(@Param('id') id: string): Promise<RunView> {
    return this.runs.get(id);
  }

  /** The run's report: status and summary, once the report service has aggregated the run. */
  @Get(':id/report')
  @ApiError4xx(404, 'unknown run')
  @ApiError4xx(409, 'the run has no report yet (still queued or running): retry later')
  report(@Param('id') id: string): Promise<ReportView> {
    return this.runs.report(id);
  }
}
