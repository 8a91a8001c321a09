/**
 * Backup: walk a source folder, chunk and store new content, write trees bottom-up, then the
 * index, the manifest and — last — the snapshot. Until that final put nothing is visible, so a
 * killed backup leaves only unreferenced (but indexed, hence reusable) packs.
 */
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { ID_LEN } from './blob';
import { randomId } from './crypto';
import { EngineError, throwIfAborted } from './errors';
import { pathKey } from './keys';
import { Lock, type LockTiming } from './locks';
import { pathFingerprint, type Manifest, type ManifestFile } from './manifest';
import { openJson, verifyContentName } from './meta';
import type { Repository } from './repository';
import { normalizeArch, type SnapshotInfo, type SourceError } from './snapshot';
import { encodeTree, type TreeNode } from './tree';
import { WorkerPool } from './workers/pool';
import type { FileStepResult } from './workers/protocol';
import { Budget } from './util';
import { WriterSession } from './writer';

export interface Progress {
  phase: 'scan' | 'backup' | 'restore' | 'done';
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface BackupOptions {
  /** The folder to back up (a service's data folder). */
  source: string;
  service?: string | null;
  plan?: string | null;
  tags?: string[];
  host?: string;
  /** Architecture of the source machine; defaults to this process's. */
  arch?: string;
  /** gitignore-style patterns, relative to the source folder. */
  excludes?: string[];
  /** Parent snapshot for change detection: an id, 'none', or undefined for automatic. */
  parent?: string;
  onProgress?: (p: Progress) => void;
  /** Minimum time between progress events (default 250 ms; 0 reports every file and chunk). */
  progressIntervalMs?: number;
  /** Files read at once (default: twice the worker threads). */
  fileConcurrency?: number;
  /**
   * Stops the backup at the next file or 8 MiB step (a worker shutting down). Nothing becomes
   * visible; what was already uploaded is indexed and reused by the next backup.
   */
  signal?: AbortSignal;
  /** Reuse a pool across operations (the worker app does); otherwise one is made and closed. */
  pool?: WorkerPool;
  lockTiming?: LockTiming;
}

export interface BackupResult {
  snapshot: SnapshotInfo;
  errors: SourceError[];
}

/** Bytes a worker reads per step of a file: bounds what one reply carries. */
const STEP_BYTES = 8 * 1024 * 1024;
const PROGRESS_INTERVAL_MS = 250;

function nsString(v: bigint): string {
  return v.toString();
}

/** Node's system errors already read "ENOENT: no such file or directory, open '…'". */
function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

class Excluder {
  private readonly ig: Ignore | null;
  constructor(patterns: string[]) {
    const clean = patterns.map((p) => p.trim()).filter((p) => p !== '' && !p.startsWith('#'));
    this.ig = clean.length ? ignore().add(clean) : null;
  }
  excluded(rel: string, isDir: boolean): boolean {
    return this.ig !== null && this.ig.ignores(isDir ? `${rel}/` : rel);
  }
}

const TAG_RE = /^[\w.:@-]{1,64}$/u;

/** Tags are short labels (they show in listings and select snapshots for retention). */
export function assertValidTags(tags: readonly string[]): void {
  for (const t of tags) {
    if (!TAG_RE.test(t)) {
      throw new EngineError(
        'INVALID_ARGUMENT',
        `invalid tag ${JSON.stringify(t)}: use 1-64 letters, digits and . : @ _ -`,
      );
    }
  }
}

export async function backup(repo: Repository, opts: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const source = resolve(opts.source);
  let rootStat: BigIntStats;
  try {
    rootStat = lstatSync(source, { bigint: true });
  } catch (err) {
    throw new EngineError('SOURCE_UNREADABLE', `cannot read source folder ${source}: ${describe(err)}`, {
      cause: err,
    });
  }
  if (!rootStat.isDirectory())
    throw new EngineError('SOURCE_UNREADABLE', `source ${source} is not a directory`);
  assertValidTags(opts.tags ?? []);

  throwIfAborted(opts.signal, 'backup');
  const lock = await Lock.acquire(repo.backend, 'shared', 'backup', opts.lockTiming);
  const ownPool = !opts.pool;
  const pool = opts.pool ?? new WorkerPool();
  // File reads still running when the walk fails or is cancelled: settled before the pool closes.
  const reading = new Set<Promise<unknown>>();
  let writer: WriterSession | undefined;
  try {
    const host = opts.host ?? hostname();
    const pk = pathKey(repo.keys);
    const sourceFp = pathFingerprint(pk, source);
    const service = opts.service ?? null;
    const plan = opts.plan ?? null;
    const { index } = await repo.loadIndex();
    const parent = await findParent(repo, opts.parent, { service, plan, host, sourceFp });
    const parentFiles = parent ? await loadManifest(repo, parent.manifest) : null;
    const excluder = new Excluder(opts.excludes ?? []);

    const progress: Progress = { phase: 'scan', filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
    let lastEmit = 0;
    const emit = (force = false): void => {
      if (!opts.onProgress) return;
      const now = Date.now();
      if (force || now - lastEmit >= (opts.progressIntervalMs ?? PROGRESS_INTERVAL_MS)) {
        lastEmit = now;
        opts.onProgress({ ...progress });
      }
    };
    if (opts.onProgress) {
      scan(source, '', excluder, progress);
      emit(true);
    }
    progress.phase = 'backup';

    const session = (writer = new WriterSession(repo, index, pool));
    const slots = new Budget(opts.fileConcurrency ?? pool.size * 2);
    const sessionTag = randomId(8);
    let fileCounter = 0;
    const errors: SourceError[] = [];
    const stats = {
      files: 0,
      dirs: 0,
      totalBytes: 0,
      bytesRead: 0,
      filesNew: 0,
      filesChanged: 0,
      filesUnmodified: 0,
    };
    let sinceYield = 0;

    interface DirResult {
      tree: string;
      files: [string, ManifestFile][];
      trees: string[];
    }
    type Stored = { node: TreeNode; file?: [string, ManifestFile]; dir?: DirResult } | null;

    /** An unchanged file (same size, mtime, ctime, inode, all chunks still indexed): not read. */
    const unchanged = (rel: string, st: BigIntStats, base: Omit<TreeNode, 'type'>): Stored | undefined => {
      const fp = pathFingerprint(pk, rel);
      const prev = parentFiles?.files[fp];
      if (
        !prev ||
        prev[0] !== Number(st.size) ||
        prev[1] !== nsString(st.mtimeNs) ||
        prev[2] !== nsString(st.ctimeNs) ||
        prev[3] !== nsString(st.ino) ||
        !prev[4].every((h) => index.has(Buffer.from(h, 'hex')))
      ) {
        return undefined;
      }
      stats.filesUnmodified++;
      stats.totalBytes += prev[0];
      progress.bytesDone += prev[0];
      return { node: { ...base, type: 'file', size: prev[0], content: prev[4] }, file: [fp, prev] };
    };

    /** Reads a file in a worker thread, step by step, packing what it seals. */
    const readFile = async (abs: string, rel: string, base: Omit<TreeNode, 'type'>): Promise<Stored> => {
      const fp = pathFingerprint(pk, rel);
      const handle = `${sessionTag}:${++fileCounter}`;
      const worker = pool.pick();
      const config = session.workerConfig();
      const content: string[] = [];
      let size = 0;
      let stat: { mtimeNs: string; ctimeNs: string; ino: string } | undefined;
      let done = false;
      // Two steps of a file are in flight at a time, so its worker never waits for this thread.
      // A step sent after the file's last one finds it closed and returns an empty result.
      const step = (first: boolean): Promise<FileStepResult> =>
        pool.run(
          { op: 'fileStep', handle, session: config, maxBytes: STEP_BYTES, ...(first ? { path: abs } : {}) },
          worker,
        );
      throwIfAborted(opts.signal, 'backup');
      await session.ready();
      const inflight = [step(true), step(false)];
      try {
        while (!done) {
          const r = await inflight.shift()!;
          if (!r.done) throwIfAborted(opts.signal, 'backup');
          done = r.done;
          if (r.error !== undefined) {
            errors.push({ path: rel, error: r.error });
            return null;
          }
          if (!done) {
            await session.ready();
            inflight.push(step(false));
          }
          stat ??= r.stat;
          const ids = Buffer.from(r.ids.buffer, r.ids.byteOffset, r.ids.byteLength);
          for (let o = 0; o < ids.length; o += ID_LEN) content.push(ids.toString('hex', o, o + ID_LEN));
          for (const b of r.blobs) {
            session.addSealed(
              Buffer.from(ids.subarray(b.index * ID_LEN, (b.index + 1) * ID_LEN)),
              b.parts,
              b.rawLength,
            );
          }
          size += r.bytes;
          progress.bytesDone += r.bytes;
          emit();
        }
      } finally {
        // Failing elsewhere (an upload): close the file in the worker. Either way the extra step
        // still queued is answered (empty) before this file's slot is given back.
        if (!done)
          await pool.run({ op: 'fileStep', handle, session: config, maxBytes: 0, abort: true }, worker);
        await Promise.all(inflight);
      }
      const prev = parentFiles?.files[fp];
      stats.bytesRead += size;
      stats.totalBytes += size;
      if (prev) stats.filesChanged++;
      else stats.filesNew++;
      const mtime = stat?.mtimeNs ?? base.mtime;
      return {
        node: { ...base, type: 'file', mtime, size, content },
        file: [fp, [size, mtime, stat?.ctimeNs ?? '0', stat?.ino ?? '0', content]],
      };
    };

    /**
     * Walks one directory, starting a read for every changed file (bounded by `slots`), and
     * returns — once the walk is done, not the reads — a promise of the directory's tree. So
     * the walk moves on to the next directory while this one's last files are still being read,
     * and no worker idles at directory boundaries. Manifest entries are gathered in walk order.
     */
    const walkDir = async (abs: string, rel: string): Promise<{ result: Promise<DirResult> }> => {
      let names: string[];
      try {
        names = readdirSync(abs).sort();
      } catch (err) {
        errors.push({ path: rel || '.', error: describe(err) });
        names = [];
      }
      const pending: Promise<Stored>[] = [];
      const track = (p: Promise<Stored>): void => {
        // Handled here so a failure while the walk still runs is not an unhandled rejection;
        // Promise.all below still sees it.
        p.catch(() => undefined);
        pending.push(p);
      };
      for (const name of names) {
        const childAbs = join(abs, name);
        const childRel = rel ? `${rel}/${name}` : name;
        let st: BigIntStats;
        try {
          st = lstatSync(childAbs, { bigint: true });
        } catch (err) {
          errors.push({ path: childRel, error: describe(err) });
          continue;
        }
        if (excluder.excluded(childRel, st.isDirectory())) continue;
        throwIfAborted(opts.signal, 'backup');
        const base = {
          name,
          mode: Number(st.mode & 0o7777n),
          mtime: nsString(st.mtimeNs),
          uid: Number(st.uid),
          gid: Number(st.gid),
        };
        if (st.isDirectory()) {
          const child = await walkDir(childAbs, childRel);
          track(child.result.then((dir) => ({ node: { ...base, type: 'dir', subtree: dir.tree }, dir })));
          stats.dirs++;
        } else if (st.isFile()) {
          const known = unchanged(childRel, st, base);
          if (known) {
            track(Promise.resolve(known));
            progress.filesDone++;
            emit();
          } else {
            await slots.take(1);
            const read = readFile(childAbs, childRel, base).finally(() => {
              progress.filesDone++;
              emit();
              slots.give(1);
              reading.delete(read);
            });
            reading.add(read);
            track(read);
          }
        } else if (st.isSymbolicLink()) {
          try {
            track(Promise.resolve({ node: { ...base, type: 'symlink', target: readlinkSync(childAbs) } }));
          } catch (err) {
            errors.push({ path: childRel, error: describe(err) });
          }
        } else {
          errors.push({ path: childRel, error: 'skipped: special file (socket, fifo or device)' });
        }
        // Let worker replies, uploads and lock refreshes run between entries.
        if (++sinceYield >= 64) {
          sinceYield = 0;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
      // Wrapped: an async function returning a bare promise would wait for it.
      const result = Promise.all(pending).then((done) => {
        const nodes: TreeNode[] = [];
        const dir: DirResult = { tree: '', files: [], trees: [] };
        for (const stored of done) {
          if (!stored) continue;
          nodes.push(stored.node);
          if (stored.file) {
            dir.files.push(stored.file);
            stats.files++;
          }
          if (stored.dir) {
            dir.files.push(...stored.dir.files);
            dir.trees.push(...stored.dir.trees);
          }
        }
        dir.tree = session.addTree(encodeTree({ nodes })).toString('hex');
        dir.trees.push(dir.tree);
        return dir;
      });
      return { result };
    };

    const rootDir = await (await walkDir(source, '')).result;
    const rootTree = rootDir.tree;
    const manifest: Manifest = { files: Object.fromEntries(rootDir.files), trees: rootDir.trees };
    // The root's own metadata is restored onto the target folder.
    const rootNode: TreeNode = {
      name: '.',
      type: 'dir',
      mode: Number(rootStat.mode & 0o7777n),
      mtime: nsString(rootStat.mtimeNs),
      uid: Number(rootStat.uid),
      gid: Number(rootStat.gid),
      subtree: rootTree,
    };
    await session.finish();
    throwIfAborted(opts.signal, 'backup');
    // Files are read concurrently; record their errors in a stable order.
    errors.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

    // Nothing changed at all: share the parent's manifest instead of storing an identical one.
    const sameManifest = parent && parentFiles && JSON.stringify(parentFiles) === JSON.stringify(manifest);
    const snapshot = await session.commitSnapshot(
      manifest,
      { tree: rootTree, root: rootNode, paths: [source], errors },
      {
        time: new Date(started).toISOString(),
        host,
        service,
        plan,
        tags: [...new Set(opts.tags ?? [])].sort(),
        arch: normalizeArch(opts.arch ?? process.arch),
        parent: parent?.id ?? null,
        writer: repo.canRead ? 'password' : 'writer-key',
        sourceFp,
        stats: {
          ...stats,
          bytesAdded: session.stats.bytesAdded,
          blobsAdded: session.stats.blobsAdded,
          errors: errors.length,
          durationMs: Date.now() - started,
        },
      },
      sameManifest ? parent.manifest : undefined,
    );
    progress.phase = 'done';
    progress.filesTotal = Math.max(progress.filesTotal, progress.filesDone);
    progress.bytesTotal = Math.max(progress.bytesTotal, progress.bytesDone);
    emit(true);
    return { snapshot, errors };
  } catch (err) {
    // Cancelled (a worker shutting down): store and index what is already sealed, so the next
    // backup reuses it; the snapshot is not written.
    if (err instanceof EngineError && err.code === 'ABORTED' && writer) {
      await Promise.allSettled([...reading]);
      await writer.finish().catch(() => undefined);
    }
    throw err;
  } finally {
    await Promise.allSettled([...reading]);
    if (ownPool) await pool.close();
    await lock.release();
  }
}

function scan(abs: string, rel: string, excluder: Excluder, p: Progress): void {
  let names: string[];
  try {
    names = readdirSync(abs);
  } catch {
    return;
  }
  for (const name of names) {
    const childRel = rel ? `${rel}/${name}` : name;
    let st;
    try {
      st = lstatSync(join(abs, name));
    } catch {
      continue;
    }
    if (excluder.excluded(childRel, st.isDirectory())) continue;
    if (st.isDirectory()) scan(join(abs, name), childRel, excluder, p);
    else if (st.isFile()) {
      p.filesTotal++;
      p.bytesTotal += st.size;
    }
  }
}

async function findParent(
  repo: Repository,
  parent: string | undefined,
  key: { service: string | null; plan: string | null; host: string; sourceFp: string },
): Promise<SnapshotInfo | null> {
  if (parent === 'none') return null;
  if (parent) return repo.resolveSnapshot(parent);
  const all = await repo.listSnapshots();
  return (
    all.find((s) => s.service === key.service && s.plan === key.plan && s.sourceFp === key.sourceFp) ?? null
  );
}

export async function loadManifest(repo: Repository, id: string): Promise<Manifest> {
  const name = `manifests/${id}`;
  const bytes = await repo.backend.get(name);
  verifyContentName(id, bytes, name);
  return openJson<Manifest>(repo.keys.metaKey, 'manifest', bytes, name);
}
