import path from 'node:path';

import { Inject, Injectable } from '@nestjs/common';
import { parseJobPayload, restoreJobId } from '@vaultline/contracts';
import { Catalog, type RestoreWithNames, type Service, type Snapshot, type Target } from '@vaultline/catalog';
import { sealPasswordEnvelope, type ServerKeys } from '@vaultline/secrets';
import { planRepoLocation } from '@vaultline/targets';
import type { ApiConfig } from '@vaultline/config';
import type { Logger } from 'pino';

import { ApiError, invalidField, notFound } from '../common/api-error';
import { QueuesService } from '../common/queues.service';
import { API_CONFIG, LOGGER, SERVER_KEYS } from '../common/tokens';
import { UUID_RE } from '../common/zod-body.pipe';
import { checkRestorePassword } from './restore-repository';
import type { CreateRestore, ListRestoresQuery } from './restore.schemas';
import type { RestoreView } from '@vaultline/contracts';
export type { RestoreView };

/** Other than the service's: the snapshot's architecture, when a restore crosses (there are two). */
function crossArchWarning(snapshotId: string, service: Service): string {
  const other = service.arch === 'arm64' ? 'x86_64' : 'arm64';
  return (
    `snapshot ${snapshotId} was taken on ${other}, service ${JSON.stringify(service.name)} ` +
    `is declared ${service.arch}: the service will need reinstalling after the restore`
  );
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

function viewOf(r: RestoreWithNames): RestoreView {
  return {
    id: r.id,
    serviceId: r.serviceId,
    serviceName: r.service.name,
    snapshotId: r.snapshotId,
    targetId: r.targetId,
    targetName: r.target.name,
    destination: r.destination,
    status: r.status,
    error: r.error,
    crossArch: r.crossArch,
    warnings: [...(r.crossArch ? [crossArchWarning(r.snapshotId, r.service)] : []), ...r.warnings],
    node: r.node,
    queuedAt: r.queuedAt.toISOString(),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
  };
}

@Injectable()
export class RestoresService {
  constructor(
    private readonly catalog: Catalog,
    private readonly queues: QueuesService,
    @Inject(SERVER_KEYS) private readonly keys: ServerKeys,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  /**
   * Checks everything that can be checked here — the snapshot in the catalog, the architecture,
   * the password against the repository — then records the restore and queues it. The password
   * leaves this method only inside a sealed envelope bound to the restore id.
   */
  async create(input: CreateRestore): Promise<RestoreView> {
    const service = await this.catalog.services.find(input.serviceId);
    if (!service) throw notFound('service', input.serviceId);
    // Before any repository is opened: a refused destination costs nothing.
    if (input.destination !== undefined) this.assertAllowedDestination(input.destination, service);
    if (input.targetId !== undefined) {
      const target = await this.catalog.targets.find(input.targetId);
      if (!target) throw notFound('target', input.targetId);
    }
    if (input.planId !== undefined) {
      const plan = await this.catalog.plans.find(input.planId);
      if (!plan || plan.deletedAt) throw notFound('plan', input.planId);
    }
    const snapshot = await this.findSnapshot(input, service);

    const crossArch = snapshot.arch !== service.arch;
    if (crossArch && !input.allowCrossArch) {
      throw new ApiError(
        'CROSS_ARCH',
        `snapshot ${snapshot.id} was taken on ${snapshot.arch} but service ${JSON.stringify(service.name)} ` +
          `is declared ${service.arch}: after the restore the service will need reinstalling. ` +
          'Send allowCrossArch: true to restore it anyway.',
        [{ path: 'allowCrossArch', message: `must be true to restore a ${snapshot.arch} snapshot` }],
      );
    }

    const target = snapshot.target;
    // A target detached from the plan keeps its repository (and snapshots) where the plan put it.
    const planTarget = await this.catalog.plans.findRepository(snapshot.planId, target.id);
    const location = planTarget?.repoLocation ?? planRepoLocation(target, snapshot.planId);

    const destination = input.destination ?? service.dataPath;
    // The body's destination is checked by the schema; a service's data path could still be '/'.
    if (path.posix.normalize(destination) === '/') {
      throw invalidField('destination', "must not be the root folder / (the service's data path is /)");
    }
    // Last of the checks: Argon2id is the expensive one, and nothing is written before it passed.
    await checkRestorePassword(this.keys, target, location, input.password, snapshot.id);

    const restore = await this.catalog.restores.create({
      serviceId: service.id,
      snapshotId: snapshot.id,
      targetId: target.id,
      destination,
      crossArch,
      // The data is on that node: only its workers can write it back.
      node: service.node,
    });
    try {
      const data = parseJobPayload('restore.run', {
        restoreId: restore.id,
        planId: snapshot.planId,
        serviceId: service.id,
        targetId: target.id,
        // The id, never 'latest': a retried job restores the same snapshot even if a backup ended.
        snapshot: snapshot.id,
        destination,
        allowCrossArch: input.allowCrossArch,
        verify: input.verify,
        passwordEnvelope: sealPasswordEnvelope(this.keys, restore.id, input.password),
      });
      // Attempts and backoff: the registry's (JOBS['restore.run'].defaults).
      await this.queues.run(() =>
        this.queues.jobs.queue({
          name: 'restore.run',
          data,
          opts: { jobId: restoreJobId(restore.id) },
          node: restore.node,
        }),
      );
    } catch (err) {
      // A restore whose job was never queued would stay "queued" forever: take it back. Should the
      // job still land after a timeout, the worker finds no row and fails it for good.
      await this.catalog.restores.delete(restore.id).catch((e: unknown) => {
        this.logger.error(
          { err: e, restoreId: restore.id },
          'could not delete a restore that was not queued',
        );
      });
      throw err;
    }
    this.logger.info(
      {
        restoreId: restore.id,
        serviceId: service.id,
        snapshotId: snapshot.id,
        targetId: target.id,
        node: restore.node,
      },
      'restore queued',
    );
    return this.get(restore.id);
  }

  async get(id: string): Promise<RestoreView> {
    const row = UUID_RE.test(id) ? await this.catalog.restores.findWithNames(id) : null;
    if (!row) throw notFound('restore', id);
    return viewOf(row);
  }

  /** Newest first; at most `limit`. */
  async list(query: ListRestoresQuery): Promise<RestoreView[]> {
    const rows = await this.catalog.restores.list({ serviceId: query.serviceId }, query.limit);
    return rows.map(viewOf);
  }

  /**
   * The catalogued snapshot to restore: the one named, or the service's most recent, narrowed to
   * the target and plan when given. Snapshots of a plan being deleted are being removed from the
   * targets, so they are not offered.
   */
  /**
   * A chosen destination must be inside the service's own data folder or a configured restore
   * root (VAULTLINE_RESTORE_ROOTS): a restore overwrites what is there, and the workers run it
   * with their own rights, so a mistyped or hostile `/etc` must not reach them. Symlinks are not
   * resolved: the API does not see the workers' filesystems.
   */
  private assertAllowedDestination(destination: string, service: Service): void {
    const allowed = [path.posix.normalize(service.dataPath), ...this.config.restoreRoots];
    if (allowed.some((root) => isWithin(destination, root))) return;
    throw invalidField(
      'destination',
      `must be inside the service's data path or a restore root (${this.config.restoreRoots.join(', ') || 'none configured'})`,
    );
  }

  private async findSnapshot(input: CreateRestore, service: Service): Promise<Snapshot & { target: Target }> {
    const latest = input.snapshotId === 'latest';
    const snapshot = await this.catalog.snapshots.findForRestore(service.id, {
      ...(latest ? {} : { snapshotId: input.snapshotId }),
      ...(input.targetId !== undefined ? { targetId: input.targetId } : {}),
      ...(input.planId !== undefined ? { planId: input.planId } : {}),
    });
    if (snapshot) return snapshot;
    const scope = [
      input.targetId !== undefined ? ` on target ${input.targetId}` : '',
      input.planId !== undefined ? ` in plan ${input.planId}` : '',
    ].join('');
    throw new ApiError(
      'NOT_FOUND',
      latest
        ? `service ${JSON.stringify(service.name)} has no snapshot${scope} to restore`
        : `snapshot ${input.snapshotId} of service ${JSON.stringify(service.name)} not found${scope}`,
    );
  }
}

/** `p` is `root` or below it (both normalised absolute paths, compared by segments). */
export function isWithin(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);
}
