/**
 * Engine benchmark: Vaultline against restic (and borg when installed) on deterministic datasets of
 * different shapes, in the same run, with the same sequence of operations on each:
 *
 *   init → backup → no-change backup → ~1 % change → backup → restore latest (verified)
 *
 * Datasets (bench/dataset-*.ts): `mixed` (large random files, logs, small files; ~1.1 GiB),
 * `small` (60 000 small files with modes, symlinks, hard links, empty files and folders) and
 * `scale` (≥ 5 GiB: does memory stay flat as data grows?).
 *
 * Every operation is one run of the tool's command (Vaultline: `vaultline`, see vaultlineCommand in
 * bench/tools.ts), so times include process start and key derivation and peak RSS is per
 * operation. Prints one markdown table per dataset and a summary of the targets, and writes them
 * to bench/results/engine-latest.md.
 *
 *   npm run bench:engine
 *
 * Environment: BENCH_DATASETS (default mixed,small,scale), BENCH_DIR (default /tmp/vaultline-bench;
 * each dataset in <dir>/<name>/), BENCH_SIZE_MIB (mixed, default 1100), BENCH_SMALL_FILES (small,
 * default 60000), BENCH_SCALE_GIB (scale, default 5), BENCH_DROP_DATASETS=1 (delete each dataset
 * after its run, to save disk), BENCH_JSON=1 (also print JSON), BENCH_KEEP=1 (keep repositories),
 * BENCH_BORG=0 (skip borg), BENCH_NO_GNU_TIME=1 (measure RSS by polling /proc even when GNU time is
 * there), BENCH_VAULTLINE=<command> (run that instead of node_modules/.bin/vaultline).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  DATASET_NAMES,
  MiB,
  applyChange,
  ensureDataset,
  hashFile,
  hashTree,
  invalidateDataset,
  listFiles,
  manifestBytes,
  manifestDigest,
  metaTree,
  revertChange,
  sortManifest,
  type ChangeSummary,
  type Dataset,
  type DatasetName,
  type DatasetSpec,
  type HashManifest,
  type MetaEntry,
} from './dataset';
import { mixedSpec } from './dataset-mixed';
import { scaleSpec } from './dataset-scale';
import { smallSpec } from './dataset-small';
import { dirBytes, gnuTimeAvailable, machineInfo, syncDisks, which, type RssMethod } from './measure';
import {
  prettify,
  renderReport,
  type BenchContext,
  type BenchReport,
  type Fidelity,
  type Kept,
  type ToolRun,
  type VerifyResult,
} from './report';
import { BorgTool, ResticTool, ToolFailure, VaultlineTool, type OpResult, type Tool } from './tools';

const PASSWORD = 'bench-password-0123';

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function envNumber(name: string, dflt: number, min: number, integer: boolean, unit: string): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v)))
    throw new Error(
      `${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min} (${unit}), got ${JSON.stringify(raw)}`,
    );
  return v;
}

function datasetsFromEnv(): DatasetSpec[] {
  const raw = process.env['BENCH_DATASETS'] || DATASET_NAMES.join(',');
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const specs: DatasetSpec[] = [];
  for (const n of names) {
    if (!DATASET_NAMES.includes(n as DatasetName))
      throw new Error(
        `BENCH_DATASETS: unknown dataset ${JSON.stringify(n)} (want ${DATASET_NAMES.join(', ')})`,
      );
    if (specs.some((s) => s.name === n)) continue;
    if (n === 'mixed') specs.push(mixedSpec(envNumber('BENCH_SIZE_MIB', 1100, 8, true, 'MiB')));
    else if (n === 'small') specs.push(smallSpec(envNumber('BENCH_SMALL_FILES', 60_000, 100, true, 'files')));
    else specs.push(scaleSpec(envNumber('BENCH_SCALE_GIB', 5, 0.01, false, 'GiB')));
  }
  if (specs.length === 0) throw new Error('BENCH_DATASETS names no dataset');
  return specs;
}

function fmtOp(op: OpResult, bytes?: number): string {
  const s = op.wallMs / 1000;
  const parts = [`${s.toFixed(2)} s`];
  if (bytes !== undefined) parts.push(`${(bytes / MiB / s).toFixed(1)} MiB/s`);
  if (op.peakRssKiB !== null) parts.push(`peak RSS ${(op.peakRssKiB / 1024).toFixed(1)} MiB`);
  return parts.join(', ');
}

/** When the last tree of many files was deleted (see `settleDeletions`). */
let lastBulkDelete = 0;
const INODE_RECENCY_MS = 65_000;

function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true });
  lastBulkDelete = Date.now();
}

/** Waits until no deleted tree is recent enough for ext4 to skip its inodes on creation. */
async function settleDeletions(): Promise<void> {
  syncDisks();
  const wait = lastBulkDelete + INODE_RECENCY_MS - Date.now();
  if (wait <= 0) return;
  log(
    `   waiting ${(wait / 1000).toFixed(0)} s: ext4 skips inodes freed in the last minute when it creates files`,
  );
  await new Promise((r) => setTimeout(r, wait));
}

/** Compares a restored tree with the expected manifest: file set, sizes, and every file's hash. */
function verifyRestore(root: string, expected: HashManifest): VerifyResult {
  const problems: string[] = [];
  let files: string[] = [];
  try {
    files = listFiles(root);
  } catch (err) {
    problems.push(`cannot list ${root}: ${String(err)}`);
  }
  const got = new Set(files);
  for (const rel of expected.keys()) if (!got.has(rel)) problems.push(`missing: ${rel}`);
  for (const rel of files) if (!expected.has(rel)) problems.push(`unexpected: ${rel}`);
  let bytes = 0;
  let hashed = 0;
  for (const rel of files) {
    const want = expected.get(rel);
    if (!want) continue;
    const h = hashFile(join(root, rel));
    hashed++;
    bytes += h.size;
    if (h.size !== want.size) problems.push(`size differs: ${rel} (${h.size} ≠ ${want.size})`);
    else if (h.sha256 !== want.sha256) problems.push(`content differs: ${rel}`);
  }
  const expectedBytes = manifestBytes(expected);
  if (bytes !== expectedBytes) problems.push(`total size ${bytes} ≠ expected ${expectedBytes}`);
  return { ok: problems.length === 0, files: files.length, bytes, hashed, full: true, problems };
}

/** What the restore kept of the source's metadata (computed; nothing here fails the run). */
function fidelity(source: Map<string, MetaEntry>, restoredRoot: string): Fidelity {
  const restored = metaTree(restoredRoot);
  const count = (pred: (s: MetaEntry) => boolean, ok: (s: MetaEntry, r: MetaEntry) => boolean): Kept => {
    let total = 0;
    let kept = 0;
    for (const [rel, s] of source) {
      if (!pred(s)) continue;
      total++;
      const r = restored.get(rel);
      if (r && ok(s, r)) kept++;
    }
    return { kept, total };
  };
  const isFile = (s: MetaEntry): boolean => s.type === 'file';
  const sameType = (s: MetaEntry, r: MetaEntry): boolean => s.type === r.type;
  const within = (unit: bigint) => (s: MetaEntry, r: MetaEntry) =>
    sameType(s, r) && s.mtimeNs / unit === r.mtimeNs / unit;
  // Hard links: each source inode with several names must come back as one inode.
  const groups = new Map<bigint, string[]>();
  for (const [rel, s] of source)
    if (s.type === 'file' && s.nlink > 1) groups.set(s.ino, [...(groups.get(s.ino) ?? []), rel]);
  let linked = 0;
  let linkGroups = 0;
  for (const names of groups.values()) {
    if (names.length < 2) continue; // the other names are outside the backed-up folder
    linkGroups++;
    const inos = new Set(names.map((n) => restored.get(n)?.ino ?? -1n));
    if (inos.size === 1 && !inos.has(-1n)) linked++;
  }
  return {
    fileModes: count(isFile, (s, r) => sameType(s, r) && s.mode === r.mode),
    mtimeNs: count(isFile, within(1n)),
    mtimeUs: count(isFile, within(1000n)),
    mtimeSec: count(isFile, within(1_000_000_000n)),
    symlinks: count(
      (s) => s.type === 'symlink',
      (s, r) => r.type === 'symlink' && r.target === s.target,
    ),
    hardLinks: { kept: linked, total: linkGroups },
    emptyDirs: count(
      (s) => s.type === 'dir' && s.empty === true,
      (_s, r) => r.type === 'dir' && r.empty === true,
    ),
  };
}

interface Peers {
  resticBin: string | null;
  borgBin: string | null;
  rssMethod: RssMethod;
}

/** Runs every tool through the sequence on one dataset. */
async function runDataset(benchDir: string, spec: DatasetSpec, peers: Peers): Promise<BenchContext> {
  const keep = process.env['BENCH_KEEP'] === '1';
  const tag = `[${spec.name}]`;
  log(`\n══ dataset ${spec.name} (${spec.sizing})`);
  let ds: Dataset = ensureDataset(benchDir, spec, log);
  if (ds.generated) log(`${tag} dataset generated in ${(ds.generateMs / 1000).toFixed(1)} s`);
  log(`${tag} hashing the dataset (${(ds.marker.bytes / MiB).toFixed(0)} MiB; also warms the page cache)…`);
  let expected = hashTree(ds.root);
  if (manifestDigest(expected) !== ds.marker.digest) {
    if (!ds.generated) {
      log(`${tag} dataset content does not match its marker: regenerating`);
      invalidateDataset(ds);
      ds = ensureDataset(benchDir, spec, log, true);
      expected = hashTree(ds.root);
    }
    if (manifestDigest(expected) !== ds.marker.digest)
      throw new Error(`${spec.name}: freshly generated dataset does not match its digest`);
  }
  const datasetBytes = ds.marker.bytes;
  log(`${tag} ${(datasetBytes / MiB).toFixed(1)} MiB, ${ds.marker.files} files under ${ds.root}`);

  const runDir = mkdtempSync(join(ds.dir, 'run-'));
  const passwordFile = join(runDir, 'password');
  writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  const tools: Tool[] = [new VaultlineTool(join(runDir, 'vaultline-repo'), passwordFile, peers.rssMethod)];
  if (peers.resticBin)
    tools.push(
      new ResticTool(
        peers.resticBin,
        join(runDir, 'restic-repo'),
        join(runDir, 'restic-cache'),
        passwordFile,
        peers.rssMethod,
      ),
    );
  if (peers.borgBin)
    tools.push(
      new BorgTool(
        peers.borgBin,
        join(runDir, 'borg-repo'),
        join(runDir, 'borg-home'),
        PASSWORD,
        peers.rssMethod,
      ),
    );
  const runs = new Map<Tool, ToolRun>(tools.map((t) => [t, { name: t.name, settings: t.settings }]));

  /** Runs `fn` for every tool still standing; a tool that fails drops out with its error recorded. */
  const phase = async (label: string, fn: (t: Tool, r: ToolRun) => Promise<void>): Promise<void> => {
    log(`── ${spec.name}: ${label}`);
    for (const t of tools) {
      const r = runs.get(t)!;
      if (r.failure) continue;
      try {
        syncDisks();
        await fn(t, r);
      } catch (err) {
        if (!(err instanceof ToolFailure)) throw err;
        r.failure = { phase: label, report: err.report() };
        log(`[${t.name}] FAILED during ${label}:\n${err.report()}`);
      }
    }
  };

  // Ctrl-C: put the dataset back before leaving (the journal would also let the next run do it).
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`\n${sig}: reverting the dataset and stopping (run folder left at ${runDir})`);
    revertChange(ds.dir);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let change: ChangeSummary | null = null;
  let restoredBytes = datasetBytes;
  let keepRunDir = keep;
  try {
    await phase('init', async (t, r) => {
      r.init = await t.init();
      log(`[${t.name}] init: ${fmtOp(r.init)}`);
    });
    await phase('backup #1 (initial)', async (t, r) => {
      r.backup1 = await t.backup(ds.root);
      r.repoAfter1 = dirBytes(t.repo);
      log(
        `[${t.name}] backup #1: ${fmtOp(r.backup1, datasetBytes)}, repository ${(r.repoAfter1 / MiB).toFixed(1)} MiB`,
      );
    });
    await phase('backup #2 (no change)', async (t, r) => {
      const before = dirBytes(t.repo);
      r.backup2 = await t.backup(ds.root);
      r.added2 = dirBytes(t.repo) - before;
      log(`[${t.name}] backup #2: ${fmtOp(r.backup2)}, added ${(r.added2 / 1024).toFixed(1)} KiB`);
    });

    log(`── ${spec.name}: applying the ~1% change`);
    change = applyChange(ds);
    for (const d of change.description) log(`   ${d}`);
    for (const rel of change.deleted) expected.delete(rel);
    for (const rel of change.touched) expected.set(rel, hashFile(join(ds.root, rel)));
    expected = sortManifest(expected);
    restoredBytes = manifestBytes(expected);
    // The source's metadata as the last backup sees it.
    const sourceMeta = metaTree(ds.root);

    await phase('backup #3 (after ~1% change)', async (t, r) => {
      const before = dirBytes(t.repo);
      r.backup3 = await t.backup(ds.root);
      r.added3 = dirBytes(t.repo) - before;
      log(`[${t.name}] backup #3: ${fmtOp(r.backup3)}, added ${(r.added3 / MiB).toFixed(2)} MiB`);
    });
    // Every tool's restore stays on disk until all have restored: ext4 skips inodes freed in the
    // last minute when it creates files, so a tool restoring right after another's restore was
    // deleted spends its time in the kernel's inode allocator (2× slower restores of 60 000
    // files, seen in perf as `recently_deleted` under `ext4_create`).
    const restores: string[] = [];
    // The same for what earlier datasets deleted: after a sync, ext4 forgets a freed inode after
    // 60 s (RECENTCY_MIN in fs/ext4/ialloc.c).
    await settleDeletions();
    await phase('restore latest', async (t, r) => {
      const target = join(runDir, `restore-${t.name}`);
      rmSync(target, { recursive: true, force: true });
      mkdirSync(target);
      syncDisks();
      r.restore = await t.restore(target);
      const root = t.restoredRoot(target, ds.root);
      r.verify = verifyRestore(root, expected);
      r.fidelity = fidelity(sourceMeta, root);
      log(
        `[${t.name}] restore: ${fmtOp(r.restore, restoredBytes)}; ` +
          (r.verify.ok
            ? `verified (${r.verify.files} files, ${r.verify.hashed} hashed)`
            : `VERIFY FAILED: ${r.verify.problems.slice(0, 5).join('; ')}`),
      );
      if (!r.verify.ok) keepRunDir = true;
      else restores.push(target);
    });
    for (const target of restores) removeTree(target);
    for (const t of tools) {
      const r = runs.get(t)!;
      if (!r.failure) r.finalRepoBytes = dirBytes(t.repo);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (revertChange(ds.dir)) log(`── ${spec.name}: reverted the ~1% change (dataset is reusable)`);
    if ([...runs.values()].some((r) => r.failure)) keepRunDir = true;
    if (keepRunDir) log(`kept the run folder (repositories, failed restores): ${runDir}`);
    else removeTree(runDir);
  }

  return {
    dataset: spec.name,
    sizing: spec.sizing,
    description: spec.describe(ds.marker),
    datasetDir: ds.root,
    marker: ds.marker,
    datasetReused: !ds.generated,
    generateMs: ds.generateMs,
    change,
    restoredBytes,
    runs: [...runs.values()],
  };
}

async function main(): Promise<number> {
  const started = new Date().toISOString();
  const benchDir = resolve(process.env['BENCH_DIR'] || '/tmp/vaultline-bench');
  const specs = datasetsFromEnv();
  const json = process.env['BENCH_JSON'] === '1';
  const dropDatasets = process.env['BENCH_DROP_DATASETS'] === '1';
  const resultsDir = resolve(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(benchDir, { recursive: true });

  const skipped: string[] = [];
  const resticBin = which('restic');
  if (!resticBin) {
    log('restic not installed: apt-get install restic — skipping the restic comparison');
    skipped.push('restic (not installed: apt-get install restic)');
  }
  let borgBin = which('borg');
  if (!borgBin) skipped.push('borg (not installed: apt-get install borgbackup)');
  else if (process.env['BENCH_BORG'] === '0') {
    skipped.push('borg (BENCH_BORG=0)');
    borgBin = null;
  }
  let rssMethod: RssMethod = 'proc-poll';
  if (process.env['BENCH_NO_GNU_TIME'] !== '1' && gnuTimeAvailable()) rssMethod = 'gnu-time';
  else log('GNU time not used: measuring peak RSS by polling /proc/<pid>/status every 20 ms');
  const machine = machineInfo(benchDir, resticBin, borgBin);
  log(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.ramGiB.toFixed(1)} GiB RAM, node ${machine.node}, ` +
      `${machine.restic ?? 'no restic'}, ${machine.borg ?? 'no borg'}`,
  );
  log(`datasets: ${specs.map((s) => `${s.name} (${s.sizing})`).join(', ')}; under ${benchDir}`);

  const datasets: BenchContext[] = [];
  for (const spec of specs) {
    datasets.push(await runDataset(benchDir, spec, { resticBin, borgBin, rssMethod }));
    if (dropDatasets) {
      // The data and its marker; a run folder kept for inspection stays.
      rmSync(join(benchDir, spec.name, 'dataset.json'), { force: true });
      removeTree(join(benchDir, spec.name, 'data'));
      log(`── ${spec.name}: dataset deleted (BENCH_DROP_DATASETS=1)`);
    }
  }

  const report: BenchReport = {
    started,
    finished: new Date().toISOString(),
    machine,
    rssMethod,
    skipped,
    datasets,
  };
  const rendered = renderReport(report);
  mkdirSync(resultsDir, { recursive: true });
  const resultFile = join(resultsDir, 'engine-latest.md');
  const markdown = await prettify(rendered.markdown, resultFile);
  process.stdout.write(`\n${markdown}`);
  writeFileSync(resultFile, markdown);
  log(`\nwrote ${resultFile}`);
  if (json)
    process.stdout.write(
      `${JSON.stringify({ ...report, targets: rendered.targets }, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v), 2)}\n`,
    );

  const failed = datasets.some((d) => d.runs.some((r) => r.failure || (r.verify && !r.verify.ok)));
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  },
);
