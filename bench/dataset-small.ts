/**
 * `small`: many small files, the shape of real service data (BENCH_SMALL_FILES, default 60 000):
 *
 *   data/svc-XX/aYY[/bZZ]/   files of ~0.2–24 KiB (30 % log-uniform over the whole range, 70 %
 *                            uniform 10–24 KiB: ~13.7 KiB on average, ~830 MB for 60 000 files)
 *                            in ~files/25 folders nested 2–3 levels; half random bytes, half
 *                            log text and JSON
 *
 * plus rich metadata: modes 0644 (70 %), 0600 (20 %) and 0755 (10 %), ~1 % symlinks (relative, to
 * files and folders), ~0.5 % hard links, a few empty files and empty folders.
 *
 * Its ~1 % change: ~0.4 % of the files rewritten, ~0.3 % appended to, ~0.3 % with only their mtime
 * touched, ~0.5 % new files, ~0.2 % deleted.
 */
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, posix } from 'node:path';
import {
  HashedWriter,
  KiB,
  MiB,
  appendBytes,
  jsonContent,
  listFiles,
  logUniform,
  manifestBytes,
  manifestDigest,
  sample,
  textContent,
  timesOf,
  type DatasetMarker,
  type DatasetSpec,
  type Generated,
  type HashManifest,
  type PlannedChange,
  type Undo,
} from './dataset';
import { LOG_EPOCH_MS } from './dataset-mixed';
import { LogClock } from './loggen';
import { Rng } from './prng';

const GENERATOR_VERSION = 1;
const SEED = 'vaultline-bench/small/v1';

type Kind = 'bin' | 'txt' | 'json';

function fileSize(rng: Rng): number {
  return rng.float() < 0.3 ? logUniform(rng, 200, 24 * KiB) : rng.int(10 * KiB, 24 * KiB);
}

function content(rng: Rng, kind: Kind, size: number, clock: LogClock): Buffer {
  if (kind === 'bin') {
    const buf = Buffer.alloc(size);
    rng.fill(buf);
    return buf;
  }
  return Buffer.from(
    kind === 'txt' ? textContent(rng, size, clock) : jsonContent(rng, size, clock),
    'latin1',
  );
}

function kindOf(rel: string): Kind {
  return rel.endsWith('.bin') ? 'bin' : rel.endsWith('.json') ? 'json' : 'txt';
}

/** The folder tree: ~files/25 folders, 2–3 levels; files go into the second and third levels. */
function folders(files: number): { all: string[]; leaves: string[]; level1: string[] } {
  const want = Math.max(4, Math.round(files / 25));
  // 16 × 15 × (1 + 9) = 2416 folders for 60 000 files; smaller datasets shrink every level.
  const f = Math.cbrt(want / 2416);
  const n1 = Math.max(2, Math.round(16 * f));
  const n2 = Math.max(2, Math.round(15 * f));
  const n3 = Math.max(1, Math.round(9 * f));
  const all: string[] = [];
  const leaves: string[] = [];
  const level1: string[] = [];
  for (let a = 0; a < n1; a++) {
    const d1 = `svc-${String(a).padStart(2, '0')}`;
    all.push(d1);
    level1.push(d1);
    for (let b = 0; b < n2; b++) {
      const d2 = `${d1}/a${String(b).padStart(2, '0')}`;
      all.push(d2);
      leaves.push(d2);
      for (let c = 0; c < n3; c++) {
        const d3 = `${d2}/b${String(c).padStart(2, '0')}`;
        all.push(d3);
        leaves.push(d3);
      }
    }
  }
  return { all, leaves, level1 };
}

function generate(target: string, files: number, log: (msg: string) => void): Generated {
  const rng = new Rng(`${SEED}/tree`);
  const clock = new LogClock(LOG_EPOCH_MS);
  const manifest: HashManifest = new Map();
  const tree = folders(files);
  for (const d of tree.all) mkdirSync(join(target, d), { recursive: true });

  let bytes = 0;
  let randomFiles = 0;
  let emptyFiles = 0;
  const modes = { '644': 0, '600': 0, '755': 0 };
  const regular: string[] = [];
  // A few empty files: one in 2000 (at least three).
  const emptyEvery = Math.min(2000, Math.ceil(files / 3));
  for (let i = 0; i < files; i++) {
    const dir = rng.pick(tree.leaves);
    const k = rng.float();
    const kind: Kind = k < 0.5 ? 'bin' : k < 0.8 ? 'txt' : 'json';
    const m = rng.float();
    const mode = m < 0.7 ? 0o644 : m < 0.9 ? 0o600 : 0o755;
    modes[mode === 0o644 ? '644' : mode === 0o600 ? '600' : '755']++;
    const size = i % emptyEvery === emptyEvery - 1 ? 0 : fileSize(rng);
    if (size === 0) emptyFiles++;
    if (kind === 'bin') randomFiles++;
    const rel = `${dir}/f${String(i).padStart(6, '0')}.${kind}`;
    const w = new HashedWriter(join(target, rel), mode);
    w.bytes(content(rng, kind, size, clock));
    const h = w.close();
    manifest.set(rel, h);
    regular.push(rel);
    bytes += h.size;
  }

  // Hard links (~0.5 %): a second name for an existing file, in another folder.
  const hardLinks = Math.max(1, Math.round(files * 0.005));
  for (let i = 0; i < hardLinks; i++) {
    const src = rng.pick(regular);
    const rel = `${rng.pick(tree.leaves)}/h${String(i).padStart(5, '0')}.${kindOf(src)}`;
    linkSync(join(target, src), join(target, rel));
    manifest.set(rel, manifest.get(src)!);
  }

  // Symlinks (~1 %): relative, mostly to files, one in ten to a folder.
  const symlinks = Math.max(1, Math.round(files * 0.01));
  for (let i = 0; i < symlinks; i++) {
    const dir = rng.pick(tree.leaves);
    const to = i % 10 === 9 ? rng.pick(tree.all) : rng.pick(regular);
    symlinkSync(posix.relative(dir, to) || '.', join(target, `${dir}/l${String(i).padStart(5, '0')}`));
  }

  // A few empty folders.
  const emptyDirs = Math.max(2, Math.round(tree.all.length / 100));
  for (let i = 0; i < emptyDirs; i++)
    mkdirSync(join(target, `${rng.pick(tree.all)}/empty-${String(i).padStart(3, '0')}`), { recursive: true });

  log(
    `small: ${files} files (${randomFiles} random, ${emptyFiles} empty), ${(bytes / MiB).toFixed(1)} MiB in ` +
      `${tree.all.length} folders; ${hardLinks} hard links, ${symlinks} symlinks, ${emptyDirs} empty folders`,
  );
  return {
    files: manifest.size,
    bytes: manifestBytes(manifest),
    dirs: tree.all.length + emptyDirs,
    digest: manifestDigest(manifest),
    parts: {
      regularFiles: files,
      randomFiles,
      emptyFiles,
      hardLinks,
      symlinks,
      emptyDirs,
      mode644: modes['644'],
      mode600: modes['600'],
      mode755: modes['755'],
    },
  };
}

function planChange(root: string, files: number): PlannedChange {
  const rng = new Rng(`${SEED}/change`);
  const clock = new LogClock(LOG_EPOCH_MS + 86_400_000);
  // Only files with one name and some content are changed (a rewrite of a hard-linked file would
  // change its other name too).
  const candidates = listFiles(root).filter((rel) => {
    const st = lstatSync(join(root, rel));
    return st.nlink === 1 && st.size > 0;
  });
  const count = (share: number): number => Math.max(1, Math.round(files * share));
  const picked = sample(rng, candidates, count(0.004) + count(0.003) + count(0.003) + count(0.002));
  const rewrites = picked.splice(0, count(0.004));
  const appends = picked.splice(0, count(0.003));
  const touches = picked.splice(0, count(0.003));
  const deletes = picked;
  const tree = folders(files);
  const created: { rel: string; data: Buffer; mode: number }[] = [];
  for (let i = 0; i < count(0.005); i++) {
    const k = rng.float();
    const kind: Kind = k < 0.5 ? 'bin' : k < 0.8 ? 'txt' : 'json';
    const rel = `${rng.pick(tree.leaves)}/new-${String(i).padStart(5, '0')}.${kind}`;
    created.push({
      rel,
      data: content(rng, kind, fileSize(rng), clock),
      mode: rng.float() < 0.8 ? 0o644 : 0o600,
    });
  }
  const rewritten = rewrites.map((rel) => ({ rel, data: content(rng, kindOf(rel), fileSize(rng), clock) }));
  const appended = appends.map((rel) => ({
    rel,
    data: content(rng, kindOf(rel) === 'bin' ? 'bin' : 'txt', rng.int(200, 4 * KiB), clock),
  }));

  const undo: Undo[] = [];
  const withTimes = (rel: string): { atime: number; mtime: number; mode: number } => ({
    ...timesOf(join(root, rel)),
    mode: lstatSync(join(root, rel)).mode & 0o7777,
  });
  for (const rel of [...rewrites, ...deletes]) {
    const data = readFileSync(join(root, rel)).toString('base64');
    undo.push({ op: 'content', rel, data, ...withTimes(rel) });
  }
  for (const rel of appends)
    undo.push({ op: 'truncate', rel, size: lstatSync(join(root, rel)).size, ...timesOf(join(root, rel)) });
  for (const rel of touches) undo.push({ op: 'times', rel, ...timesOf(join(root, rel)) });
  for (const f of created) undo.push({ op: 'remove', rel: f.rel });

  return {
    undo,
    apply() {
      let bytesChanged = 0;
      for (const f of rewritten) {
        // Same inode and mode, new content.
        writeFileSync(join(root, f.rel), f.data);
        bytesChanged += f.data.length;
      }
      for (const f of appended) {
        appendBytes(join(root, f.rel), f.data);
        bytesChanged += f.data.length;
      }
      const now = Date.now() / 1000;
      for (const rel of touches) utimesSync(join(root, rel), now, now);
      for (const f of created) {
        mkdirSync(dirname(join(root, f.rel)), { recursive: true });
        const w = new HashedWriter(join(root, f.rel), f.mode);
        w.bytes(f.data);
        w.close();
        bytesChanged += f.data.length;
      }
      const deleted: string[] = [];
      for (const rel of deletes) {
        rmSync(join(root, rel)); // (its content, mode and times are in the journal)
        deleted.push(rel);
      }
      return {
        bytesChanged,
        touched: [...rewrites, ...appends, ...created.map((f) => f.rel)],
        deleted,
        description: [
          `${rewritten.length} files rewritten with new content`,
          `${appended.length} appended to (200 B–4 KiB each)`,
          `${touches.length} with only their mtime touched`,
          `${created.length} new files`,
          `${deletes.length} deleted`,
        ],
      };
    },
  };
}

export function smallSpec(files: number): DatasetSpec {
  return {
    name: 'small',
    generator: GENERATOR_VERSION,
    seed: SEED,
    params: { files },
    sizing: `BENCH_SMALL_FILES=${files}`,
    generate: (target, log) => generate(target, files, log),
    planChange: (ds) => planChange(ds.root, files),
    describe(m: DatasetMarker): string {
      const p = m.parts;
      return (
        `${(m.bytes / MiB).toFixed(1)} MiB in ${p['regularFiles'] ?? 0} files of ~0.2–24 KiB ` +
        `(${p['randomFiles'] ?? 0} random, the rest log text and JSON; ${p['emptyFiles'] ?? 0} empty) in ${m.dirs} folders nested 2–3 levels ` +
        `(${p['emptyDirs'] ?? 0} empty); modes 0644/0600/0755: ${p['mode644'] ?? 0}/${p['mode600'] ?? 0}/${p['mode755'] ?? 0}; ` +
        `${p['hardLinks'] ?? 0} hard links (second names, counted as files above), ${p['symlinks'] ?? 0} symlinks`
      );
    },
  };
}
