import { Body, Controller, Delete, Get, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiReturns, ApiZodBody } from '../common/openapi';
import { ZodBody } from '../common/zod-body.pipe';
import {
  type CreateService,
  createServiceSchema,
  type UpdateService,
  updateServiceSchema,
} from './service.schemas';
import { type FreshnessView, type ServiceView, ServicesService } from './services.service';

@ApiTags('services')
@ApiBearerAuth()
@Controller('v1/services')
export class ServicesController {
  constructor(private readonly services: ServicesService) {}

  @Post()
  @ApiReturns(201, 'ServiceView')
  @ApiZodBody('CreateService', createServiceSchema)
  @ApiErrors({ VALIDATION_FAILED: 'invalid field', CONFLICT: 'name already used' })
  create(@Body(new ZodBody(createServiceSchema)) body: CreateService): Promise<ServiceView> {
    return this.services.create(body);
  }

  @Get()
  @ApiReturns(200, ['ServiceView'])
  list(): Promise<ServiceView[]> {
    return this.services.list();
  }

  @Get(':id')
  @ApiReturns(200, 'ServiceView')
  @ApiErrors({ NOT_FOUND: 'unknown service' })
  get(@Param('id') id: string): Promise<ServiceView> {
    return this.services.get(id);
  }

  /** Per plan × target: the last successful backup and whether it is overdue for the plan's schedule. */
  @Get(':id/freshness')
  @ApiReturns(200, 'FreshnessView')
  @ApiErrors({ NOT_FOUND: 'unknown service' })
  freshness(@Param('id') id: string): Promise<FreshnessView> {
    return this.services.freshness(id);
  }

  @Patch(':id')
  @ApiReturns(200, 'ServiceView')
  @ApiZodBody('UpdateService', updateServiceSchema)
  @ApiErrors({
    VALIDATION_FAILED: 'invalid field',
    NOT_FOUND: 'unknown service',
    CONFLICT: 'name already used',
  })
  update(
    @Param('id') id: string,
    @Body(new ZodBody(updateServiceSchema)) body: UpdateService,
  ): Promise<ServiceView> {
    return this.services.update(id, body);
  }

  @Delete(':id')
  @ApiReturns(204, null)
  @ApiErrors({ NOT_FOUND: 'unknown service', CONFLICT: 'the service is in a plan' })
  remove(@Param('id') id: string): Promise<void> {
    return this.services.remove(id);
  }
}
