/**
 * Turns the measurements into the markdown report: machine, dataset, the comparison table with
 * targets, and notes on method.
 */
import type { MachineInfo, RssMethod } from './measure';
import type { ChangeSummary, DatasetMarker } from './dataset';
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
  finalRepoBytes?: number;
  failure?: { phase: string; report: string };
}

export interface BenchContext {
  started: string;
  finished: string;
  sizeMiB: number;
  datasetDir: string;
  marker: DatasetMarker;
  datasetReused: boolean;
  change: ChangeSummary | null;
  restoredBytes: number;
  machine: MachineInfo;
  rssMethod: RssMethod;
  skipped: string[];
  runs: ToolRun[];
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

function maxRss(r: ToolRun): number | null {
  const all = [r.init, r.backup1, r.backup2, r.backup3, r.restore]
    .map(rssMiB)
    .filter((v): v is number => v !== null);
  return all.length ? Math.max(...all) : null;
}

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
          ? `${r.verify.ok ? 'yes' : '**NO**'} (${r.verify.full ? 'all' : r.verify.hashed} files hashed)`
          : null,
      format: String,
    },
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
      targets.push({ target: row.target.text, metric: row.metric, met: outcome });
    }
    const better = row.better === '' ? '' : `${row.better} is better`;
    lines.push(`| ${[row.metric, ...cells, ratio, better, targetText, met].join(' | ')} |`);
  }
  return { markdown: lines.join('\n'), targets };
}

export function renderReport(ctx: BenchContext): { markdown: string; targets: TargetOutcome[] } {
  const { markdown: table, targets } = buildTable(ctx);
  const m = ctx.machine;
  const d = ctx.marker;
  const met = targets.filter((t) => t.met === true).length;
  const judged = targets.filter((t) => t.met !== null).length;
  const out: string[] = [];
  out.push(`# Vaultline engine benchmark (\`npm run bench:engine\`)`);
  out.push('');
  out.push(`Run ${ctx.started} → ${ctx.finished}.`);
  out.push('');
  out.push('**Machine**');
  out.push('');
  out.push(`- CPU: ${m.cpu} — ${m.cores} cores available (${m.logicalCpus} logical CPUs in /proc/cpuinfo)`);
  out.push(`- RAM: ${m.ramGiB.toFixed(1)} GiB; ${m.kernel}; filesystem of the work dir: ${m.filesystem}`);
  out.push(`- Node ${m.node}; ${m.restic ?? 'restic: not installed'}; ${m.borg ?? 'borg: not installed'}`);
  out.push('');
  out.push(
    '**Dataset** (deterministic, seeded PRNG' +
      (ctx.datasetReused ? ', reused from an earlier run' : ', generated by this run') +
      ')',
  );
  out.push('');
  out.push(
    `- ${(d.bytes / MiB).toFixed(1)} MiB in ${d.files} files (BENCH_SIZE_MIB=${ctx.sizeMiB}): ` +
      `${(d.largeBytes / MiB).toFixed(1)} MiB in 8 large random (incompressible) files, ` +
      `${(d.logBytes / MiB).toFixed(1)} MiB in 6 compressible log files (app, nginx, worker, PostgreSQL, JSON audit, syslog), ` +
      `${(d.smallBytes / MiB).toFixed(1)} MiB in ${d.smallFiles} small files of 1–64 KiB (half random, half text/JSON) in ${16 * 16} nested folders`,
  );
  if (ctx.change) {
    const c = ctx.change;
    out.push(
      `- ~1% change (${(c.bytesChanged / MiB).toFixed(2)} MiB = ${((100 * c.bytesChanged) / d.bytes).toFixed(2)}% of the dataset): ` +
        c.description.join('; '),
    );
  }
  out.push(
    `- Sequence, identical for every tool and run on the same dataset state: init → backup → no-change backup → ` +
      `apply change → backup → restore latest into an empty folder (${(ctx.restoredBytes / MiB).toFixed(1)} MiB).`,
  );
  out.push('');
  out.push(table);
  out.push('');
  out.push(
    judged === targets.length
      ? `Targets met: **${met} / ${targets.length}**.`
      : `Targets met: **${met} / ${judged}** judged (${targets.length - judged} not judged: no restic numbers).`,
  );
  out.push('');
  out.push('Notes');
  out.push('');
  out.push(
    '- Times are wall-clock times of the whole child process (process start, key derivation, repository open and the ' +
      'operation). Throughput = dataset (or restored) bytes ÷ that time, in MiB/s.',
  );
  out.push(
    '- Warm page cache: the dataset is hashed (read fully) before the first backup, nothing is dropped from the cache; ' +
      '`sync` runs before every timed operation so earlier writeback does not bleed into it. Restores do not fsync.',
  );
  out.push(
    '- Process start and key derivation are part of every time (Vaultline: Node start ≈ 0.1 s and Argon2id ' +
      '64 MiB × 3 passes ≈ 0.2 s; restic: scrypt; borg: PBKDF2), which weighs most on the no-change backup.',
  );
  out.push(
    '- "Bytes added" after the change depends on where chunk boundaries fall around the six 4 KiB overwrites; ' +
      'each tool keys its chunker per repository (Vaultline gear seed, restic polynomial, borg buzhash seed), so ' +
      'this number moves by a few MiB between runs.',
  );
  out.push(
    '- "Bytes added" = growth of the repository folder (sum of the sizes of all files below it), measured the same ' +
      "way for every tool; restic's and borg's caches live outside the repository folder.",
  );
  out.push(
    `- Peak RSS: Vaultline reports \`process.resourceUsage().maxRSS\` (worker threads included); restic and borg are ` +
      `measured with ${ctx.rssMethod === 'gnu-time' ? 'GNU time (`/usr/bin/time -f %M`)' : 'polling /proc/<pid>/status (VmHWM) every 20 ms'}.`,
  );
  for (const r of ctx.runs) out.push(`- ${r.name}: ${r.settings}.`);
  for (const s of ctx.skipped) out.push(`- Skipped: ${s}.`);
  const failures = ctx.runs.filter((r) => r.failure);
  if (failures.length) {
    out.push('');
    out.push('**Failures**');
    out.push('');
    for (const r of failures) {
      out.push(`- ${r.name} failed during ${r.failure!.phase}:`);
      out.push('');
      out.push('```');
      out.push(r.failure!.report);
      out.push('```');
    }
  }
  const bad = ctx.runs.filter((r) => r.verify && !r.verify.ok);
  for (const r of bad) {
    out.push('');
    out.push(`**${r.name} restore did not match the dataset:**`);
    out.push('');
    for (const p of r.verify!.problems.slice(0, 20)) out.push(`- ${p}`);
  }
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
