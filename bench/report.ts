/**
 * Turns the measurements into the markdown report: machine, dataset, the comparison table with
 * targets, and notes on method.
 */
import type { MachineInfo, RssMethod } from './measure';
import type { ChangeSummary, DatasetMarker, DatasetName } from './dataset';
import type { OpResult } from './tools';

const MiB = 1024 * 1024;

export interface VerifyResult {
  ok: boolean;
  files: number;
  bytes: number;
  /** Files whose content hash was compared. */
  hashed: number;
  full: boolean;
  problems: string[];
}

/** How much of one kind of metadata a restore kept: `kept` of `total` entries matched the source. */
export interface Kept {
  kept: number;
  total: number;
}

/** What a restore preserved besides content, computed by comparing it with the source (lstat). */
export interface Fidelity {
  fileModes: Kept;
  mtimeNs: Kept;
  mtimeUs: Kept;
  mtimeSec: Kept;
  symlinks: Kept;
  hardLinks: Kept;
  emptyDirs: Kept;
}

export interface ToolRun {
  name: string;
  settings: string;
  init?: OpResult;
  backup1?: OpResult;
  repoAfter1?: number;
  backup2?: OpResult;
  added2?: number;
  backup3?: OpResult;
  added3?: number;
  restore?: OpResult;
  verify?: VerifyResult;
  fidelity?: Fidelity;
  finalRepoBytes?: number;
  failure?: { phase: string; report: string };
}

/** One dataset's run: every tool through the same sequence. */
export interface BenchContext {
  dataset: DatasetName;
  /** The environment variable(s) that sized it. */
  sizing: string;
  /** One line describing the dataset. */
  description: string;
  datasetDir: string;
  marker: DatasetMarker;
  datasetReused: boolean;
  generateMs: number;
  change: ChangeSummary | null;
  restoredBytes: number;
  runs: ToolRun[];
}

export interface BenchReport {
  started: string;
  finished: string;
  machine: MachineInfo;
  rssMethod: RssMethod;
  skipped: string[];
  datasets: BenchContext[];
}

type Better = 'higher' | 'lower' | '';

interface Row {
  metric: string;
  better: Better;
  value: (r: ToolRun) => number | string | null;
  format: (n: number) => string;
  target?: { text: string; check: (vaultline: number, restic: number | null) => boolean | null };
}

const sec = (ms: number | undefined): number | null => (ms === undefined ? null : ms / 1000);
const mib = (b: number | undefined | null): number | null => (b === undefined || b === null ? null : b / MiB);
const f1 = (n: number): string => n.toFixed(1);
const f2 = (n: number): string => n.toFixed(2);

function rssMiB(op: OpResult | undefined): number | null {
  return op?.peakRssKiB === undefined || op.peakRssKiB === null ? null : op.peakRssKiB / 1024;
}

export function maxRss(r: ToolRun): number | null {
  const all = [r.init, r.backup1, r.backup2, r.backup3, r.restore]
    .map(rssMiB)
    .filter((v): v is number => v !== null);
  return all.length ? Math.max(...all) : null;
}

function kept(k: Kept | undefined): string | null {
  if (!k) return null;
  if (k.total === 0) return 'n/a (none)';
  return k.kept === k.total ? `yes (${k.total})` : `**no** (${k.kept} of ${k.total})`;
}

const fidelityRow = (metric: string, pick: (f: Fidelity) => Kept): Row => ({
  metric: `Fidelity: ${metric}`,
  better: '',
  value: (r) => kept(r.fidelity && pick(r.fidelity)),
  format: String,
});

function rows(ctx: BenchContext): Row[] {
  const datasetMiB = ctx.marker.bytes / MiB;
  const restoredMiB = ctx.restoredBytes / MiB;
  return [
    { metric: 'Init time (s)', better: 'lower', value: (r) => sec(r.init?.wallMs), format: f2 },
    { metric: 'First backup time (s)', better: 'lower', value: (r) => sec(r.backup1?.wallMs), format: f2 },
    {
      metric: 'First backup throughput (MiB/s)',
      better: 'higher',
      value: (r) => (r.backup1 ? datasetMiB / (r.backup1.wallMs / 1000) : null),
      format: f1,
      target: { text: '≥ 2× restic', check: (v, re) => (re === null ? null : v >= 2 * re) },
    },
    {
      metric: 'No-change backup time (s)',
      better: 'lower',
      value: (r) => sec(r.backup2?.wallMs),
      format: f2,
      target: { text: '≤ 0.5× restic', check: (v, re) => (re === null ? null : v <= 0.5 * re) },
    },
    {
      metric: 'Bytes added by no-change backup (MiB)',
      better: 'lower',
      value: (r) => mib(r.added2),
      format: f2,
    },
    {
      metric: '~1% change backup time (s)',
      better: 'lower',
      value: (r) => sec(r.backup3?.wallMs),
      format: f2,
    },
    {
      metric: 'Bytes added after ~1% change (MiB)',
      better: 'lower',
      value: (r) => mib(r.added3),
      format: f2,
      target: { text: '≤ restic', check: (v, re) => (re === null ? null : v <= re) },
    },
    { metric: 'Restore time (s)', better: 'lower', value: (r) => sec(r.restore?.wallMs), format: f2 },
    {
      metric: 'Restore throughput (MiB/s)',
      better: 'higher',
      value: (r) => (r.restore ? restoredMiB / (r.restore.wallMs / 1000) : null),
      format: f1,
      target: { text: '≥ 2× restic', check: (v, re) => (re === null ? null : v >= 2 * re) },
    },
    {
      metric: 'Restore verified',
      better: '',
      value: (r) =>
        r.verify
          ? `${r.verify.ok ? 'yes' : '**NO**'} (${r.verify.full ? `all ${r.verify.hashed}` : r.verify.hashed} files hashed)`
          : null,
      format: String,
    },
    fidelityRow('file modes exact', (f) => f.fileModes),
    fidelityRow('file mtime exact to the ns', (f) => f.mtimeNs),
    fidelityRow('file mtime exact to the µs', (f) => f.mtimeUs),
    fidelityRow('file mtime exact to the second', (f) => f.mtimeSec),
    fidelityRow('symlinks kept (same target)', (f) => f.symlinks),
    fidelityRow('hard links kept (names share an inode)', (f) => f.hardLinks),
    fidelityRow('empty folders kept', (f) => f.emptyDirs),
    { metric: 'Peak RSS, first backup (MiB)', better: 'lower', value: (r) => rssMiB(r.backup1), format: f1 },
    {
      metric: 'Peak RSS, no-change backup (MiB)',
      better: 'lower',
      value: (r) => rssMiB(r.backup2),
      format: f1,
    },
    {
      metric: 'Peak RSS, ~1% change backup (MiB)',
      better: 'lower',
      value: (r) => rssMiB(r.backup3),
      format: f1,
    },
    { metric: 'Peak RSS, restore (MiB)', better: 'lower', value: (r) => rssMiB(r.restore), format: f1 },
    {
      metric: 'Peak RSS, max over all ops (MiB)',
      better: 'lower',
      value: maxRss,
      format: f1,
      target: { text: '≤ 256 MiB', check: (v) => v <= 256 },
    },
    {
      metric: 'Repository size after first backup (MiB)',
      better: 'lower',
      value: (r) => mib(r.repoAfter1),
      format: f1,
    },
    {
      metric: 'Final repository size (MiB)',
      better: 'lower',
      value: (r) => mib(r.finalRepoBytes),
      format: f1,
    },
  ];
}

export interface TargetOutcome {
  target: string;
  metric: string;
  met: boolean | null;
  /** Vaultline's value and restic's, as shown in the table. */
  detail: string;
}

export function buildTable(ctx: BenchContext): { markdown: string; targets: TargetOutcome[] } {
  const vl = ctx.runs.find((r) => r.name === 'vaultline');
  const re = ctx.runs.find((r) => r.name === 'restic');
  // Without restic, keep its column (marked skipped) so the table's shape does not change.
  const columns: (ToolRun | null)[] = re ? ctx.runs : [...ctx.runs.slice(0, 1), null, ...ctx.runs.slice(1)];
  const tools = columns.map((r) => r?.name ?? 'restic');
  const header = ['Metric', ...tools, 'vaultline / restic', 'Better', 'Target', 'Met?'];
  const numeric = (i: number): boolean => i > 0 && i <= tools.length + 1;
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (numeric(i) ? '--:' : ':--')).join('|')}|`,
  ];
  const targets: TargetOutcome[] = [];
  for (const row of rows(ctx)) {
    const cells = columns.map((r) => {
      if (!r) return 'skipped';
      const v = row.value(r);
      if (v === null) return r.failure ? 'failed' : '—';
      return typeof v === 'number' ? row.format(v) : v;
    });
    const vv = vl ? row.value(vl) : null;
    const rv = re ? row.value(re) : null;
    let ratio = 'n/a';
    if (typeof vv === 'number' && typeof rv === 'number' && rv !== 0) ratio = `${(vv / rv).toFixed(2)}×`;
    else if (typeof vv === 'number' && rv === 0) ratio = vv === 0 ? '1.00×' : '∞';
    let targetText = '';
    let met = '';
    if (row.target) {
      targetText = row.target.text;
      const outcome =
        typeof vv === 'number' ? row.target.check(vv, typeof rv === 'number' ? rv : null) : null;
      met = outcome === null ? 'n/a' : outcome ? 'met' : '**not met**';
      const show = (v: number | string | null): string => (typeof v === 'number' ? row.format(v) : '—');
      const detail = row.target.text.includes('restic')
        ? `${show(vv)} vs ${show(rv)} (${ratio})`
        : `${show(vv)}${row.metric.endsWith('(MiB)') ? ' MiB' : ''}`;
      targets.push({ target: row.target.text, metric: row.metric, met: outcome, detail });
    }
    const better = row.better === '' ? '' : `${row.better} is better`;
    lines.push(`| ${[row.metric, ...cells, ratio, better, targetText, met].join(' | ')} |`);
  }
  return { markdown: lines.join('\n'), targets };
}

function renderDataset(ctx: BenchContext): { lines: string[]; targets: TargetOutcome[] } {
  const { markdown: table, targets } = buildTable(ctx);
  const d = ctx.marker;
  const met = targets.filter((t) => t.met === true).length;
  const judged = targets.filter((t) => t.met !== null).length;
  const out: string[] = [];
  out.push(`## Dataset \`${ctx.dataset}\``);
  out.push('');
  out.push(
    `Deterministic (seeded PRNG), ${ctx.sizing}, under \`${ctx.datasetDir}\`, ` +
      (ctx.datasetReused
        ? 'reused from an earlier run.'
        : `generated by this run in ${(ctx.generateMs / 1000).toFixed(1)} s.`),
  );
  out.push('');
  out.push(`- ${ctx.description}`);
  if (ctx.change) {
    const c = ctx.change;
    out.push(
      `- ~1% change (${(c.bytesChanged / MiB).toFixed(2)} MiB = ${((100 * c.bytesChanged) / d.bytes).toFixed(2)}% of the bytes): ` +
        c.description.join('; '),
    );
  }
  out.push(
    `- Sequence, identical for every tool and run on the same dataset state: init → backup → no-change backup → ` +
      `apply change → backup → restore latest into an empty folder (${(ctx.restoredBytes / MiB).toFixed(1)} MiB), ` +
      `every restored file hashed and its metadata compared with the source.`,
  );
  out.push('');
  out.push(table);
  out.push('');
  out.push(
    judged === targets.length
      ? `Targets met on \`${ctx.dataset}\`: **${met} / ${targets.length}**.`
      : `Targets met on \`${ctx.dataset}\`: **${met} / ${judged}** judged (${targets.length - judged} not judged: no restic numbers).`,
  );
  const failures = ctx.runs.filter((r) => r.failure);
  if (failures.length) {
    out.push('');
    out.push(`**Failures on \`${ctx.dataset}\`**`);
    out.push('');
    for (const r of failures) {
      out.push(`- ${r.name} failed during ${r.failure!.phase}:`);
      out.push('');
      out.push('```');
      out.push(r.failure!.report);
      out.push('```');
    }
  }
  for (const r of ctx.runs.filter((x) => x.verify && !x.verify.ok)) {
    out.push('');
    out.push(`**${r.name} restore did not match the \`${ctx.dataset}\` dataset:**`);
    out.push('');
    for (const p of r.verify!.problems.slice(0, 20)) out.push(`- ${p}`);
  }
  return { lines: out, targets };
}

export interface SummaryRow {
  target: string;
  /** Per dataset name: the outcome, or undefined when that dataset did not run. */
  cells: Map<DatasetName, { met: boolean | null; detail: string }>;
}

/** Vaultline's peak RSS on `scale` against `mixed` in the same run: the memory-stays-flat target. */
export function flatRss(report: BenchReport): { met: boolean | null; detail: string } | null {
  const peak = (name: DatasetName): number | null => {
    const vl = report.datasets.find((d) => d.dataset === name)?.runs.find((r) => r.name === 'vaultline');
    return vl ? maxRss(vl) : null;
  };
  if (!report.datasets.some((d) => d.dataset === 'scale')) return null;
  const scale = peak('scale');
  const mixed = peak('mixed');
  if (scale === null || mixed === null)
    return { met: null, detail: mixed === null ? 'n/a (mixed not run)' : 'n/a (scale failed)' };
  return { met: scale <= mixed, detail: `${scale.toFixed(1)} vs ${mixed.toFixed(1)} MiB on mixed` };
}

export function renderReport(report: BenchReport): {
  markdown: string;
  targets: Record<string, TargetOutcome[]>;
} {
  const m = report.machine;
  const out: string[] = [];
  out.push(`# Vaultline engine benchmark (\`npm run bench:engine\`)`);
  out.push('');
  out.push(
    `Run ${report.started} → ${report.finished}; datasets: ${report.datasets.map((d) => `\`${d.dataset}\``).join(', ')}.`,
  );
  out.push('');
  out.push('**Machine**');
  out.push('');
  out.push(`- CPU: ${m.cpu} — ${m.cores} cores available (${m.logicalCpus} logical CPUs in /proc/cpuinfo)`);
  out.push(`- RAM: ${m.ramGiB.toFixed(1)} GiB; ${m.kernel}; filesystem of the work dir: ${m.filesystem}`);
  out.push(`- Node ${m.node}; ${m.restic ?? 'restic: not installed'}; ${m.borg ?? 'borg: not installed'}`);
  out.push('');

  const sections = report.datasets.map((ctx) => ({ ctx, ...renderDataset(ctx) }));
  const targets: Record<string, TargetOutcome[]> = {};
  for (const s of sections) targets[s.ctx.dataset] = s.targets;

  // Summary: one row per target, one column per dataset.
  out.push('## Targets per dataset');
  out.push('');
  const names = report.datasets.map((d) => d.dataset);
  const header = ['Target', ...names.map((n) => `\`${n}\``)];
  out.push(`| ${header.join(' | ')} |`);
  out.push(`|${header.map(() => ':--').join('|')}|`);
  const cell = (t: { met: boolean | null; detail: string } | undefined): string =>
    !t ? '' : `${t.met === null ? 'n/a' : t.met ? 'met' : '**not met**'}: ${t.detail}`;
  const labels: [string, string][] = [
    ['First backup throughput (MiB/s)', 'first backup ≥ 2× restic throughput'],
    ['Restore throughput (MiB/s)', 'restore ≥ 2× restic throughput'],
    ['No-change backup time (s)', 'no-change backup ≤ 0.5× restic time'],
    ['Bytes added after ~1% change (MiB)', 'bytes added after ~1% change ≤ restic'],
    ['Peak RSS, max over all ops (MiB)', 'peak RSS ≤ 256 MiB'],
  ];
  for (const [metric, label] of labels) {
    const cells = sections.map((s) => cell(s.targets.find((t) => t.metric === metric)));
    out.push(`| ${[label, ...cells].join(' | ')} |`);
  }
  const flat = flatRss(report);
  if (flat) {
    const cells = sections.map((s) => (s.ctx.dataset === 'scale' ? cell(flat) : ''));
    out.push(`| ${['peak RSS on scale ≤ peak RSS on mixed (flat)', ...cells].join(' | ')} |`);
  }
  const all = [...sections.flatMap((s) => s.targets), ...(flat ? [flat] : [])];
  const met = all.filter((t) => t.met === true).length;
  const judged = all.filter((t) => t.met !== null).length;
  out.push('');
  out.push(
    `Targets met: **${met} / ${judged}** judged${judged < all.length ? ` (${all.length - judged} not judged)` : ''}.`,
  );
  out.push('');

  for (const s of sections) {
    out.push(...s.lines);
    out.push('');
  }

  out.push('## Notes');
  out.push('');
  out.push(
    '- Every tool runs as its users run it: Vaultline as the `vaultline` command on PATH (the launcher ' +
      '`node_modules/.bin/vaultline`, as the README sets it up; `BENCH_VAULTLINE` overrides it), restic and borg as ' +
      'their CLIs. Times are wall-clock times of the whole process (process start, key derivation, repository open and ' +
      'the operation). Throughput = dataset (or restored) bytes ÷ that time, in MiB/s.',
  );
  out.push(
    '- Warm page cache: the dataset is hashed (read fully) before the first backup, nothing is dropped from the cache; ' +
      '`sync` runs before every timed operation so earlier writeback does not bleed into it. Restores do not fsync.',
  );
  out.push(
    '- Process start and key derivation are part of every time (Vaultline: Node start ≈ 0.1 s and Argon2id ' +
      '64 MiB × 3 passes × 4 lanes ≈ 0.1 s; restic: scrypt; borg: PBKDF2), which weighs most on the no-change backup.',
  );
  out.push(
    '- "Bytes added" = growth of the repository folder (sum of the sizes of all files below it), measured the same ' +
      "way for every tool; restic's and borg's caches live outside the repository folder. It depends on where chunk " +
      'boundaries fall around the in-place overwrites; each tool keys its chunker per repository, so it moves a little ' +
      'between runs.',
  );
  out.push(
    `- Peak RSS of every process, measured from outside with ` +
      `${report.rssMethod === 'gnu-time' ? 'GNU time (`/usr/bin/time -f %M`)' : 'polling /proc/<pid>/status (VmHWM) every 20 ms'}` +
      " (Vaultline's worker threads are part of its process).",
  );
  out.push(
    '- Fidelity rows compare the restored tree with the source by `lstat` (computed, not asserted): permission bits ' +
      'of regular files, file mtimes (to the nanosecond, microsecond and second), symlink targets, hard links (every ' +
      'group of names of one source inode restored as one inode) and empty folders.',
  );
  const tools = new Map<string, string>();
  for (const d of report.datasets) for (const r of d.runs) tools.set(r.name, r.settings);
  for (const [name, settings] of tools) out.push(`- ${name}: ${settings}.`);
  for (const s of report.skipped) out.push(`- Skipped: ${s}.`);
  return { markdown: `${out.join('\n')}\n`, targets };
}

/**
 * Formats the report with the repository's Prettier settings (so the saved file passes
 * `npm run format:check` and the table is aligned in the terminal); unchanged if Prettier is absent.
 */
export async function prettify(markdown: string, filepath: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(filepath)) ?? {};
    return await prettier.format(markdown, { ...options, filepath });
  } catch {
    return markdown;
  }
}
