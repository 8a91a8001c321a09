/**
 * Retention: which snapshots a policy keeps, and forgetting the rest. Needs only the writer key
 * (headers and manifests are writer-readable), so the fleet can apply a plan's retention after
 * every run without the owner's password.
 *
 * Semantics follow restic's: snapshots are grouped (by service and plan), newest first; keep-last N
 * keeps the N newest; keep-daily N keeps the newest snapshot of each of the N most recent days that
 * have one, and likewise for hourly/weekly/monthly/yearly. A snapshot kept by any rule is kept.
 * Buckets use UTC; weeks are ISO weeks.
 */
import { EngineError } from './errors';
import { withLock, type LockTiming } from './locks';
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

export function validatePolicy(p: RetentionPolicy): void {
  for (const r of RULES) {
    const v = p[r.key];
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < 0)) {
      throw new EngineError('INVALID_ARGUMENT', `keep-${r.name} must be a whole number ≥ 0`);
    }
  }
  if (!RULES.some((r) => ((p[r.key] as number | undefined) ?? 0) > 0) && !(p.keepTags ?? []).length) {
    throw new EngineError(
      'INVALID_ARGUMENT',
      'a retention policy must keep something (refusing to forget every snapshot)',
    );
  }
}

/** Applies a policy to one group of snapshots. Pure: used by forget and by its tests. */
export function applyPolicy(snapshots: SnapshotInfo[], policy: RetentionPolicy): ForgetDecision[] {
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
  for (const d of decisions) {
    const tags = d.snapshot.tags.filter((t) => policy.keepTags?.includes(t));
    if (tags.length) {
      d.keep = true;
      d.reasons.push(`tag ${tags.join(',')}`);
    }
  }
  return decisions;
}

export function groupKey(s: SnapshotInfo): string {
  return JSON.stringify([s.service, s.plan]);
}

export interface ForgetOptions {
  policy?: RetentionPolicy;
  /** Only snapshots of this service / plan are considered. */
  service?: string;
  plan?: string;
  /** Forget these ids regardless of policy. */
  ids?: string[];
  /** Forget every snapshot matching service/plan (deleting a plan). */
  all?: boolean;
  dryRun?: boolean;
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
        const groups = new Map<string, SnapshotInfo[]>();
        for (const s of all) {
          const k = groupKey(s);
          groups.set(k, [...(groups.get(k) ?? []), s]);
        }
        decisions = [...groups.values()].flatMap((g) => applyPolicy(g, opts.policy!));
      }
      if (!opts.dryRun) {
        // Snapshots first, manifests second: a crash in between leaves an orphan manifest (prune
        // removes it), never a snapshot whose manifest is gone. Unchanged backups share their
        // parent's manifest, so only manifests no remaining snapshot uses are deleted.
        const dropped = decisions.filter((d) => !d.keep);
        const droppedIds = new Set(dropped.map((d) => d.snapshot.id));
        await mapLimit(dropped, 8, (d) => repo.backend.delete(`snapshots/${d.snapshot.id}`));
        const stillUsed = new Set(
          (await repo.listSnapshots()).filter((s) => !droppedIds.has(s.id)).map((s) => s.manifest),
        );
        const orphans = new Set(dropped.map((d) => d.snapshot.manifest).filter((m) => !stillUsed.has(m)));
        await mapLimit([...orphans], 8, (m) => repo.backend.delete(`manifests/${m}`));
      }
      return decisions;
    },
    opts.lockTiming,
  );
}
