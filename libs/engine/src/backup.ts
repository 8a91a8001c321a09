/**
 * Backup: walk a source folder, chunk and store new content, write trees bottom-up, then the
 * index, the manifest and — last — the snapshot. Until that final put nothing is visible, so a
 * killed backup leaves only unreferenced (but indexed, hence reusable) packs.
 */
import {
  closeSync,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  readdirSync,
  readlinkSync,
  type BigIntStats,
} from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { Chunker } from './chunker';
import { EngineError } from './errors';
import { pathKey } from './keys';
import { Lock, type LockTiming } from './locks';
import { pathFingerprint, type Manifest } from './manifest';
import { openJson, verifyContentName } from './meta';
import type { Repository } from './repository';
import { normalizeArch, type SnapshotInfo, type SourceError } from './snapshot';
import { encodeTree, type TreeNode } from './tree';
import { WorkerPool } from './workers/pool';
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
  /** Reuse a pool across operations (the worker app does); otherwise one is made and closed. */
  pool?: WorkerPool;
  lockTiming?: LockTiming;
}

export interface BackupResult {
  snapshot: SnapshotInfo;
  errors: SourceError[];
}

const READ_WINDOW = 16 * 1024 * 1024;
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

  const lock = await Lock.acquire(repo.backend, 'shared', 'backup', opts.lockTiming);
  const ownPool = !opts.pool;
  const pool = opts.pool ?? new WorkerPool();
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

    const session = new WriterSession(repo, index, pool);
    const chunker = new Chunker(repo.config.chunker, repo.keys.chunkerSeed);
    const window = Buffer.allocUnsafe(Math.max(READ_WINDOW, repo.config.chunker.max * 2));
    const manifest: Manifest = { files: {}, trees: [] };
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

    const storeFile = async (abs: string, rel: string, st: BigIntStats): Promise<TreeNode | null> => {
      const fp = pathFingerprint(pk, rel);
      const prev = parentFiles?.files[fp];
      const base = {
        mode: Number(st.mode & 0o7777n),
        mtime: nsString(st.mtimeNs),
        uid: Number(st.uid),
        gid: Number(st.gid),
      };
      if (
        prev &&
        prev[0] === Number(st.size) &&
        prev[1] === nsString(st.mtimeNs) &&
        prev[2] === nsString(st.ctimeNs) &&
        prev[3] === nsString(st.ino) &&
        prev[4].every((h) => index.has(Buffer.from(h, 'hex')))
      ) {
        stats.filesUnmodified++;
        stats.totalBytes += prev[0];
        manifest.files[fp] = prev;
        progress.bytesDone += prev[0];
        return { name: '', type: 'file', ...base, size: prev[0], content: prev[4] };
      }
      let fd: number;
      try {
        fd = openSync(abs, 'r');
      } catch (err) {
        errors.push({ path: rel, error: describe(err) });
        return null;
      }
      const content: string[] = [];
      let size = 0;
      let fst: BigIntStats = st;
      try {
        fst = fstatSync(fd, { bigint: true });
        let filled = 0;
        let eof = false;
        while (!eof || filled > 0) {
          if (!eof && filled < window.length) {
            const n = readSync(fd, window, filled, window.length - filled, null);
            if (n === 0) eof = true;
            filled += n;
            if (!eof && filled < repo.config.chunker.max) continue;
          }
          let pos = 0;
          while (filled - pos >= repo.config.chunker.max || (eof && pos < filled)) {
            const len = chunker.cut(window, pos, filled);
            const piece = window.subarray(pos, pos + len);
            const id = session.id(piece);
            content.push(id.toString('hex'));
            if (!session.known(id)) {
              const owned = session.borrow(len);
              owned.set(piece);
              await session.addData(id, owned);
            }
            pos += len;
            size += len;
            progress.bytesDone += len;
            emit();
          }
          window.copyWithin(0, pos, filled);
          filled -= pos;
          if (eof && filled === 0) break;
        }
      } catch (err) {
        if (err instanceof EngineError) throw err;
        errors.push({ path: rel, error: describe(err) });
        return null;
      } finally {
        closeSync(fd);
      }
      stats.bytesRead += size;
      stats.totalBytes += size;
      if (prev) stats.filesChanged++;
      else stats.filesNew++;
      manifest.files[fp] = [size, nsString(fst.mtimeNs), nsString(fst.ctimeNs), nsString(fst.ino), content];
      return { name: '', type: 'file', ...base, mtime: nsString(fst.mtimeNs), size, content };
    };

    const storeDir = async (abs: string, rel: string): Promise<string> => {
      let names: string[];
      try {
        names = readdirSync(abs).sort();
      } catch (err) {
        errors.push({ path: rel || '.', error: describe(err) });
        names = [];
      }
      const nodes: TreeNode[] = [];
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
        const base = {
          name,
          mode: Number(st.mode & 0o7777n),
          mtime: nsString(st.mtimeNs),
          uid: Number(st.uid),
          gid: Number(st.gid),
        };
        if (st.isDirectory()) {
          const subtree = await storeDir(childAbs, childRel);
          nodes.push({ ...base, type: 'dir', subtree });
          stats.dirs++;
        } else if (st.isFile()) {
          const node = await storeFile(childAbs, childRel, st);
          if (node) {
            nodes.push({ ...node, name });
            stats.files++;
          }
          progress.filesDone++;
          emit();
        } else if (st.isSymbolicLink()) {
          try {
            nodes.push({ ...base, type: 'symlink', target: readlinkSync(childAbs) });
          } catch (err) {
            errors.push({ path: childRel, error: describe(err) });
          }
        } else {
          errors.push({ path: childRel, error: 'skipped: special file (socket, fifo or device)' });
        }
        // Let worker replies, uploads and lock refreshes run between files.
        if (++sinceYield >= 64) {
          sinceYield = 0;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
      const treeId = session.addTree(encodeTree({ nodes })).toString('hex');
      manifest.trees.push(treeId);
      return treeId;
    };

    const rootTree = await storeDir(source, '');
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
  } finally {
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
