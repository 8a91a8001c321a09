import { Injectable } from '@nestjs/common';
import { Prisma, type Service } from '@vaultline/db';
import { ApiError, notFound } from '../common/api-error';
import { prismaCode } from '../common/prisma-errors';
import { PrismaService } from '../common/prisma.service';
import { UUID_RE } from '../common/zod-body.pipe';
import type { Hook } from '@vaultline/contracts';
import type { CreateService, UpdateService } from './service.schemas';

export interface ServiceView {
  id: string;
  name: string;
  dataPath: string;
  excludes: string[];
  arch: string;
  preHook: Hook | null;
  postHook: Hook | null;
  state: string;
  createdAt: string;
  updatedAt: string;
}

function view(s: Service): ServiceView {
  return {
    id: s.id,
    name: s.name,
    dataPath: s.dataPath,
    excludes: s.excludes,
    arch: s.arch,
    // Only the API writes these columns, always through hookSchema.
    preHook: s.preHook as Hook | null,
    postHook: s.postHook as Hook | null,
    state: s.state,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

/** Prisma needs DbNull (not null) to store SQL NULL in a jsonb column; undefined leaves it as is. */
function hookValue(h: Hook | null | undefined): Prisma.InputJsonValue | typeof Prisma.DbNull | undefined {
  if (h === undefined) return undefined;
  return h === null ? Prisma.DbNull : h;
}

@Injectable()
export class ServicesService {
  constructor(private readonly prisma: PrismaService) {}

  async create(input: CreateService): Promise<ServiceView> {
    try {
      const row = await this.prisma.client.service.create({
        data: {
          name: input.name,
          dataPath: input.dataPath,
          excludes: input.excludes,
          arch: input.arch,
          preHook: hookValue(input.preHook),
          postHook: hookValue(input.postHook),
        },
      });
      return view(row);
    } catch (err) {
      throw this.translate(err, input.name);
    }
  }

  async list(): Promise<ServiceView[]> {
    const rows = await this.prisma.client.service.findMany({ orderBy: { name: 'asc' } });
    return rows.map(view);
  }

  async get(id: string): Promise<ServiceView> {
    const row = UUID_RE.test(id) ? await this.prisma.client.service.findUnique({ where: { id } }) : null;
    if (!row) throw notFound('service', id);
    return view(row);
  }

  async update(id: string, input: UpdateService): Promise<ServiceView> {
    if (!UUID_RE.test(id)) throw notFound('service', id);
    try {
      const row = await this.prisma.client.service.update({
        where: { id },
        data: {
          name: input.name,
          dataPath: input.dataPath,
          excludes: input.excludes,
          arch: input.arch,
          preHook: hookValue(input.preHook),
          postHook: hookValue(input.postHook),
        },
      });
      return view(row);
    } catch (err) {
      throw this.translate(err, input.name, id);
    }
  }

  async remove(id: string): Promise<void> {
    if (!UUID_RE.test(id)) throw notFound('service', id);
    try {
      await this.prisma.client.service.delete({ where: { id } });
    } catch (err) {
      throw this.translate(err, undefined, id);
    }
  }

  private translate(err: unknown, name?: string, id?: string): unknown {
    switch (prismaCode(err)) {
      case 'P2002':
        return new ApiError('CONFLICT', `a service named ${JSON.stringify(name)} already exists`, [
          { path: 'name', message: 'is already used by another service' },
        ]);
      case 'P2025':
        return notFound('service', id ?? '');
      case 'P2003':
        // plan_services.service_id is ON DELETE RESTRICT: the database is the arbiter, so a plan
        // added concurrently cannot slip past a check made beforehand.
        return new ApiError(
          'CONFLICT',
          `service ${JSON.stringify(id)} is used by a plan; remove it from its plans first`,
        );
      default:
        return err;
    }
  }
}
