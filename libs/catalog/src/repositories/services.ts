import type { Arch, Service, ServiceState } from '@vaultline/db';
import { type Db, jsonOrDbNull } from '../db';

export interface ServiceFields {
  name: string;
  dataPath: string;
  excludes?: string[];
  arch: Arch;
  /** A hook object, null to clear it; undefined leaves it (update) or unset (create). */
  preHook?: object | null;
  postHook?: object | null;
  /** Dump sources (contracts' dumpSourcesSchema); undefined leaves them (update). */
  dumps?: object[];
  /** The node holding the data; null clears it (shared queues), undefined leaves it (update). */
  node?: string | null;
}

export class ServicesRepository {
  constructor(private readonly db: Db) {}

  /** CONFLICT when the name is taken. */
  create(fields: ServiceFields): Promise<Service> {
    return this.db.service.create({
      data: { ...columns(fields), name: fields.name, dataPath: fields.dataPath, arch: fields.arch },
    });
  }

  list(): Promise<Service[]> {
    return this.db.service.findMany({ orderBy: { name: 'asc' } });
  }

  find(id: string): Promise<Service | null> {
    return this.db.service.findUnique({ where: { id } });
  }

  /** NOT_FOUND for an unknown id, CONFLICT when the new name is taken. */
  update(id: string, fields: Partial<ServiceFields>): Promise<Service> {
    return this.db.service.update({ where: { id }, data: columns(fields) });
  }

  /** NOT_FOUND for an unknown id, FOREIGN_KEY while a plan still holds the service. */
  async remove(id: string): Promise<void> {
    await this.db.service.delete({ where: { id } });
  }

  /** The nodes services are placed on (each once). */
  async nodes(): Promise<string[]> {
    const rows = await this.db.service.findMany({
      where: { node: { not: null } },
      distinct: ['node'],
      select: { node: true },
    });
    return rows.flatMap((r) => (r.node ? [r.node] : []));
  }

  /** Which of `ids` exist. */
  async existingIds(ids: readonly string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const rows = await this.db.service.findMany({ where: { id: { in: [...ids] } }, select: { id: true } });
    return new Set(rows.map((r) => r.id));
  }

  namesOf(ids: readonly string[]): Promise<{ id: string; name: string }[]> {
    return this.db.service.findMany({ where: { id: { in: [...ids] } }, select: { id: true, name: true } });
  }

  /** The service is being backed up or restored (a worker holds its lock). */
  async markBusy(id: string, state: Exclude<ServiceState, 'idle'>): Promise<void> {
    await this.db.service.update({ where: { id }, data: { state } });
  }

  async markIdle(id: string): Promise<void> {
    await this.db.service.update({ where: { id }, data: { state: 'idle' } });
  }

  /** Services marked busy that have not changed since `before` (the reaper checks their locks). */
  listBusySince(before: Date, take: number): Promise<{ id: string; state: ServiceState }[]> {
    return this.db.service.findMany({
      where: { state: { not: 'idle' }, updatedAt: { lt: before } },
      select: { id: true, state: true },
      take,
    });
  }

  /** Back to idle only if still in `state` (a new job may have taken it meanwhile). Whether it did. */
  async releaseIfStill(id: string, state: ServiceState): Promise<boolean> {
    const { count } = await this.db.service.updateMany({ where: { id, state }, data: { state: 'idle' } });
    return count > 0;
  }
}

function columns(f: Partial<ServiceFields>) {
  return {
    name: f.name,
    dataPath: f.dataPath,
    excludes: f.excludes,
    arch: f.arch,
    preHook: jsonOrDbNull(f.preHook),
    postHook: jsonOrDbNull(f.postHook),
    node: f.node,
    dumps: f.dumps,
  } as const;
}
