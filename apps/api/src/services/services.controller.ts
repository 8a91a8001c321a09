import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ApiError4xx, ApiZodBody } from '../common/openapi';
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
@ApiError4xx(401, 'missing, invalid or revoked token')
@Controller('v1/services')
export class ServicesController {
  constructor(private readonly services: ServicesService) {}

  @Post()
  @ApiZodBody(createServiceSchema)
  @ApiError4xx(400, 'invalid field')
  @ApiError4xx(409, 'name already used')
  create(@Body(new ZodBody(createServiceSchema)) body: CreateService): Promise<ServiceView> {
    return this.services.create(body);
  }

  @Get()
  list(): Promise<ServiceView[]> {
    return this.services.list();
  }

  @Get(':id')
  @ApiError4xx(404, 'unknown service')
  get(@Param('id') id: string): Promise<ServiceView> {
    return this.services.get(id);
  }

  /** Per plan × target: the last successful backup and whether it is overdue for the plan's schedule. */
  @Get(':id/freshness')
  @ApiError4xx(404, 'unknown service')
  freshness(@Param('id') id: string): Promise<FreshnessView> {
    return this.services.freshness(id);
  }

  @Patch(':id')
  @ApiZodBody(updateServiceSchema)
  @ApiError4xx(400, 'invalid field')
  @ApiError4xx(404, 'unknown service')
  @ApiError4xx(409, 'name already used')
  update(
    @Param('id') id: string,
    @Body(new ZodBody(updateServiceSchema)) body: UpdateService,
  ): Promise<ServiceView> {
    return this.services.update(id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiError4xx(404, 'unknown service')
  @ApiError4xx(409, 'the service is in a plan')
  remove(@Param('id') id: string): Promise<void> {
    return this.services.remove(id);
  }
}
