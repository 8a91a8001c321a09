import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiReturns } from '../common/openapi';
import { type ReportView, type RunView, RunsService } from './runs.service';

@ApiTags('runs')
@ApiBearerAuth()
@Controller('v1/runs')
export class RunsController {
  constructor(private readonly runs: RunsService) {}

  @Get(':id')
  @ApiReturns(200, 'RunView')
  @ApiErrors({ NOT_FOUND: 'unknown run' })
  get(@Param('id') id: string): Promise<RunView> {
    return this.runs.get(id);
  }

  /** The run's report: status and summary, once the report service has aggregated the run. */
  @Get(':id/report')
  @ApiReturns(200, 'ReportView')
  @ApiErrors({
    NOT_FOUND: 'unknown run',
    CONFLICT: 'the run has no report yet (still queued or running): retry later',
  })
  report(@Param('id') id: string): Promise<ReportView> {
    return this.runs.report(id);
  }
}
