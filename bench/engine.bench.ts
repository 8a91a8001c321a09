/**
 * Engine benchmark: Vaultline against restic (and borg when installed) on the same deterministic
 * dataset, in the same run, with the same sequence of operations:
 *
 *   init → backup → no-change backup → ~1 % change → backup → restore latest (verified)
 *
 * Every operation runs in its own child process (Vaultline through bench/vaultline-op.ts), so
 * peak RSS is per operation. Prints a markdown table with the targets and writes it to
 * bench/results/engine-latest.md.
 *
 *   npm run build && node dist/bench/engine.bench.js
 *
 * Environment: BENCH_DIR (default /tmp/vaultline-bench), BENCH_SIZE_MIB (default 1100),
 * BENCH_JSON=1 (also print JSON), BENCH_KEEP=1 (keep repositories), BENCH_BORG=0 (skip borg),
 * BENCH_NO_GNU_TIME=1 (measure RSS by polling /proc even when GNU time is there).
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  applyChange,
  ensureDataset,
  hashFile,
  hashTree,
  invalidateDataset,
  listFiles,
  manifestBytes,
  manifestDigest,
  revertChange,
  MiB,
  type ChangeSummary,
  type Dataset,
  type HashManifest,
} from './dataset';
import { dirBytes, gnuTimeAvailable, machineInfo, syncDisks, which, type RssMethod } from './measure';
import { prettify, renderReport, type BenchContext, type ToolRun, type VerifyResult } from './report';
import { BorgTool, ResticTool, ToolFailure, VaultlineTool, type OpResult, type Tool } from './tools';

const PASSWORD = 'bench-password-0123';
/** Every n-th file (sorted) is hashed when a restore is sampled instead of fully verified. */
const SAMPLE_EVERY = 50;

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function envInt(name: string, dflt: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 8)
    throw new Error(`${name} must be an integer ≥ 8 (MiB), got ${JSON.stringify(raw)}`);
  return v;
}

function fmtOp(op: OpResult, bytes?: number): string {
  const s = op.wallMs / 1000;
  const parts = [`${s.toFixed(2)} s`];
  if (bytes !== undefined) parts.push(`${(bytes / MiB / s).toFixed(1)} MiB/s`);
  if (op.peakRssKiB !== null) parts.push(`peak RSS ${(op.peakRssKiB / 1024).toFixed(1)} MiB`);
  return parts.join(', ');
}

/** Compares a restored tree with the expected manifest: file set, sizes, and content hashes. */
function verifyRestore(root: string, expected: HashManifest, touched: string[], full: boolean): VerifyResult {
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
  const toHash = new Set<string>(full ? files : touched);
  if (!full) files.forEach((rel, i) => i % SAMPLE_EVERY === 0 && toHash.add(rel));
  let bytes = 0;
  let hashed = 0;
  for (const rel of files) {
    const want = expected.get(rel);
    if (!want) continue;
    if (toHash.has(rel)) {
      const h = hashFile(join(root, rel));
      hashed++;
      bytes += h.size;
      if (h.size !== want.size) problems.push(`size differs: ${rel} (${h.size} ≠ ${want.size})`);
      else if (h.sha256 !== want.sha256) problems.push(`content differs: ${rel}`);
    } else {
      const size = statSync(join(root, rel)).size;
      bytes += size;
      if (size !== want.size) problems.push(`size differs: ${rel} (${size} ≠ ${want.size})`);
    }
  }
  const expectedBytes = manifestBytes(expected);
  if (bytes !== expectedBytes) problems.push(`total size ${bytes} ≠ expected ${expectedBytes}`);
  return { ok: problems.length === 0, files: files.length, bytes, hashed, full, problems };
}

async function main(): Promise<number> {
  const started = new Date().toISOString();
  const benchDir = resolve(process.env['BENCH_DIR'] || '/tmp/vaultline-bench');
  const sizeMiB = envInt('BENCH_SIZE_MIB', 1100);
  const json = process.env['BENCH_JSON'] === '1';
  const keep = process.env['BENCH_KEEP'] === '1';
  const resultsDir = resolve(__dirname, '..', '..', 'bench', 'results');

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

  // ── dataset ──
  let ds: Dataset = ensureDataset(benchDir, sizeMiB, log);
  if (ds.generated) log(`dataset generated in ${(ds.generateMs / 1000).toFixed(1)} s`);
  log(`hashing the dataset (${(ds.marker.bytes / MiB).toFixed(0)} MiB; also warms the page cache)…`);
  let expected = hashTree(ds.root);
  if (manifestDigest(expected) !== ds.marker.digest) {
    if (!ds.generated) {
      log('dataset content does not match its marker: regenerating');
      invalidateDataset(benchDir);
      ds = ensureDataset(benchDir, sizeMiB, log, true);
      expected = hashTree(ds.root);
    }
    if (manifestDigest(expected) !== ds.marker.digest)
      throw new Error('freshly generated dataset does not match its digest');
  }
  const datasetBytes = ds.marker.bytes;
  log(`dataset: ${(datasetBytes / MiB).toFixed(1)} MiB, ${ds.marker.files} files under ${ds.root}`);

  const runDir = mkdtempSync(join(benchDir, 'run-'));
  const tools: Tool[] = [new VaultlineTool(join(runDir, 'vaultline-repo'), PASSWORD, rssMethod)];
  if (resticBin)
    tools.push(
      new ResticTool(
        resticBin,
        join(runDir, 'restic-repo'),
        join(runDir, 'restic-cache'),
        PASSWORD,
        rssMethod,
      ),
    );
  if (borgBin)
    tools.push(
      new BorgTool(borgBin, join(runDir, 'borg-repo'), join(runDir, 'borg-home'), PASSWORD, rssMethod),
    );
  const runs = new Map<Tool, ToolRun>(tools.map((t) => [t, { name: t.name, settings: t.settings }]));

  /** Runs `fn` for every tool still standing; a tool that fails drops out with its error recorded. */
  const phase = async (label: string, fn: (t: Tool, r: ToolRun) => Promise<void>): Promise<void> => {
    log(`── ${label}`);
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
    revertChange(benchDir);
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

    log('── applying the ~1% change');
    change = applyChange(ds);
    for (const d of change.description) log(`   ${d}`);
    for (const rel of change.touched) expected.set(rel, hashFile(join(ds.root, rel)));
    expected = new Map([...expected.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    restoredBytes = manifestBytes(expected);

    await phase('backup #3 (after ~1% change)', async (t, r) => {
      const before = dirBytes(t.repo);
      r.backup3 = await t.backup(ds.root);
      r.added3 = dirBytes(t.repo) - before;
      log(`[${t.name}] backup #3: ${fmtOp(r.backup3)}, added ${(r.added3 / MiB).toFixed(2)} MiB`);
    });
    await phase('restore latest', async (t, r) => {
      const target = join(runDir, `restore-${t.name}`);
      rmSync(target, { recursive: true, force: true });
      mkdirSync(target);
      syncDisks();
      r.restore = await t.restore(target);
      const full = t.name === 'vaultline';
      r.verify = verifyRestore(t.restoredRoot(target, ds.root), expected, change!.touched, full);
      log(
        `[${t.name}] restore: ${fmtOp(r.restore, restoredBytes)}; ` +
          (r.verify.ok
            ? `verified (${r.verify.files} files, ${r.verify.hashed} hashed)`
            : `VERIFY FAILED: ${r.verify.problems.slice(0, 5).join('; ')}`),
      );
      if (!r.verify.ok) keepRunDir = true;
      else rmSync(target, { recursive: true, force: true });
    });
    for (const t of tools) {
      const r = runs.get(t)!;
      if (!r.failure) r.finalRepoBytes = dirBytes(t.repo);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (revertChange(benchDir)) log('── reverted the ~1% change (dataset is reusable)');
    if ([...runs.values()].some((r) => r.failure)) keepRunDir = true;
    if (keepRunDir) log(`kept the run folder (repositories, failed restores): ${runDir}`);
    else rmSync(runDir, { recursive: true, force: true });
  }

  const ctx: BenchContext = {
    started,
    finished: new Date().toISOString(),
    sizeMiB,
    datasetDir: ds.root,
    marker: ds.marker,
    datasetReused: !ds.generated,
    change,
    restoredBytes,
    machine,
    rssMethod,
    skipped,
    runs: [...runs.values()],
  };
  const rendered = renderReport(ctx);
  const targets = rendered.targets;
  mkdirSync(resultsDir, { recursive: true });
  const resultFile = join(resultsDir, 'engine-latest.md');
  const markdown = await prettify(rendered.markdown, resultFile);
  process.stdout.write(`\n${markdown}`);
  writeFileSync(resultFile, markdown);
  log(`\nwrote ${resultFile}`);
  if (json) process.stdout.write(`${JSON.stringify({ ...ctx, targets }, null, 2)}\n`);

  const failed = ctx.runs.some((r) => r.failure || (r.verify && !r.verify.ok));
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
