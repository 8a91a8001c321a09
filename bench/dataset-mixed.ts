/**
 * `mixed`: the original benchmark dataset, ~1.1 GiB by default (BENCH_SIZE_MIB).
 *
 *   data/large/   ~60 %  8 incompressible files
 *   data/logs/    ~25 %  6 compressible log files in different formats
 *   data/small/   ~15 %  thousands of 1–64 KiB files in 16 × 16 nested folders (random, text, JSON)
 *
 * Its ~1 % change: three 4 KiB in-place overwrites in the middle of each of two large files, ~1 KiB
 * inserted near the start of the biggest log, and new files making up the rest of ~1 %.
 */
import { lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  HashedWriter,
  KiB,
  MiB,
  WRITE_BLOCK,
  jsonContent,
  manifestBytes,
  manifestDigest,
  readRegion,
  textContent,
  writeRandomFile,
  writeRegion,
  type DatasetMarker,
  type DatasetSpec,
  type Generated,
  type HashManifest,
  type PlannedChange,
  type Undo,
} from './dataset';
import { LogClock, logLine, logText, type LogFormat } from './loggen';
import { Rng } from './prng';

const GENERATOR_VERSION = 1;
const SEED = 'vaultline-bench/v1';
const LARGE_FILES = 8;
const LOGS: { name: string; format: LogFormat; weight: number }[] = [
  { name: 'app-server.log', format: 'app', weight: 0.3 },
  { name: 'nginx-access.log', format: 'nginx', weight: 0.25 },
  { name: 'worker.log', format: 'worker', weight: 0.15 },
  { name: 'postgresql.log', format: 'postgres', weight: 0.12 },
  { name: 'audit.jsonl', format: 'audit', weight: 0.1 },
  { name: 'syslog', format: 'syslog', weight: 0.08 },
];
/** The log file that receives the insertion near its start. */
const INSERT_LOG = 'logs/app-server.log';
export const LOG_EPOCH_MS = Date.UTC(2024, 2, 1, 0, 0, 0);

/** Writes the compressible log files of `total` bytes (split by weight) into `<target>/logs`. */
export function writeLogs(
  target: string,
  total: number,
  seed: string,
  manifest: HashManifest,
): { files: number; bytes: number } {
  mkdirSync(join(target, 'logs'), { recursive: true });
  let bytes = 0;
  for (const spec of LOGS) {
    const rel = `logs/${spec.name}`;
    const rng = new Rng(`${seed}/logs/${spec.name}`);
    const clock = new LogClock(LOG_EPOCH_MS);
    const want = Math.floor(total * spec.weight);
    const w = new HashedWriter(join(target, rel));
    let n = 0;
    for (;;) {
      const line = logLine(spec.format, rng, clock);
      if (n + line.length > want) break;
      w.text(line);
      n += line.length;
    }
    const h = w.close();
    bytes += h.size;
    manifest.set(rel, h);
  }
  return { files: LOGS.length, bytes };
}

/** The log files writeLogs writes, with their formats. */
export function logFiles(): { rel: string; format: LogFormat }[] {
  return LOGS.map((l) => ({ rel: `logs/${l.name}`, format: l.format }));
}

function generate(target: string, sizeMiB: number, log: (msg: string) => void): Generated {
  const total = sizeMiB * MiB;
  const largeTotal = Math.round(total * 0.6);
  const logTotal = Math.round(total * 0.25);
  const smallTotal = total - largeTotal - logTotal;
  const manifest: HashManifest = new Map();
  let dirs = 0;
  const mkdir = (rel: string): void => {
    mkdirSync(join(target, rel), { recursive: true });
    dirs++;
  };

  // Large incompressible files, each from its own stream so none deduplicates against another.
  mkdir('large');
  const largeSize = Math.floor(largeTotal / LARGE_FILES / 4096) * 4096;
  const block = new Uint8Array(WRITE_BLOCK);
  for (let i = 0; i < LARGE_FILES; i++) {
    const rel = `large/random-${String(i).padStart(2, '0')}.bin`;
    manifest.set(rel, writeRandomFile(join(target, rel), largeSize, new Rng(`${SEED}/large/${i}`), block));
  }
  log(`large: ${LARGE_FILES} × ${(largeSize / MiB).toFixed(1)} MiB random`);

  // Compressible logs.
  dirs++;
  const logs = writeLogs(target, logTotal, SEED, manifest);
  log(`logs: ${logs.files} files, ${(logs.bytes / MiB).toFixed(1)} MiB`);

  // Thousands of small files: 1–64 KiB, in 16 × 16 nested folders; half random, half text/JSON.
  const rng = new Rng(`${SEED}/small`);
  const clock = new LogClock(LOG_EPOCH_MS);
  for (let a = 0; a < 16; a++) {
    mkdir(`small/g${a.toString(16)}`);
    for (let b = 0; b < 16; b++) mkdir(`small/g${a.toString(16)}/s${b.toString(16).padStart(2, '0')}`);
  }
  let smallBytes = 0;
  let smallFiles = 0;
  while (smallBytes < smallTotal) {
    const size = Math.min(rng.int(KiB, 64 * KiB), Math.max(KiB, smallTotal - smallBytes));
    const dir = `small/g${rng.int(0, 15).toString(16)}/s${rng.int(0, 15).toString(16).padStart(2, '0')}`;
    const kind = rng.float();
    const ext = kind < 0.5 ? 'bin' : kind < 0.8 ? 'txt' : 'json';
    const rel = `${dir}/f${String(smallFiles).padStart(5, '0')}.${ext}`;
    const w = new HashedWriter(join(target, rel));
    if (ext === 'bin') {
      const buf = new Uint8Array(size);
      rng.fill(buf);
      w.bytes(buf);
    } else if (ext === 'txt') {
      w.text(textContent(rng, size, clock));
    } else {
      w.text(jsonContent(rng, size, clock));
    }
    const h = w.close();
    manifest.set(rel, h);
    smallBytes += h.size;
    smallFiles++;
  }
  log(`small: ${smallFiles} files, ${(smallBytes / MiB).toFixed(1)} MiB in ${16 * 16} folders`);

  return {
    files: manifest.size,
    bytes: manifestBytes(manifest),
    dirs,
    digest: manifestDigest(manifest),
    parts: { largeBytes: largeSize * LARGE_FILES, logBytes: logs.bytes, smallBytes, smallFiles },
  };
}

function planChange(root: string, datasetBytes: number): PlannedChange {
  const budget = Math.round(datasetBytes * 0.01);
  const undo: Undo[] = [];

  // 1. Overwrites: the original bytes are journaled first.
  const REGION = 4 * KiB;
  const overwriteTargets = ['large/random-01.bin', 'large/random-05.bin'];
  const planned: { rel: string; offset: number; bytes: Buffer }[] = [];
  for (const rel of overwriteTargets) {
    const size = lstatSync(join(root, rel)).size;
    const mid = Math.floor(size / 2 / REGION) * REGION;
    const step = Math.min(4 * MiB, Math.floor(size / 4 / REGION) * REGION);
    for (const [k, offset] of [mid - step, mid, mid + step].entries()) {
      const bytes = Buffer.alloc(REGION);
      new Rng(`${SEED}/change/${rel}/${k}`).fill(bytes);
      planned.push({ rel, offset, bytes });
    }
  }
  for (const p of planned)
    undo.push({
      op: 'patch',
      rel: p.rel,
      offset: p.offset,
      original: readRegion(join(root, p.rel), p.offset, REGION),
    });
  const overwriteBytes = planned.length * REGION;

  // 2. Insertion near the start of a log: at the first line boundary after 4 KiB.
  const logPath = join(root, INSERT_LOG);
  const logBytes = readFileSync(logPath);
  const at = logBytes.indexOf(0x0a, 4 * KiB) + 1;
  const insert = Buffer.from(
    logText('app', new Rng(`${SEED}/change/insert`), new LogClock(LOG_EPOCH_MS + 60_000), KiB),
    'latin1',
  );
  undo.push({
    op: 'uninsert',
    rel: INSERT_LOG,
    offset: at,
    length: insert.length,
    originalSize: logBytes.length,
  });

  // 3. New files for the rest of the 1 %.
  const newDir = 'small/new-batch';
  const NEW_FILES = 24;
  const newTotal = Math.max(NEW_FILES * KiB, budget - overwriteBytes - insert.length);
  const each = Math.floor(newTotal / NEW_FILES);
  const newFiles: { rel: string; data: Buffer }[] = [];
  for (let i = 0; i < NEW_FILES; i++) {
    const rng = new Rng(`${SEED}/change/new/${i}`);
    const size = i === NEW_FILES - 1 ? newTotal - each * (NEW_FILES - 1) : each;
    let data: Buffer;
    if (i % 2 === 0) {
      data = Buffer.alloc(size);
      rng.fill(data);
    } else {
      data = Buffer.from(
        logText('worker', rng, new LogClock(LOG_EPOCH_MS + 86_400_000), size).slice(0, size),
        'latin1',
      );
    }
    newFiles.push({ rel: `${newDir}/n${String(i).padStart(2, '0')}.${i % 2 === 0 ? 'bin' : 'log'}`, data });
  }
  undo.push({ op: 'rmdir', rel: newDir });

  return {
    undo,
    apply() {
      const description: string[] = [];
      for (const p of planned) writeRegion(join(root, p.rel), p.offset, p.bytes);
      description.push(
        `${planned.length} × 4 KiB overwritten in place in the middle of ${overwriteTargets.join(' and ')}`,
      );
      writeFileSync(logPath, Buffer.concat([logBytes.subarray(0, at), insert, logBytes.subarray(at)]));
      description.push(`${insert.length} bytes of log lines inserted at offset ${at} of ${INSERT_LOG}`);
      mkdirSync(join(root, newDir), { recursive: true });
      let newFileBytes = 0;
      for (const f of newFiles) {
        writeFileSync(join(root, f.rel), f.data);
        newFileBytes += f.data.length;
      }
      description.push(
        `${newFiles.length} new files (${(newFileBytes / MiB).toFixed(2)} MiB, half random, half log text) in ${newDir}/`,
      );
      return {
        bytesChanged: overwriteBytes + insert.length + newFileBytes,
        touched: [...overwriteTargets, INSERT_LOG, ...newFiles.map((f) => f.rel)],
        deleted: [],
        description,
      };
    },
  };
}

export function mixedSpec(sizeMiB: number): DatasetSpec {
  return {
    name: 'mixed',
    generator: GENERATOR_VERSION,
    seed: SEED,
    params: { sizeMiB },
    sizing: `BENCH_SIZE_MIB=${sizeMiB}`,
    generate: (target, log) => generate(target, sizeMiB, log),
    planChange: (ds) => planChange(ds.root, ds.marker.bytes),
    describe(m: DatasetMarker): string {
      const p = m.parts;
      return (
        `${(m.bytes / MiB).toFixed(1)} MiB in ${m.files} files: ` +
        `${((p['largeBytes'] ?? 0) / MiB).toFixed(1)} MiB in ${LARGE_FILES} large random (incompressible) files, ` +
        `${((p['logBytes'] ?? 0) / MiB).toFixed(1)} MiB in ${LOGS.length} compressible log files (app, nginx, worker, PostgreSQL, JSON audit, syslog), ` +
        `${((p['smallBytes'] ?? 0) / MiB).toFixed(1)} MiB in ${p['smallFiles'] ?? 0} small files of 1–64 KiB (half random, half text/JSON) in ${16 * 16} nested folders`
      );
    },
  };
}
