/**
 * Retention: which snapshots a policy keeps, and forgetting the rest. Needs only the writer key
 * (headers and manifests are writer-readable), so the fleet can apply a plan's retention after
 * every run without the owner's password.
 *
 * Semantics follow restic's: snapshots are grouped (by default by service and plan; `groupBy`
 * picks other header fields), newest first; keep-last N keeps the N newest; keep-daily N keeps the
 * newest snapshot of each of the N most recent days that have one, and likewise for
 * hourly/weekly/monthly/yearly; keep-within D keeps every snapshot newer than the group's latest
 * minus D. A snapshot kept by any rule is kept. Buckets use UTC; weeks are ISO weeks.
 */
import { EngineError } from './errors';
import { listLocks, withLock, type LockTiming } from './locks';
import { manifestsOf } from './manifest';
import type { Repository } from './repository';
import type { SnapshotInfo } from './snapshot';
import { mapLimit } from './util';

export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  /** Snapshots carrying any of these tags are always kept. */
  keepTags?: string[];
}

/**
 * A retention policy as `forget` applies it: the fleet's RetentionPolicy (mirrored by
 * @vaultline/contracts for plans) plus what the CLI offers beyond it.
 */
export interface ForgetPolicy extends RetentionPolicy {
  /**
   * Keep every snapshot younger than the group's latest minus this duration, restic's form:
   * `36h`, `7d`, `2w`, `6m`, `1y2m` (y years, m months, w weeks, d days, h hours).
   */
  keepWithin?: string;
}

export interface KeepWithin {
  years: number;
  months: number;
  days: number;
  hours: number;
}

/** Parses a `keepWithin` duration; units may repeat (`1d12h`), weeks count as 7 days. */
export function parseKeepWithin(text: string): KeepWithin {
  const v = text.trim();
  const d: KeepWithin = { years: 0, months: 0, days: 0, hours: 0 };
  if (!/^(\d+[ymwdh])+$/.test(v)) {
    throw new EngineError(
      'INVALID_ARGUMENT',
      `keep-within: invalid duration ${JSON.stringify(text)} (e.g. 36h, 7d, 2w, 6m, 1y2m)`,
    );
  }
  for (const [, n, unit] of v.matchAll(/(\d+)([ymwdh])/g)) {
    const k = Number(n);
    if (unit === 'y') d.years += k;
    else if (unit === 'm') d.months += k;
    else if (unit === 'w') d.days += 7 * k;
    else if (unit === 'd') d.days += k;
    else d.hours += k;
  }
  return d;
}

/** `time` minus a keep-within duration, in calendar terms (as restic: AddDate, then hours). */
export function subtractKeepWithin(time: Date, d: KeepWithin): Date {
  const t = new Date(time.getTime());
  t.setUTCFullYear(t.getUTCFullYear() - d.years, t.getUTCMonth() - d.months, t.getUTCDate() - d.days);
  return new Date(t.getTime() - d.hours * 3_600_000);
}

function withinIsPositive(d: KeepWithin): boolean {
  return d.years + d.months + d.days + d.hours > 0;
}

export interface ForgetDecision {
  snapshot: SnapshotInfo;
  keep: boolean;
  reasons: string[];
}

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${week}`;
}

const RULES: { key: keyof RetentionPolicy; name: string; bucket: (d: Date, i: number) => string }[] = [
  { key: 'keepLast', name: 'last', bucket: (_d, i) => String(i) },
  { key: 'keepHourly', name: 'hourly', bucket: (d) => d.toISOString().slice(0, 13) },
  { key: 'keepDaily', name: 'daily', bucket: (d) => d.toISOString().slice(0, 10) },
  { key: 'keepWeekly', name: 'weekly', bucket: (d) => isoWeek(d) },
  { key: 'keepMonthly', name: 'monthly', bucket: (d) => d.toISOString().slice(0, 7) },
  { key: 'keepYearly', name: 'yearly', bucket: (d) => d.toISOString().slice(0, 4) },
];

export function validatePolicy(p: ForgetPolicy): void {
  for (const r of RULES) {
    const v = p[r.key];
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < 0)) {
      throw new EngineError('INVALID_ARGUMENT', `keep-${r.name} must be a whole number ≥ 0`);
    }
  }
  const within = p.keepWithin !== undefined ? withinIsPositive(parseKeepWithin(p.keepWithin)) : false;
  if (
    !RULES.some((r) => ((p[r.key] as number | undefined) ?? 0) > 0) &&
    !(p.keepTags ?? []).length &&
    !within
  ) {
    throw new EngineError(
      'INVALID_ARGUMENT',
      'a retention policy must keep something (refusing to forget every snapshot)',
    );
  }
}

/** Applies a policy to one group of snapshots. Pure: used by forget and by its tests. */
export function applyPolicy(snapshots: SnapshotInfo[], policy: ForgetPolicy): ForgetDecision[] {
  const sorted = [...snapshots].sort((a, b) => b.time.localeCompare(a.time));
  const decisions = sorted.map((s) => ({ snapshot: s, keep: false, reasons: [] as string[] }));
  for (const rule of RULES) {
    let left = (policy[rule.key] as number | undefined) ?? 0;
    let lastBucket: string | null = null;
    sorted.forEach((s, i) => {
      if (left <= 0) return;
      const b = rule.bucket(new Date(s.time), i);
      if (b !== lastBucket) {
        lastBucket = b;
        decisions[i]!.keep = true;
        decisions[i]!.reasons.push(rule.name);
        left--;
      }
    });
  }
  if (policy.keepWithin !== undefined && sorted.length > 0) {
    const cutoff = subtractKeepWithin(new Date(sorted[0]!.time), parseKeepWithin(policy.keepWithin));
    for (const d of decisions) {
      if (new Date(d.snapshot.time).getTime() > cutoff.getTime()) {
        d.keep = true;
        d.reasons.push(`within ${policy.keepWithin}`);
      }
    }
  }
  for (const d of decisions) {
    const tags = d.snapshot.tags.filter((t) => policy.keepTags?.includes(t));
    if (tags.length) {
      d.keep = true;
      d.reasons.push(`tag ${tags.join(',')}`);
    }
  }
  return decisions;
}

/** Header fields snapshots can be grouped by for retention. */
export type GroupField = 'host' | 'service' | 'plan' | 'tags';

export const DEFAULT_GROUP_BY: readonly GroupField[] = ['service', 'plan'];

/** The group of a snapshot: the values of the `by` fields (tags as a sorted set). */
export function groupKey(s: SnapshotInfo, by: readonly GroupField[] = DEFAULT_GROUP_BY): string {
  return JSON.stringify(by.map((f) => (f === 'tags' ? [...s.tags].sort() : s[f])));
}

/** Groups snapshots by `by` (an empty list: one group), in first-seen order. */
export function groupSnapshots(
  snapshots: readonly SnapshotInfo[],
  by: readonly GroupField[] = DEFAULT_GROUP_BY,
): SnapshotInfo[][] {
  const groups = new Map<string, SnapshotInfo[]>();
  for (const s of snapshots) {
    const k = groupKey(s, by);
    const g = groups.get(k);
    if (g) g.push(s);
    else groups.set(k, [s]);
  }
  return [...groups.values()];
}

export interface ForgetOptions {
  policy?: ForgetPolicy;
  /** Only snapshots of this service / plan are considered. */
  service?: string;
  plan?: string;
  /** Forget these ids regardless of policy. */
  ids?: string[];
  /** Forget every snapshot matching service/plan (deleting a plan). */
  all?: boolean;
  dryRun?: boolean;
  /** Fields the policy is applied per group of (default service and plan). */
  groupBy?: readonly GroupField[];
  lockTiming?: LockTiming;
}

export async function forget(repo: Repository, opts: ForgetOptions): Promise<ForgetDecision[]> {
  const modes = [opts.policy !== undefined, (opts.ids?.length ?? 0) > 0, opts.all === true].filter(
    Boolean,
  ).length;
  if (modes !== 1)
    throw new EngineError(
      'INVALID_ARGUMENT',
      'forget needs exactly one of: a retention policy, snapshot ids, or --all',
    );
  if (opts.all && !opts.plan && !opts.service) {
    throw new EngineError(
      'INVALID_ARGUMENT',
      'forget --all needs --plan or --service (it will not empty the whole repository)',
    );
  }
  if (opts.policy) validatePolicy(opts.policy);
  return withLock(
    repo.backend,
    'shared',
    'forget',
    async () => {
      const all = (await repo.listSnapshots()).filter(
        (s) => (!opts.service || s.service === opts.service) && (!opts.plan || s.plan === opts.plan),
      );
      let decisions: ForgetDecision[];
      if (opts.ids?.length) {
        const wanted = await Promise.all(opts.ids.map((id) => repo.resolveSnapshot(id)));
        const drop = new Set(wanted.map((s) => s.id));
        decisions = all.map((s) => ({
          snapshot: s,
          keep: !drop.has(s.id),
          reasons: drop.has(s.id) ? [] : ['not named'],
        }));
      } else if (opts.all) {
        decisions = all.map((s) => ({ snapshot: s, keep: false, reasons: [] }));
      } else {
        decisions = groupSnapshots(all, opts.groupBy).flatMap((g) => applyPolicy(g, opts.policy!));
      }
      if (!opts.dryRun) {
        // Snapshots first, manifests second: a crash in between leaves an orphan manifest (prune
        // removes it), never a snapshot whose manifest is gone. Unchanged backups share their
        // parent's manifest and later ones may be deltas of it, so only manifests no remaining
        // snapshot uses, directly or as a base, are deleted — and none while a backup runs: it
        // may have read a dropped snapshot as its parent and be writing a delta of that manifest
        // (such orphans wait for prune, which runs alone).
        const dropped = decisions.filter((d) => !d.keep);
        const droppedIds = new Set(dropped.map((d) => d.snapshot.id));
        await mapLimit(dropped, 8, (d) => repo.backend.delete(`snapshots/${d.snapshot.id}`));
        const remaining = (await repo.listSnapshots()).filter((s) => !droppedIds.has(s.id));
        const stillUsed = new Set(remaining.flatMap(manifestsOf));
        const backupRunning = (await listLocks(repo.backend, opts.lockTiming)).some(
          (l) => !l.stale && l.operation === 'backup',
        );
        const orphans = new Set(
          dropped.flatMap((d) => manifestsOf(d.snapshot)).filter((m) => !stillUsed.has(m)),
        );
        if (!backupRunning) await mapLimit([...orphans], 8, (m) => repo.backend.delete(`manifests/${m}`));
      }
      return decisions;
    },
    opts.lockTiming,
  );
}
