/**
 * Is a service's backup on a target fresh? The rule (docs/plans.md, "Freshness"): a plan is
 * expected to succeed once per interval (daily 24 h, weekly 7 days) and is overdue when its last
 * success is older than the interval plus a grace of a quarter of it (6 h for daily, 42 h for weekly). The grace absorbs a run that starts
 * late behind others or runs long; a single missed run is still flagged hours after the firing
 * that should have replaced it, long before the next one.
 */
import type { PlanFrequency } from '@vaultline/catalog';

const HOUR_MS = 60 * 60 * 1000;

export const INTERVAL_MS: Readonly<Record<PlanFrequency, number>> = {
  daily: 24 * HOUR_MS,
  weekly: 7 * 24 * HOUR_MS,
};

export const graceMs = (intervalMs: number): number => intervalMs / 4;

export interface FreshnessInput {
  frequency: PlanFrequency;
  paused: boolean;
  /** The newest successful backup of the service on the target by this plan, if any. */
  lastSuccessAt: Date | null;
  /** When the target joined the plan: before a first success, the clock starts there. */
  since: Date;
  now: Date;
}

export interface Freshness {
  expectedIntervalHours: number;
  /** After this instant, without a new success, the backup is overdue. */
  dueBy: Date;
  /** False for a paused plan: nothing is expected of it (it is flagged `paused` instead). */
  overdue: boolean;
}

export function assessFreshness(i: FreshnessInput): Freshness {
  const interval = INTERVAL_MS[i.frequency];
  const from = i.lastSuccessAt ?? i.since;
  const dueBy = new Date(from.getTime() + interval + graceMs(interval));
  return {
    expectedIntervalHours: interval / HOUR_MS,
    dueBy,
    overdue: !i.paused && i.now.getTime() > dueBy.getTime(),
  };
}
