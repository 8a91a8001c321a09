/**
 * `maintenance.verify`: re-reads a plan's repositories to find bit rot and damaged targets before
 * the day of a restore (docs/operations.md, "Verification"). Each target's repository is opened
 * with the writer key and checked by the engine — structure, index, snapshot headers and
 * manifests — and the packs of the next slice of the rotation are re-hashed against their
 * content-addressed names, so `ceil(100 / percent)` runs read every pack once.
 *
 * Every target gets its `verifications` row whatever happens: a target that cannot be opened
 * (unreachable, wrong key) is a failed verification, not a retried job, because the point is to
 * report it; the next scheduled run tries again. Only a catalog failure throws (retried).
 */
import type { Job } from 'bullmq';
import type { Logger } from 'pino';

import type { Catalog, PlanTargetWithTarget } from '@vaultline/catalog';
import {
  parseJobResult,
  VERIFY_ERRORS_LIMIT,
  verifySliceCount,
  type JobPayload,
  type JobResult,
} from '@vaultline/contracts';
import { check, type Repository } from '@vaultline/engine';
import type { FleetMetrics } from '@vaultline/observability';
import { openPasswordEnvelope, type ServerKeys } from '@vaultline/secrets';

import { classify, envelopeFailure } from './errors';
import { closeRepository, openPlanRepository, openPlanRepositoryForRead, WORKER_LOCK_TIMING } from './target';

export type VerifyResult = JobResult<'maintenance.verify'>;
type TargetOutcome = VerifyResult['targets'][number];

const ERROR_CHARS = 1000;

export interface VerifyProcessorDeps {
  catalog: Catalog;
  keys: ServerKeys;
  logger: Logger;
  metrics?: FleetMetrics;
}

/** The check's errors as the row and the result keep them: capped in number and length. */
export function capErrors(errors: readonly string[]): string[] {
  const kept = errors.slice(0, VERIFY_ERRORS_LIMIT).map((e) => e.slice(0, ERROR_CHARS));
  if (errors.length > VERIFY_ERRORS_LIMIT)
    kept[VERIFY_ERRORS_LIMIT - 1] = `… and ${errors.length - VERIFY_ERRORS_LIMIT + 1} more`;
  return kept;
}

export class VerifyProcessor {
  constructor(private readonly deps: VerifyProcessorDeps) {}

  async process(payload: JobPayload<'maintenance.verify'>, job: Job): Promise<VerifyResult> {
    // Not the payload itself: a deep verify's carries the (sealed) password.
    const log = this.deps.logger.child({
      jobId: job.id,
      job: 'maintenance.verify',
      planId: payload.planId,
      kind: payload.kind,
    });
    const started = Date.now();
    const plan = await this.deps.catalog.plans.find(payload.planId);
    const skip = (reason: NonNullable<VerifyResult['skipped']>): VerifyResult => {
      log.info({ reason }, 'verify skipped');
      return { skipped: reason, targets: [], durationMs: Date.now() - started };
    };
    if (!plan || plan.deletedAt) return skip('PLAN_DELETED');
    const targets: TargetOutcome[] = [];
    const repositories = await this.deps.catalog.plans.repositoriesOf(plan.id);
    if (payload.kind === 'deep') {
      // Opened once for every target; an expired or foreign envelope fails each target's row.
      let password: string | Error;
      try {
        password = openPasswordEnvelope(this.deps.keys, payload.requestId, payload.passwordEnvelope);
      } catch (err) {
        const e = envelopeFailure(err);
        password = e instanceof Error ? e : new Error(String(e));
      }
      for (const pt of repositories) {
        targets.push(await this.verifyTarget(plan.id, plan.name, pt, { kind: 'deep', password }, log));
      }
    } else {
      // A scheduler removed a moment too late (verify turned off); an on-demand run brings its share.
      if (payload.percent === undefined && plan.paused) return skip('PLAN_PAUSED');
      if (payload.percent === undefined && plan.verifySchedule === 'off') return skip('VERIFY_OFF');
      const count = verifySliceCount(payload.percent ?? plan.verifyPercent);
      for (const pt of repositories) {
        targets.push(await this.verifyTarget(plan.id, plan.name, pt, { kind: 'scheduled', count }, log));
      }
    }
    return parseJobResult('maintenance.verify', { targets, durationMs: Date.now() - started });
  }

  private async verifyTarget(
    planId: string,
    planName: string,
    pt: PlanTargetWithTarget,
    how: { kind: 'scheduled'; count: number } | { kind: 'deep'; password: string | Error },
    log: Logger,
  ): Promise<TargetOutcome> {
    const { catalog, keys, metrics } = this.deps;
    // The rotation's position is the number of scheduled runs so far: each reads the next slice.
    const slice =
      how.kind === 'scheduled'
        ? {
            index: (await catalog.verifications.countScheduled(planId, pt.targetId)) % how.count,
            count: how.count,
          }
        : undefined;
    const row = await catalog.verifications.start({
      planId,
      targetId: pt.targetId,
      kind: how.kind,
      ...(slice ? { sliceIndex: slice.index, sliceCount: slice.count } : {}),
    });
    let outcome: TargetOutcome;
    try {
      let repo: Repository;
      if (how.kind === 'deep') {
        if (how.password instanceof Error) throw how.password;
        repo = await openPlanRepositoryForRead(keys, pt.target, pt.repoLocation, how.password);
      } else {
        repo = await openPlanRepository(keys, pt.target, pt);
      }
      try {
        // With the password, reading every pack decrypts and authenticates each blob (check.ts).
        const r = await check(repo, {
          ...(slice ? { slice } : { readData: 100 }),
          lockTiming: WORKER_LOCK_TIMING,
        });
        outcome = {
          targetId: pt.targetId,
          ok: r.ok,
          packsRead: r.packsRead,
          packsTotal: r.packs,
          errors: capErrors(r.errors),
        };
      } finally {
        await closeRepository(repo);
      }
    } catch (err) {
      const { info } = classify(err);
      const error = `${info.code}: ${info.message}`.slice(0, ERROR_CHARS);
      await catalog.verifications.fail(row.id, error);
      metrics?.verifyRuns.inc({ plan: planName, target: pt.target.name, status: 'failed' });
      log.warn({ err, code: info.code, targetId: pt.targetId }, 'verify could not run');
      return { targetId: pt.targetId, ok: false, packsRead: 0, packsTotal: 0, errors: [error] };
    }
    await catalog.verifications.finish(row.id, outcome);
    metrics?.verifyRuns.inc({
      plan: planName,
      target: pt.target.name,
      status: outcome.ok ? 'ok' : 'corrupt',
    });
    if (outcome.ok)
      metrics?.verifyLastSuccess.set({ plan: planName, target: pt.target.name }, Date.now() / 1000);
    log[outcome.ok ? 'info' : 'error'](
      {
        targetId: pt.targetId,
        kind: how.kind,
        slice: slice ? `${slice.index}/${slice.count}` : 'all',
        packsRead: outcome.packsRead,
        errors: outcome.errors.length,
      },
      outcome.ok ? 'verify found no error' : 'verify found errors',
    );
    return outcome;
  }
}
