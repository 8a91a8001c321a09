/**
 * `scale`: ≥ 5 GiB (BENCH_SCALE_GIB, default 5), to show that memory stays flat as data grows:
 *
 *   data/large/   90 %   incompressible files of 64–512 MiB (4.5 GiB of 5)
 *   data/logs/    ~6 %   compressible logs (300 MiB of 5 GiB), the same formats as `mixed`
 *   data/small/          50 000 files of 0.5–16 KiB (log-uniform; half random, half text/JSON)
 *                        in 16 × 16 folders
 *
 * Every part scales with BENCH_SCALE_GIB (file sizes too, down to 1 MiB large files).
 * Its ~1 % change: in-place overwrites in four large files, log lines appended to every log, and
 * new small files in a new folder.
 */
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  GiB,
  HashedWriter,
  KiB,
  MiB,
  WRITE_BLOCK,
  appendBytes,
  jsonContent,
  logUniform,
  manifestBytes,
  manifestDigest,
  readRegion,
  textContent,
  timesOf,
  writeRandomFile,
  writeRegion,
  type DatasetMarker,
  type DatasetSpec,
  type Generated,
  type HashManifest,
  type PlannedChange,
  type Undo,
} from './dataset';
import { LOG_EPOCH_MS, logFiles, writeLogs } from './dataset-mixed';
import { LogClock, logText } from './loggen';
import { Rng } from './prng';

const GENERATOR_VERSION = 1;
const SEED = 'vaultline-bench/scale/v1';
const ALIGN = 4096;

const align = (n: number): number => Math.max(ALIGN, Math.floor(n / ALIGN) * ALIGN);

function smallFile(rng: Rng, clock: LogClock): { ext: string; data: Buffer } {
  const size = logUniform(rng, 512, 16 * KiB);
  const k = rng.float();
  if (k < 0.5) {
    const data = Buffer.alloc(size);
    rng.fill(data);
    return { ext: 'bin', data };
  }
  const text = k < 0.8 ? textContent(rng, size, clock) : jsonContent(rng, size, clock);
  return { ext: k < 0.8 ? 'txt' : 'json', data: Buffer.from(text, 'latin1') };
}

function generate(target: string, gib: number, log: (msg: string) => void): Generated {
  const f = gib / 5;
  const total = gib * GiB;
  const manifest: HashManifest = new Map();

  // Large incompressible files of 64–512 MiB (scaled), each its own PRNG stream.
  mkdirSync(join(target, 'large'));
  const minSize = align(Math.max(MiB, 64 * MiB * f));
  const maxSize = align(Math.max(2 * MiB, 512 * MiB * f));
  const sizeRng = new Rng(`${SEED}/large-sizes`);
  const block = new Uint8Array(WRITE_BLOCK);
  let largeLeft = align(total * 0.9);
  let largeFiles = 0;
  while (largeLeft > 0) {
    let size = align(sizeRng.int(minSize, maxSize));
    if (size > largeLeft || largeLeft - size < minSize) size = largeLeft;
    const rel = `large/blob-${String(largeFiles).padStart(3, '0')}.bin`;
    manifest.set(
      rel,
      writeRandomFile(join(target, rel), size, new Rng(`${SEED}/large/${largeFiles}`), block),
    );
    largeLeft -= size;
    largeFiles++;
  }
  const largeBytes = manifestBytes(manifest);
  log(`large: ${largeFiles} files, ${(largeBytes / MiB).toFixed(1)} MiB random`);

  const logs = writeLogs(target, Math.round(300 * MiB * f), SEED, manifest);
  log(`logs: ${logs.files} files, ${(logs.bytes / MiB).toFixed(1)} MiB`);

  const smallFiles = Math.max(16, Math.round(50_000 * f));
  const rng = new Rng(`${SEED}/small`);
  const clock = new LogClock(LOG_EPOCH_MS);
  for (let a = 0; a < 16; a++)
    for (let b = 0; b < 16; b++)
      mkdirSync(join(target, `small/g${a.toString(16)}/s${b.toString(16)}`), { recursive: true });
  let smallBytes = 0;
  for (let i = 0; i < smallFiles; i++) {
    const { ext, data } = smallFile(rng, clock);
    const rel = `small/g${rng.int(0, 15).toString(16)}/s${rng.int(0, 15).toString(16)}/f${String(i).padStart(6, '0')}.${ext}`;
    const w = new HashedWriter(join(target, rel));
    w.bytes(data);
    manifest.set(rel, w.close());
    smallBytes += data.length;
  }
  log(`small: ${smallFiles} files, ${(smallBytes / MiB).toFixed(1)} MiB in 256 folders`);

  return {
    files: manifest.size,
    bytes: manifestBytes(manifest),
    dirs: 2 + 16 + 256 + 1,
    digest: manifestDigest(manifest),
    parts: { largeFiles, largeBytes, logFiles: logs.files, logBytes: logs.bytes, smallFiles, smallBytes },
  };
}

function planChange(root: string, marker: DatasetMarker): PlannedChange {
  const budget = Math.round(marker.bytes * 0.01);
  const largeFiles = marker.parts['largeFiles'] ?? 0;
  const undo: Undo[] = [];

  // 1. ~30 %: four regions overwritten in place in each of four large files.
  const region = Math.min(MiB, align((budget * 0.3) / 16));
  const targets = [...new Set([1, 3, 5, 7].map((i) => Math.min(i, largeFiles - 1)))].map(
    (i) => `large/blob-${String(i).padStart(3, '0')}.bin`,
  );
  const patches: { rel: string; offset: number; bytes: Buffer }[] = [];
  for (const rel of targets) {
    const size = lstatSync(join(root, rel)).size;
    for (let k = 0; k < 4; k++) {
      const offset = Math.min(size - region, align((size * (k + 0.5)) / 4));
      if (offset < 0) continue;
      const bytes = Buffer.alloc(region);
      new Rng(`${SEED}/change/${rel}/${k}`).fill(bytes);
      patches.push({ rel, offset, bytes });
    }
  }
  for (const p of patches)
    undo.push({
      op: 'patch',
      rel: p.rel,
      offset: p.offset,
      original: readRegion(join(root, p.rel), p.offset, region),
    });
  const overwriteBytes = patches.length * region;

  // 2. ~20 %: log lines appended to every log.
  const logs = logFiles();
  const appends = logs.map((l, i) => ({
    rel: l.rel,
    data: Buffer.from(
      logText(
        l.format,
        new Rng(`${SEED}/change/append/${i}`),
        new LogClock(LOG_EPOCH_MS + 30 * 86_400_000),
        Math.round((budget * 0.2) / logs.length),
      ),
      'latin1',
    ),
  }));
  for (const a of appends)
    undo.push({
      op: 'truncate',
      rel: a.rel,
      size: lstatSync(join(root, a.rel)).size,
      ...timesOf(join(root, a.rel)),
    });
  const appendBytesTotal = appends.reduce((n, a) => n + a.data.length, 0);

  // 3. The rest: new small files in a new folder.
  const newDir = 'small/new';
  const rng = new Rng(`${SEED}/change/new`);
  const clock = new LogClock(LOG_EPOCH_MS + 30 * 86_400_000);
  const created: { rel: string; data: Buffer }[] = [];
  let newBytes = 0;
  const newBudget = budget - overwriteBytes - appendBytesTotal;
  while (newBytes < newBudget || created.length === 0) {
    const { ext, data } = smallFile(rng, clock);
    created.push({ rel: `${newDir}/n${String(created.length).padStart(6, '0')}.${ext}`, data });
    newBytes += data.length;
  }
  undo.push({ op: 'rmdir', rel: newDir });

  return {
    undo,
    apply() {
      for (const p of patches) writeRegion(join(root, p.rel), p.offset, p.bytes);
      for (const a of appends) appendBytes(join(root, a.rel), a.data);
      mkdirSync(join(root, newDir), { recursive: true });
      for (const c of created) writeFileSync(join(root, c.rel), c.data);
      return {
        bytesChanged: overwriteBytes + appendBytesTotal + newBytes,
        touched: [...targets, ...appends.map((a) => a.rel), ...created.map((c) => c.rel)],
        deleted: [],
        description: [
          `${patches.length} × ${(region / KiB).toFixed(0)} KiB overwritten in place in ${targets.join(', ')}`,
          `${(appendBytesTotal / KiB).toFixed(0)} KiB of log lines appended to ${appends.length} logs`,
          `${created.length} new small files (${(newBytes / MiB).toFixed(2)} MiB) in ${newDir}/`,
        ],
      };
    },
  };
}

export function scaleSpec(gib: number): DatasetSpec {
  return {
    name: 'scale',
    generator: GENERATOR_VERSION,
    seed: SEED,
    params: { gib },
    sizing: `BENCH_SCALE_GIB=${gib}`,
    generate: (target, log) => generate(target, gib, log),
    planChange: (ds) => planChange(ds.root, ds.marker),
    describe(m: DatasetMarker): string {
      const p = m.parts;
      return (
        `${(m.bytes / GiB).toFixed(2)} GiB in ${m.files} files: ` +
        `${((p['largeBytes'] ?? 0) / MiB).toFixed(1)} MiB in ${p['largeFiles'] ?? 0} large random (incompressible) files, ` +
        `${((p['logBytes'] ?? 0) / MiB).toFixed(1)} MiB in ${p['logFiles'] ?? 0} compressible log files, ` +
        `${((p['smallBytes'] ?? 0) / MiB).toFixed(1)} MiB in ${p['smallFiles'] ?? 0} small files of 0.5–16 KiB (half random, half text/JSON) in 256 folders`
      );
    },
  };
}
