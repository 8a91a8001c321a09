/**
 * Restore, pack by pack (as restic's restorer does): plan every file first, then read each pack
 * once — only the spans holding needed blobs — decrypt in the worker pool and write each blob to
 * every place that needs it. Names are validated and every path is created by us below the target
 * (never through a symlink), so nothing is written outside the target folder.
 *
 * What comes back is what was there: names as bytes, hard links as links, holes as holes,
 * extended attributes, FIFOs and device nodes, and nanosecond mtimes. What the target file system
 * or user cannot take (xattrs on tmpfs, devices when not root) is a warning, never a failure.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  ftruncateSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  symlinkSync,
  chmodSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { BlobIndex } from './blob-index';
import type { Progress } from './backup';
import { BlobType } from './blob';
import { constantTimeEqual, keyedHash } from './crypto';
import { EngineError, corrupt, throwIfAborted } from './errors';
import { makeSpecial, setFileTimes, setPathTimes, writeXattrs } from './fsmeta';
import { packName } from './pack';
import { withLock, type LockTiming } from './locks';
import { ephOf, locate, readTree } from './reader';
import type { Repository } from './repository';
import type { SnapshotInfo } from './snapshot';
import { assertSafeName, nodeNameBytes, symlinkTargetBytes, type TreeNode } from './tree';
import { Budget, BufferPool, mapLimit } from './util';
import { WorkerPool } from './workers/pool';
import type { FileFinish, SpanWrite } from './workers/protocol';

export interface RestoreOptions {
  /** Snapshot id, unique prefix, or 'latest'. */
  snapshot: string;
  /** Narrows 'latest' to one service / plan. */
  service?: string;
  plan?: string;
  target: string;
  /** A path inside the snapshot (e.g. `db/main`): restore only it, keeping its place under target. */
  include?: string;
  /**
   * Names at the snapshot's top level not to restore (the worker leaves out its database dumps'
   * folder, which it feeds to their restore commands instead). Without `include` only.
   */
  excludeTop?: readonly string[];
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
  /** FIFOs, device and socket nodes. */
  special: number;
  /** Names restored as hard links of a file restored under another name. */
  hardlinks: number;
  bytes: number;
  verified: boolean;
  /** Metadata the target could not take (xattrs, owners, device nodes): restored without it. */
  warnings: string[];
}

/**
 * A file to restore. Its path and display path are made when asked for, from its folder's (one
 * shared Buffer and string per folder): a Buffer and a string held per file were ~10 MiB of a
 * 60,000-file restore's heap, from planning to the end.
 */
class FilePlan {
  constructor(
    readonly dir: Buffer,
    readonly dirRel: string,
    readonly node: TreeNode,
    /** Bytes not yet written; at 0 the file's metadata is applied. */
    public remaining: number,
    /** The worker that writes its only chunk finishes it (one round trip for a small file). */
    readonly finishedByWorker: boolean,
  ) {}

  get path(): Buffer {
    return joinPath(this.dir, nodeNameBytes(this.node));
  }

  get rel(): string {
    return this.dirRel ? `${this.dirRel}/${this.node.name}` : this.node.name;
  }
}

function joinPath(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, SLASH, name], dir.length + 1 + name.length);
}

/**
 * A chunk to read from a pack and where it goes. Flat, with its first target inline: one object
 * per chunk, not four (location, target list, target) — on 60,000 small files those were ~9 MiB
 * of the restore's heap, held until the end.
 */
interface Need {
  id: string;
  offset: number;
  length: number;
  rawLength: number;
  file: number;
  at: number;
  /** Further places the chunk goes (the same content in several files, or twice in one). */
  more?: { file: number; at: number }[];
}

/** Calls `fn(file, at)` for every place chunk `n` goes. */
function eachTarget(n: Need, fn: (file: number, at: number) => void): void {
  fn(n.file, n.at);
  if (n.more) for (const t of n.more) fn(t.file, t.at);
}

/** A planned file's chunks once they are in `needs` (kept only when restored files are verified). */
const PLANNED: readonly string[] = Object.freeze([]);

const GAP = 1024 * 1024;
/**
 * Sealed plus plaintext bytes of spans not yet written out: bounds memory. 16 MiB keeps every
 * writer busy (a span is at most 4 MiB) and took ~12 MiB off the restore's peak RSS on `small`.
 */
const IN_FLIGHT = 16 * 1024 * 1024;
/** Largest span read at once, counted both sealed and decompressed. */
const MAX_SPAN = 4 * 1024 * 1024;
/**
 * Creating files waits on the file system more than on the CPU: more writers than cores, but each
 * writer thread costs ~40 MiB of RSS (its own heap and span/plaintext buffers), so 1.5 per core.
 */
export const RESTORE_WORKERS = Math.max(3, Math.min(8, Math.round(availableParallelism() * 1.5)));
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const SLASH = Buffer.from('/');
const PATH_CHUNK = 256 * 1024;
/** At most this many warnings are listed one by one; the rest are counted. */
const MAX_WARNINGS = 100;

/**
 * Paths of the files and folders to restore, back to back in chunks of their own. A path made by
 * `Buffer.concat` is a slice of Node's shared 64 KiB allocation pool, and the few live paths in
 * each slab kept the garbage around them alive too: 54 MiB of slabs for ~4 MiB of paths on
 * `small` (60,000 files).
 */
class PathArena {
  private chunk = Buffer.allocUnsafeSlow(0);
  private used = 0;

  join(dir: Buffer, name: Buffer): Buffer {
    const length = dir.length + 1 + name.length;
    if (this.used + length > this.chunk.length) {
      this.chunk = Buffer.allocUnsafeSlow(Math.max(length, PATH_CHUNK));
      this.used = 0;
    }
    const out = this.chunk.subarray(this.used, this.used + length);
    dir.copy(out, 0);
    SLASH.copy(out, dir.length);
    name.copy(out, dir.length + 1);
    this.used += length;
    return out;
  }
}

/**
 * A job's paths copied into one buffer of their own: a view is cloned to the worker with its
 * whole ArrayBuffer, so sending arena (or pool) slices would copy whole chunks per job.
 */
function wirePaths(writes: SpanWrite[][]): void {
  let total = 0;
  for (const targets of writes) for (const w of targets) total += (w.path as Buffer).length;
  const wire = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (const targets of writes) {
    for (const w of targets) {
      const path = w.path as Buffer;
      path.copy(wire, at);
      w.path = wire.subarray(at, at + path.length);
      at += path.length;
    }
  }
}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException).code === code;
}

/**
 * Makes `dir` a real directory (replacing a symlink or file in the way). True when it was created
 * now: nothing can be in the way of its entries then.
 */
function ensureDir(dir: Buffer): boolean {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (st?.isDirectory()) return false;
  if (st) rmSync(dir, { force: true });
  mkdirSync(dir, { mode: 0o700 });
  return true;
}

function openForWrite(path: Buffer): number {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
  try {
    return openSync(path, flags, 0o600);
  } catch (err) {
    // A symlink or directory where the file goes: replace it, never write through it.
    if (isErrno(err, 'ELOOP') || isErrno(err, 'EISDIR')) {
      rmSync(path, { recursive: true, force: true });
      return openSync(path, flags, 0o600);
    }
    throw err;
  }
}

/** Removes anything at `path` (never following a symlink), so a fresh file can be created. */
function clearWay(path: Buffer): void {
  if (lstatSync(path, { throwIfNoEntry: false })) rmSync(path, { recursive: true, force: true });
}

function finishOf(node: TreeNode, rel: string): FileFinish {
  const f: FileFinish = {
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    mtimeNs: node.mtime,
    size: node.size ?? 0,
  };
  if (node.xattrs) {
    f.xattrs = node.xattrs;
    f.rel = rel;
  }
  return f;
}

/** Restores under a shared lock, so a prune cannot delete packs from under it. */
export async function restore(repo: Repository, opts: RestoreOptions): Promise<RestoreResult> {
  repo.requirePrivateKey('restore');
  return withLock(
    repo.backend,
    'shared',
    'restore',
    () => restoreLocked(repo, opts),
    opts.lockTiming,
    true,
    opts.signal,
  );
}

async function restoreLocked(repo: Repository, opts: RestoreOptions): Promise<RestoreResult> {
  const info = await repo.resolveSnapshot(opts.snapshot, { service: opts.service, plan: opts.plan });
  const { body } = await repo.readSnapshotBody(info.id);
  const { index } = await repo.loadIndex();
  const target = Buffer.from(resolve(opts.target));
  mkdirSync(target, { recursive: true, mode: 0o700 });
  if (!lstatSync(target).isDirectory())
    throw new EngineError('INVALID_ARGUMENT', `restore target ${target.toString()} is not a directory`);

  const paths = new PathArena();
  const childPath = (dir: Buffer, name: Buffer): Buffer => paths.join(dir, name);
  const warningList: string[] = [];
  let warningCount = 0;
  const warn = (message: string): void => {
    warningCount++;
    if (warningList.length < MAX_WARNINGS) warningList.push(message);
  };
  /** Metadata that may fail for reasons of the target (not root, no xattrs): a warning. */
  const tryMeta = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      warn(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const applyMeta = (path: Buffer, rel: string, node: TreeNode): void => {
    const link = node.type === 'symlink';
    if (IS_ROOT) tryMeta(rel, () => lchownSync(path, node.uid, node.gid));
    // lsetxattr does not follow a symlink: a symlink's own attributes (trusted.*, security.*).
    writeXattrs({ path }, node.xattrs, rel, warn);
    if (!link) chmodSync(path, node.mode);
    setPathTimes(path, node.mtime);
  };

  /**
   * What planning changes on disk (directories, symlinks, special and empty files, removing what
   * is in the way), done only once every tree has been read and checked: a corrupt or forged tree
   * anywhere in the snapshot fails the restore before anything is written.
   */
  const ops: (() => void)[] = [];

  // Find the starting node for --include.
  let start: { node: TreeNode; rel: Buffer[] } = { node: body.root, rel: [] };
  let dir: Buffer = target;
  if (opts.include) {
    const parts = opts.include.split('/').filter((p) => p !== '' && p !== '.');
    let node = body.root;
    for (const part of parts) {
      if (node.type !== 'dir')
        throw new EngineError('NOT_FOUND', `${opts.include} is not in snapshot ${info.id.slice(0, 8)}`);
      const tree = await readTree(repo, index, node.subtree!);
      const want = Buffer.from(part);
      const next = tree.nodes.find((n) => nodeNameBytes(n).equals(want));
      if (!next)
        throw new EngineError('NOT_FOUND', `${opts.include} is not in snapshot ${info.id.slice(0, 8)}`);
      node = next;
    }
    start = { node, rel: parts.map((p) => Buffer.from(p)) };
    // Parents of the included path are created plainly.
    for (const p of start.rel.slice(0, -1)) {
      assertSafeName(p);
      dir = childPath(dir, p);
      const parent = dir;
      ops.push(() => {
        ensureDir(parent);
      });
    }
  }

  const files: FilePlan[] = [];
  const dirs: { path: Buffer; rel: string; node: TreeNode }[] = [];
  const needs = new Map<string, Map<string, Need>>();
  /** Hard-link groups: the first file restored under each `hardlink` key, and the other names. */
  const linkFirst = new Map<string, number>();
  const links: { path: Buffer; rel: string; first: number }[] = [];
  let symlinks = 0;
  let special = 0;
  let bytesTotal = 0;

  /**
   * `dir`, `dirRel`: the file's folder. `fresh`: that folder was created by this restore, so
   * nothing is in the way.
   */
  const planFile = (node: TreeNode, dir: Buffer, dirRel: string, fresh: boolean): void => {
    const rel = dirRel ? `${dirRel}/${node.name}` : node.name;
    if (node.hardlink !== undefined) {
      const first = linkFirst.get(node.hardlink);
      if (first !== undefined) {
        const path = joinPath(dir, nodeNameBytes(node));
        if (!fresh) ops.push(() => clearWay(path));
        links.push({ path, rel, first });
        return;
      }
      linkFirst.set(node.hardlink, files.length);
    }
    const fileNo = files.length;
    let offset = 0;
    for (const id of node.content!) {
      const loc = locate(index, id, `file ${rel}`);
      let perPack = needs.get(loc.pack);
      if (!perPack) needs.set(loc.pack, (perPack = new Map<string, Need>()));
      const need = perPack.get(id);
      if (!need) {
        const { offset: packOffset, length, rawLength } = loc;
        perPack.set(id, { id, offset: packOffset, length, rawLength, file: fileNo, at: offset });
      } else (need.more ??= []).push({ file: fileNo, at: offset });
      offset += loc.rawLength;
    }
    if (offset !== node.size) throw corrupt(`file ${rel}: chunk sizes do not add up to the file size`);
    bytesTotal += offset;
    // Worker threads create the file (O_CREAT | O_NOFOLLOW, no truncation, since several may
    // write parts of it); whatever is in its place now — a symlink, a directory, or a file that
    // might be hard-linked elsewhere — is removed first, so no write lands outside the target.
    const plan = new FilePlan(dir, dirRel, node, offset, node.content!.length === 1);
    if (!fresh) ops.push(() => clearWay(plan.path));
    // The ids now live in `needs`; the node's copy is only read again to verify.
    if (!opts.verify) node.content = PLANNED as string[];
    files.push(plan);
    if (offset === 0)
      ops.push(() => {
        closeSync(openForWrite(plan.path));
        finishFile(plan);
      });
  };

  const planNode = async (node: TreeNode, path: Buffer, rel: string, fresh: boolean): Promise<void> => {
    throwIfAborted(opts.signal, 'restore');
    switch (node.type) {
      case 'dir': {
        // Whether ensureDir will create it (nothing is created while planning): then nothing is in
        // the way of its entries.
        const created = fresh || lstatSync(path, { throwIfNoEntry: false })?.isDirectory() !== true;
        ops.push(() => {
          if (fresh) mkdirSync(path, { mode: 0o700 });
          else ensureDir(path);
        });
        dirs.push({ path, rel, node });
        const tree = await readTree(repo, index, node.subtree!);
        for (const child of tree.nodes) {
          const name = nodeNameBytes(child);
          assertSafeName(name);
          // Files are planned by their folder: no path of their own until they are written.
          if (child.type === 'file') planFile(child, path, rel, created);
          else
            await planNode(child, childPath(path, name), rel ? `${rel}/${child.name}` : child.name, created);
        }
        return;
      }
      case 'symlink':
        ops.push(() => {
          if (!fresh) rmSync(path, { recursive: true, force: true });
          symlinkSync(symlinkTargetBytes(node), path);
          applyMeta(path, rel, node);
        });
        symlinks++;
        return;
      case 'file':
        // Only an included file starts here (a folder plans its files itself): its folder is
        // `path` without its name.
        planFile(
          node,
          path.subarray(0, path.length - nodeNameBytes(node).length - 1),
          rel.slice(0, Math.max(0, rel.length - node.name.length - 1)),
          fresh,
        );
        return;
      default:
        ops.push(() => {
          if (!fresh) clearWay(path);
          try {
            makeSpecial(path, node.type, node.mode, node.rdev);
          } catch (err) {
            warn(`${rel}: ${node.type} not restored: ${err instanceof Error ? err.message : String(err)}`);
            return;
          }
          applyMeta(path, rel, node);
          special++;
        });
    }
  };

  /** A file's metadata once its last byte has landed (files the workers did not finish). */
  const finishFile = (f: FilePlan): void => {
    const fd = openSync(f.path, constants.O_WRONLY | constants.O_NOFOLLOW);
    try {
      if (f.node.sparse) ftruncateSync(fd, f.node.size ?? 0);
      // Owner first (chown clears setuid bits and capabilities), then xattrs, mode and times.
      if (IS_ROOT) fchownSync(fd, f.node.uid, f.node.gid);
      writeXattrs({ fd }, f.node.xattrs, f.rel, warn);
      fchmodSync(fd, f.node.mode);
      setFileTimes(fd, f.node.mtime);
    } finally {
      closeSync(fd);
    }
  };

  if (start.rel.length === 0) {
    dirs.push({ path: target, rel: '.', node: start.node });
    const tree = await readTree(repo, index, start.node.subtree!);
    const skip = new Set(opts.excludeTop ?? []);
    for (const child of tree.nodes) {
      const name = nodeNameBytes(child);
      assertSafeName(name);
      if (child.nameRaw === undefined && skip.has(child.name)) continue;
      if (child.type === 'file') planFile(child, target, '', false);
      else await planNode(child, childPath(target, name), child.name, false);
    }
  } else {
    const rootPath = start.rel.reduce((at: Buffer, p) => childPath(at, p), target);
    await planNode(start.node, rootPath, start.rel.map((p) => p.toString()).join('/'), false);
  }
  // Every tree is read and valid: now create the skeleton, in walk order (parents first).
  for (const op of ops) op();
  ops.length = 0;

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
  const pool = opts.pool ?? new WorkerPool(RESTORE_WORKERS);
  const budget = new Budget(IN_FLIGHT);
  const spanBuffers = new BufferPool(IN_FLIGHT);
  try {
    // Merge nearby blobs of a pack into spans (≤ MAX_SPAN) so each pack is read in few requests,
    // then decrypt each span in one worker job.
    const spans: { pack: string; key: Buffer; blobs: Need[] }[] = [];
    for (const [pack, perPack] of needs) {
      const key = repo.readKey(ephOf(index, pack), 'restore');
      let current: Need[] = [];
      let raw = 0;
      for (const n of [...perPack.values()].sort((a, b) => a.offset - b.offset)) {
        const first = current[0];
        const prev = current[current.length - 1];
        // Bound both what is read and what it decompresses to (logs expand 5–10×).
        if (
          first &&
          prev &&
          (n.offset - (prev.offset + prev.length) > GAP ||
            n.offset + n.length - first.offset > MAX_SPAN ||
            raw + n.rawLength > MAX_SPAN)
        ) {
          spans.push({ pack, key, blobs: current });
          current = [];
          raw = 0;
        }
        current.push(n);
        raw += n.rawLength;
      }
      if (current.length) spans.push({ pack, key, blobs: current });
    }
    await mapLimit(spans, pool.size + 1, async ({ pack, key, blobs }) => {
      throwIfAborted(opts.signal, 'restore');
      const from = blobs[0]!.offset;
      const last = blobs[blobs.length - 1]!;
      const length = last.offset + last.length - from;
      const cost = length + blobs.reduce((n, b) => n + b.rawLength, 0);
      await budget.take(cost);
      try {
        // Into a buffer we own outright: its memory is transferred to the worker and back.
        const span = spanBuffers.borrow(length);
        await repo.backend.get(packName(pack), { offset: from, length, into: span });
        const writes = blobs.map((n) => {
          const out: SpanWrite[] = [];
          eachTarget(n, (file, at) => {
            const f = files[file]!;
            const w: SpanWrite = { path: f.path, offset: at };
            if (f.node.sparse) w.sparse = true;
            if (f.finishedByWorker) w.finish = finishOf(f.node, f.rel);
            out.push(w);
          });
          return out;
        });
        wirePaths(writes);
        const { input, warnings } = await pool.run({
          op: 'openSpan',
          key,
          idKey: repo.keys.idKey,
          data: span,
          blobs: blobs.map((n) => ({
            type: BlobType.Data,
            id: Buffer.from(n.id, 'hex'),
            offset: n.offset - from,
            length: n.length,
            rawLength: n.rawLength,
          })),
          writes,
          chown: IS_ROOT,
        });
        spanBuffers.release(input);
        for (const w of warnings) warn(w);
        for (const n of blobs) {
          eachTarget(n, (file) => {
            const f = files[file]!;
            f.remaining -= n.rawLength;
            progress.bytesDone += n.rawLength;
            if (f.remaining === 0) {
              if (!f.finishedByWorker) finishFile(f);
              progress.filesDone++;
              progress.current = f.rel;
            }
          });
        }
        emit();
      } finally {
        budget.give(cost);
      }
    });
  } finally {
    if (ownPool) await pool.close();
  }

  // Other names of hard-linked files, now that the first name is complete.
  for (const l of links) linkSync(files[l.first]!.path, l.path);

  // Directory metadata last, deepest first, so writing children does not disturb mtimes.
  for (let i = dirs.length - 1; i >= 0; i--) applyMeta(dirs[i]!.path, dirs[i]!.rel, dirs[i]!.node);

  let verified = false;
  if (opts.verify) {
    await verifyFiles(repo, index, files);
    verified = true;
  }
  progress.phase = 'done';
  delete progress.current;
  emit(true);
  if (warningCount > warningList.length)
    warningList.push(`… and ${warningCount - warningList.length} more metadata warnings`);
  return {
    snapshot: info,
    files: files.length,
    dirs: dirs.length,
    symlinks,
    special,
    hardlinks: links.length,
    bytes: bytesTotal,
    verified,
    warnings: warningList,
  };
}

/** Re-reads restored files and checks every chunk against its id. */
async function verifyFiles(repo: Repository, index: BlobIndex, files: FilePlan[]): Promise<void> {
  let buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  for (const f of files) {
    const fd = openSync(f.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      let pos = 0;
      for (const id of f.node.content!) {
        const len = locate(index, id, f.rel).rawLength;
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
            `verify failed: ${f.rel} differs from the snapshot at offset ${pos}`,
          );
        }
        pos += len;
      }
      if (readSync(fd, buf, 0, 1, pos) !== 0)
        throw new EngineError('CORRUPT', `verify failed: ${f.rel} is longer than in the snapshot`);
    } finally {
      closeSync(fd);
    }
    await new Promise<void>((r) => setImmediate(r));
  }
}
