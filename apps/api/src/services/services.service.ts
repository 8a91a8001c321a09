import { Inject, Injectable } from '@nestjs/common';
import { type ApiConfig, OutboundDenied, OutboundPolicy } from '@vaultline/config';
import { Catalog, isCatalogError, type Service } from '@vaultline/catalog';
import { ApiError, invalidField, notFound } from '../common/api-error';
import { API_CONFIG } from '../common/tokens';
import { UUID_RE } from '../common/zod-body.pipe';
import type { DumpSource, Hook } from '@vaultline/contracts';
import { assessFreshness } from './freshness';
import type { CreateService, UpdateService } from './service.schemas';
import type { FreshnessView, ServiceView } from '@vaultline/contracts';
export type { FreshnessView, ServiceView };

const later = (a: Date | null | undefined, b: Date | null | undefined): Date | null =>
  a && b ? (a > b ? a : b) : (a ?? b ?? null);

function view(s: Service): ServiceView {
  return {
    id: s.id,
    name: s.name,
    dataPath: s.dataPath,
    excludes: s.excludes,
    // Only the API writes this column, through architectureSchema ('other' is for snapshots).
    arch: s.arch as ServiceView['arch'],
    // Only the API writes these columns, always through hookSchema.
    preHook: s.preHook as Hook | null,
    postHook: s.postHook as Hook | null,
    node: s.node,
    // Only the API writes this column, always through dumpSourcesSchema.
    dumps: s.dumps as DumpSource[],
    state: s.state,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

@Injectable()
export class ServicesService {
  private readonly outbound: OutboundPolicy;

  constructor(
    private readonly catalog: Catalog,
    @Inject(API_CONFIG) config: ApiConfig,
  ) {
    this.outbound = new OutboundPolicy({ allow: config.outboundAllowCidrs, deny: config.outboundDenyCidrs });
  }

  /** A 400 naming `preHook.url` / `postHook.url` at a denied address; unresolvable names pass. */
  private async checkHooks(input: { preHook?: Hook | null; postHook?: Hook | null }): Promise<void> {
    for (const which of ['preHook', 'postHook'] as const) {
      const h = input[which];
      if (h?.kind !== 'http') continue;
      try {
        await this.outbound.check(new URL(h.url).hostname);
      } catch (err) {
        if (err instanceof OutboundDenied)
          throw invalidField(
            `${which}.url`,
            'is a denied address (outbound policy, see docs/configuration.md)',
          );
      }
    }
  }

  async create(input: CreateService): Promise<ServiceView> {
    await this.checkHooks(input);
    try {
      const row = await this.catalog.services.create({
        name: input.name,
        dataPath: input.dataPath,
        excludes: input.excludes,
        arch: input.arch,
        preHook: input.preHook,
        postHook: input.postHook,
        node: input.node ?? null,
        dumps: input.dumps,
      });
      return view(row);
    } catch (err) {
      throw this.translate(err, input.name);
    }
  }

  async list(): Promise<ServiceView[]> {
    const rows = await this.catalog.services.list();
    return rows.map(view);
  }

  async get(id: string): Promise<ServiceView> {
    const row = UUID_RE.test(id) ? await this.catalog.services.find(id) : null;
    if (!row) throw notFound('service', id);
    return view(row);
  }

  /**
   * How recent the service's backups are, per target of every plan covering it (plans being deleted
   * left out): the last success from the catalog and the run results, against the plan's interval
   * (rule in freshness.ts).
   */
  async freshness(id: string): Promise<FreshnessView> {
    const service = UUID_RE.test(id) ? await this.catalog.services.find(id) : null;
    if (!service) throw notFound('service', id);
    const plans = await this.catalog.plans.listActiveForService(id);
    const planIds = plans.map((p) => p.id);
    const [snapshots, backups] = await Promise.all([
      this.catalog.snapshots.lastTimes(id, planIds),
      this.catalog.backups.lastSuccesses(planIds, id),
    ]);
    // Both keyed <planId>/<targetId>.
    const key = (planId: string, targetId: string): string => `${planId}/${targetId}`;
    const last = new Map<string, Date | null>(snapshots);
    for (const [k, finishedAt] of backups) last.set(k, later(last.get(k), finishedAt));
    const now = new Date();
    const entries = plans.flatMap((plan) =>
      plan.targets.map((pt) => {
        const lastSuccessAt = last.get(key(plan.id, pt.targetId)) ?? null;
        const f = assessFreshness({
          frequency: plan.frequency,
          paused: plan.paused,
          lastSuccessAt,
          since: pt.createdAt,
          now,
        });
        return {
          planId: plan.id,
          planName: plan.name,
          frequency: plan.frequency,
          paused: plan.paused,
          targetId: pt.targetId,
          targetName: pt.target.name,
          lastSuccessAt: lastSuccessAt ? lastSuccessAt.toISOString() : null,
          expectedIntervalHours: f.expectedIntervalHours,
          dueBy: f.dueBy.toISOString(),
          overdue: f.overdue,
        };
      }),
    );
    return {
      serviceId: service.id,
      serviceName: service.name,
      state: service.state,
      overdue: entries.some((e) => e.overdue),
      checkedAt: now.toISOString(),
      entries,
    };
  }

  async update(id: string, input: UpdateService): Promise<ServiceView> {
    if (!UUID_RE.test(id)) throw notFound('service', id);
    await this.checkHooks(input);
    try {
      const row = await this.catalog.services.update(id, {
        name: input.name,
        dataPath: input.dataPath,
        excludes: input.excludes,
        arch: input.arch,
        preHook: input.preHook,
        postHook: input.postHook,
        node: input.node,
        dumps: input.dumps,
      });
      return view(row);
    } catch (err) {
      throw this.translate(err, input.name, id);
    }
  }

  async remove(id: string): Promise<void> {
    if (!UUID_RE.test(id)) throw notFound('service', id);
    try {
      await this.catalog.services.remove(id);
    } catch (err) {
      throw this.translate(err, undefined, id);
    }
  }

  private translate(err: unknown, name?: string, id?: string): unknown {
    switch (isCatalogError(err) ? err.code : undefined) {
      case 'CONFLICT':
        return new ApiError('CONFLICT', `a service named ${JSON.stringify(name)} already exists`, [
          { path: 'name', message: 'is already used by another service' },
        ]);
      case 'NOT_FOUND':
        return notFound('service', id ?? '');
      case 'FOREIGN_KEY':
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
