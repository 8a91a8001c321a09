import type { SnapshotInfo } from '@vaultline/engine';
import type { Context } from '../context';
import { humanSize, isoTime, table } from '../output';

export interface SnapshotsCommandOptions {
  service?: string;
  plan?: string;
  tag?: string[];
  host?: string;
}

export function matchesFilter(s: SnapshotInfo, f: SnapshotsCommandOptions): boolean {
  return (
    (f.service === undefined || s.service === f.service) &&
    (f.plan === undefined || s.plan === f.plan) &&
    (f.host === undefined || s.host === f.host) &&
    (f.tag ?? []).every((t) => s.tags.includes(t))
  );
}

/** Lists snapshots, oldest first (the newest is nearest the prompt). */
export async function snapshotsCommand(ctx: Context, opts: SnapshotsCommandOptions): Promise<number> {
  const repo = await ctx.openRepo();
  const list = (await repo.listSnapshots()).filter((s) => matchesFilter(s, opts)).reverse();
  ctx.out.emitJson(list);
  if (list.length === 0) {
    ctx.out.info('no snapshots');
    return 0;
  }
  const rows = list.map((s) => [
    s.id.slice(0, 8),
    isoTime(s.time),
    s.host,
    s.service ?? '-',
    s.plan ?? '-',
    s.arch,
    s.tags.length ? s.tags.join(',') : '-',
    humanSize(s.stats.totalBytes),
    humanSize(s.stats.bytesAdded),
  ]);
  const lines = table(['ID', 'TIME', 'HOST', 'SERVICE', 'PLAN', 'ARCH', 'TAGS', 'SIZE', 'ADDED'], rows, [
    'left',
    'left',
    'left',
    'left',
    'left',
    'left',
    'left',
    'right',
    'right',
  ]);
  for (const line of lines) ctx.out.print(line);
  ctx.out.info(`${list.length} snapshot${list.length === 1 ? '' : 's'}`);
  return 0;
}
