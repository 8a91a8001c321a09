/**
 * Restore, pack by pack (as restic's restorer does): plan every file first, then read each pack
 * once — only the spans holding needed blobs — decrypt in the worker pool and write each blob to
 * every place that needs it. Names are validated and every path is created by us below the target
 * (never through a symlink), so nothing is written outside the target folder.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import type { BlobIndex, BlobLocation } from './blob-index';
import type { Progress } from './backup';
import { BlobType } from './blob';
import { constantTimeEqual, keyedHash } from './crypto';
import { EngineError, corrupt, throwIfAborted } from './errors';
import { packName } from './pack';
import { withLock, type LockTiming } from './locks';
import { ephOf, locate, readTree } from './reader';
import type { Repository } from './repository';
import type { SnapshotInfo } from './snapshot';
import { assertSafeName, type TreeNode } from './tree';
import { Budget, BufferPool, mapLimit } from './util';
import { WorkerPool } from './workers/pool';

export interface RestoreOptions {
  /** Snapshot id, unique prefix, or 'latest'. */
  snapshot: string;
  /** Narrows 'latest' to one service / plan. */
  service?: string;
  plan?: string;
  target: string;
  /** A path inside the snapshot (e.g. `db/main`): restore only it, keeping its place under target. */
  include?: string;
  /** Re-read every restored file and compare with the snapshot. */
  verify?: boolean;
  onProgress?: (p: Progress) => void;
  /** Minimum time between progress events (default 250 ms). */
  progressIntervalMs?: number;
  pool?: WorkerPool;
  lockTiming?: LockTiming;
  /** Stops the restore at the next span; files already written stay, the rest are incomplete. */
  signal?: AbortSignal;
}

export interface RestoreResult {
  snapshot: SnapshotInfo;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  verified: boolean;
}

interface FilePlan {
  path: string;
  node: TreeNode;
  /** Bytes not yet written; at 0 the file's metadata is applied. */
  remaining: number;
}

interface Need {
  id: string;
  loc: BlobLocation;
  targets: { file: number; offset: number }[];
}

const GAP = 1024 * 1024;
/** Sealed plus plaintext bytes of spans not yet written out: bounds memory. */
const IN_FLIGHT = 48 * 1024 * 1024;
/** Largest span read at once, counted both sealed and decompressed. */
const MAX_SPAN = 8 * 1024 * 1024;
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

function mtimeSeconds(ns: string): number {
  const v = BigInt(ns);
  return Number(v / 1_000_000_000n) + Number(v % 1_000_000_000n) / 1e9;
}

/** Makes `dir` a real directory (replacing a symlink or file in the way). */
function ensureDir(dir: string): void {
  try {
    const st = lstatSync(dir);
    if (st.isDirectory()) return;
    rmSync(dir, { force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dir, { mode: 0o700 });
}

function openForWrite(path: string): number {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
  try {
    return openSync(path, flags, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A symlink or directory where the file goes: replace it, never write through it.
    if (code === 'ELOOP' || code === 'EISDIR') {
      rmSync(path, { recursive: true, force: true });
      return openSync(path, flags, 0o600);
    }
    throw err;
  }
}

/** Removes anything at `path` (never following a symlink), so a fresh file can be created. */
function clearWay(path: string): void {
  try {
    lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  rmSync(path, { recursive: true, force: true });
}

function setMeta(path: string, node: TreeNode, fd: number | null): void {
  const t = mtimeSeconds(node.mtime);
  if (node.type === 'symlink') {
    if (IS_ROOT) lchownSync(path, node.uid, node.gid);
    lutimesSync(path, t, t);
    return;
  }
  if (fd !== null) {
    if (IS_ROOT) fchownSync(fd, node.uid, node.gid);
    fchmodSync(fd, node.mode);
    futimesSync(fd, t, t);
  } else {
    if (IS_ROOT) lchownSync(path, node.uid, node.gid);
    chmodSync(path, node.mode);
    utimesSync(path, t, t);
  }
}

/** Restores under a shared lock, so a prune cannot delete packs from under it. */
export async function restore(repo: Repository, opts: RestoreOptions): Promise<RestoreResult> {
  repo.requirePrivateKey('restore');
  return withLock(repo.backend, 'shared', 'restore', () => restoreLocked(repo, opts), opts.lockTiming, true);
}

async function restoreLocked(repo: Repository, opts: RestoreOptions): Promise<RestoreResult> {
  const info = await repo.resolveSnapshot(opts.snapshot, { service: opts.service, plan: opts.plan });
  const { body } = await repo.readSnapshotBody(info.id);
  const { index } = await repo.loadIndex();
  const target = resolve(opts.target);
  mkdirSync(target, { recursive: true, mode: 0o700 });
  if (!lstatSync(target).isDirectory())
    throw new EngineError('INVALID_ARGUMENT', `restore target ${target} is not a directory`);

  // Find the starting node for --include.
  let start: { node: TreeNode; rel: string[] } = { node: body.root, rel: [] };
  if (opts.include) {
    const parts = opts.include.split('/').filter((p) => p !== '' && p !== '.');
    let node = body.root;
    for (const part of parts) {
      if (node.type !== 'dir')
        throw new EngineError('NOT_FOUND', `${opts.include} is not in snapshot ${info.id.slice(0, 8)}`);
      const tree = await readTree(repo, index, node.subtree!);
      const next = tree.nodes.find((n) => n.name === part);
      if (!next)
        throw new EngineError('NOT_FOUND', `${opts.include} is not in snapshot ${info.id.slice(0, 8)}`);
      node = next;
    }
    start = { node, rel: parts };
    // Parents of the included path are created plainly.
    let dir = target;
    for (const p of parts.slice(0, -1)) {
      assertSafeName(p);
      dir = join(dir, p);
      ensureDir(dir);
    }
  }

  const files: FilePlan[] = [];
  const dirs: { path: string; node: TreeNode }[] = [];
  const needs = new Map<string, Map<string, Need>>();
  let symlinks = 0;
  let bytesTotal = 0;

  const planNode = async (node: TreeNode, path: string): Promise<void> => {
    throwIfAborted(opts.signal, 'restore');
    if (node.type === 'dir') {
      ensureDir(path);
      dirs.push({ path, node });
      const tree = await readTree(repo, index, node.subtree!);
      for (const child of tree.nodes) {
        assertSafeName(child.name);
        await planNode(child, join(path, child.name));
      }
    } else if (node.type === 'symlink') {
      rmSync(path, { recursive: true, force: true });
      symlinkSync(node.target!, path);
      setMeta(path, node, null);
      symlinks++;
    } else {
      const fileNo = files.length;
      let offset = 0;
      for (const id of node.content!) {
        const loc = locate(index, id, `file ${path}`);
        let perPack = needs.get(loc.pack);
        if (!perPack) needs.set(loc.pack, (perPack = new Map<string, Need>()));
        let need = perPack.get(id);
        if (!need) perPack.set(id, (need = { id, loc, targets: [] }));
        need.targets.push({ file: fileNo, offset });
        offset += loc.rawLength;
      }
      if (offset !== node.size) throw corrupt(`file ${path}: chunk sizes do not add up to the file size`);
      bytesTotal += offset;
      // Worker threads create the file (O_CREAT | O_NOFOLLOW, no truncation, since several may
      // write parts of it); whatever is in its place now — a symlink, a directory, or a file that
      // might be hard-linked elsewhere — is removed first, so no write lands outside the target.
      clearWay(path);
      const plan: FilePlan = { path, node, remaining: offset };
      files.push(plan);
      if (offset === 0) {
        closeSync(openForWrite(path));
        finishFile(plan);
      }
    }
  };

  const finishFile = (f: FilePlan): void => {
    const fd = openSync(f.path, constants.O_WRONLY | constants.O_NOFOLLOW);
    try {
      setMeta(f.path, f.node, fd);
    } finally {
      closeSync(fd);
    }
  };

  const rootPath = start.rel.length ? join(target, ...start.rel) : target;
  if (start.rel.length === 0) {
    dirs.push({ path: target, node: start.node });
    const tree = await readTree(repo, index, start.node.subtree!);
    for (const child of tree.nodes) {
      assertSafeName(child.name);
      await planNode(child, join(target, child.name));
    }
  } else {
    await planNode(start.node, rootPath);
  }

  const progress: Progress = {
    phase: 'restore',
    filesDone: 0,
    filesTotal: files.length,
    bytesDone: 0,
    bytesTotal,
  };
  let lastEmit = 0;
  const emit = (force = false): void => {
    if (!opts.onProgress) return;
    const now = Date.now();
    if (force || now - lastEmit >= (opts.progressIntervalMs ?? 250)) {
      lastEmit = now;
      opts.onProgress({ ...progress });
    }
  };
  emit(true);

  const ownPool = !opts.pool;
  const pool = opts.pool ?? new WorkerPool();
  const budget = new Budget(IN_FLIGHT);
  const spanBuffers = new BufferPool(16 * 1024 * 1024);
  try {
    // Merge nearby blobs of a pack into spans (≤ MAX_SPAN) so each pack is read in few requests,
    // then decrypt each span in one worker job.
    const spans: { pack: string; key: Buffer; blobs: Need[] }[] = [];
    for (const [pack, perPack] of needs) {
      const key = repo.readKey(ephOf(index, pack), 'restore');
      let current: Need[] = [];
      let raw = 0;
      for (const n of [...perPack.values()].sort((a, b) => a.loc.offset - b.loc.offset)) {
        const first = current[0];
        const prev = current[current.length - 1];
        // Bound both what is read and what it decompresses to (logs expand 5–10×).
        if (
          first &&
          prev &&
          (n.loc.offset - (prev.loc.offset + prev.loc.length) > GAP ||
            n.loc.offset + n.loc.length - first.loc.offset > MAX_SPAN ||
            raw + n.loc.rawLength > MAX_SPAN)
        ) {
          spans.push({ pack, key, blobs: current });
          current = [];
          raw = 0;
        }
        current.push(n);
        raw += n.loc.rawLength;
      }
      if (current.length) spans.push({ pack, key, blobs: current });
    }
    await mapLimit(spans, pool.size + 1, async ({ pack, key, blobs }) => {
      throwIfAborted(opts.signal, 'restore');
      const from = blobs[0]!.loc.offset;
      const last = blobs[blobs.length - 1]!;
      const length = last.loc.offset + last.loc.length - from;
      const cost = length + blobs.reduce((n, b) => n + b.loc.rawLength, 0);
      await budget.take(cost);
      try {
        // Into a buffer we own outright: its memory is transferred to the worker and back.
        const span = spanBuffers.borrow(length);
        span.set(await repo.backend.get(packName(pack), { offset: from, length }));
        const { input } = await pool.run({
          op: 'openSpan',
          key,
          idKey: repo.keys.idKey,
          data: span,
          blobs: blobs.map((n) => ({
            type: BlobType.Data,
            id: Buffer.from(n.id, 'hex'),
            offset: n.loc.offset - from,
            length: n.loc.length,
            rawLength: n.loc.rawLength,
          })),
          writes: blobs.map((n) => n.targets.map((t) => ({ path: files[t.file]!.path, offset: t.offset }))),
        });
        spanBuffers.release(input);
        for (const n of blobs) {
          for (const t of n.targets) {
            const f = files[t.file]!;
            f.remaining -= n.loc.rawLength;
            progress.bytesDone += n.loc.rawLength;
            if (f.remaining === 0) {
              finishFile(f);
              progress.filesDone++;
            }
          }
        }
        emit();
      } finally {
        budget.give(cost);
      }
    });
  } finally {
    if (ownPool) await pool.close();
  }

  // Directory metadata last, deepest first, so writing children does not disturb mtimes.
  for (let i = dirs.length - 1; i >= 0; i--) setMeta(dirs[i]!.path, dirs[i]!.node, null);

  let verified = false;
  if (opts.verify) {
    await verifyFiles(repo, index, files);
    verified = true;
  }
  progress.phase = 'done';
  emit(true);
  return { snapshot: info, files: files.length, dirs: dirs.length, symlinks, bytes: bytesTotal, verified };
}

/** Re-reads restored files and checks every chunk against its id. */
async function verifyFiles(repo: Repository, index: BlobIndex, files: FilePlan[]): Promise<void> {
  let buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  for (const f of files) {
    const fd = openSync(f.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      let pos = 0;
      for (const id of f.node.content!) {
        const len = locate(index, id, f.path).rawLength;
        if (buf.length < len) buf = Buffer.allocUnsafe(len);
        let got = 0;
        while (got < len) {
          const n = readSync(fd, buf, got, len - got, pos + got);
          if (n === 0) break;
          got += n;
        }
        if (
          got !== len ||
          !constantTimeEqual(keyedHash(repo.keys.idKey, buf.subarray(0, len)), Buffer.from(id, 'hex'))
        ) {
          throw new EngineError(
            'CORRUPT',
            `verify failed: ${f.path} differs from the snapshot at offset ${pos}`,
          );
        }
        pos += len;
      }
      if (readSync(fd, buf, 0, 1, pos) !== 0)
        throw new EngineError('CORRUPT', `verify failed: ${f.path} is longer than in the snapshot`);
    } finally {
      closeSync(fd);
    }
    await new Promise<void>((r) => setImmediate(r));
  }
}
