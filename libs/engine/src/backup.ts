/**
 * Backup: walk a source folder, chunk and store new content, write trees bottom-up, then the
 * index, the manifest and — last — the snapshot. Until that final put nothing is visible, so a
 * killed backup leaves only unreferenced (but indexed, hence reusable) packs.
 *
 * Names are read and kept as bytes (Linux allows anything but `/` and NUL, UTF-8 or not), small
 * files travel to the worker threads many at a time, and large files step by step.
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync, type BigIntStats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { ID_LEN } from './blob';
import { Chunker } from './chunker';
import { randomId } from './crypto';
import { EngineError, throwIfAborted } from './errors';
import { readXattrs } from './fsmeta';
import { pathKey } from './keys';
import { Lock, type LockTiming } from './locks';
import {
  loadManifestChain,
  pathFingerprint,
  pathFingerprintBytes,
  type LoadedManifest,
  ManifestFiles,
  type Manifest,
} from './manifest';
import type { Repository } from './repository';
import { normalizeArch, type SnapshotInfo, type SourceError } from './snapshot';
import { assertSafeName, encodeTree, nameFields, nodeNameBytes, type NodeType, type TreeNode } from './tree';
import { WorkerPool } from './workers/pool';
import type { FileBatchResult, FileStepResult, SealedBlobs } from './workers/protocol';
import { BATCH_FILE_MAX, SMALL_ARENA_BYTES, STEP_ARENA_BYTES, batchArenas } from './workers/protocol';
import { SEAL_OVERHEAD_MAX } from './codec';
import { Budget } from './util';
import {
  PACKED_FIELDS,
  PackedStat,
  ownedPath,
  scanDir,
  scannedFingerprintBytes,
  scannedNames,
  type EntryStat,
  type ScanDirResult,
} from './scan';
import { WriterSession } from './writer';

export interface Progress {
  phase: 'scan' | 'backup' | 'restore' | 'done';
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** The file being worked on, relative to the source (or restore) folder. */
  current?: string;
}

export interface BackupOptions {
  /** The folder to back up (a service's data folder). Not used with `stdin`. */
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
  /** Files or batches of small files read at once (default: twice the worker threads). */
  fileConcurrency?: number;
  /**
   * Stops the backup at the next file or 8 MiB step (a worker shutting down). Nothing becomes
   * visible; what was already uploaded is indexed and reused by the next backup.
   */
  signal?: AbortSignal;
  /** Reuse a pool across operations (the worker app does); otherwise one is made and closed. */
  pool?: WorkerPool;
  lockTiming?: LockTiming;
  /** Read, chunk and seal everything, but store nothing: the result says what would be added. */
  dryRun?: boolean;
  /** Do not descend into other file systems (mount points are kept as empty directories). */
  oneFileSystem?: boolean;
  /** Back up only these paths (relative to the source folder) and what is below them. */
  only?: string[];
  /**
   * Back up a stream (a database dump) as one file named `name` instead of a folder: chunked and
   * deduplicated like any other file.
   */
  stdin?: { stream: AsyncIterable<Buffer | string>; name: string };
  /**
   * Files made from streams (a service's database dumps), stored beside the source folder's
   * content at `path` (relative, `/`-separated, e.g. `.vaultline-dumps/postgres/app.dump`), chunked
   * and deduplicated like any other file. Each is opened and read to its end, one after the
   * other, before the folder is walked; an error thrown by a stream fails the backup. The first
   * component of every path must not exist in the source folder (the backup fails otherwise).
   */
  streams?: readonly { path: string; open: () => AsyncIterable<Buffer | string> }[];
  /**
   * List folders (readdir, lstat, xattrs) in the worker threads when there is a parent (the
   * default); false lists them on the calling thread. The same snapshot either way.
   */
  scanInWorkers?: boolean;
}

export interface BackupResult {
  snapshot: SnapshotInfo;
  errors: SourceError[];
  /** True when nothing was stored (`dryRun`): `snapshot` is what would have been saved. */
  dryRun: boolean;
}

/** Bytes a worker reads per step of a large file: bounds what one reply carries. */
const STEP_BYTES = 8 * 1024 * 1024;
const BATCH_FILES = 256;
const BATCH_BYTES = 4 * 1024 * 1024;
const PROGRESS_INTERVAL_MS = 250;
/**
 * Folder listings requested ahead of the walk and not walked yet (each holds one folder's names
 * and lstats, ~150 B an entry): what bounds the listing's memory on a tree of any size.
 */
const PREFETCH_DIRS = 1024;
const SCAN_GROUP = 8;
const SLASH = Buffer.from('/');

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
  get active(): boolean {
    return this.ig !== null;
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

/** `--files-from`: the listed paths as a tree of name segments; ALL marks a listed path. */
type OnlyTree = Map<string, OnlyTree | typeof ALL>;
const ALL = Symbol('all');

/** null: the whole source. */
function onlyTree(paths: readonly string[]): OnlyTree | null {
  const root: OnlyTree = new Map();
  for (const raw of paths) {
    const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.length === 0) return null;
    if (parts.includes('..'))
      throw new EngineError('INVALID_ARGUMENT', `path ${JSON.stringify(raw)} leaves the source folder`);
    let node = root;
    for (let i = 0; i < parts.length; i++) {
      const key = Buffer.from(parts[i]!).toString('latin1');
      const cur = node.get(key);
      if (cur === ALL) break;
      if (i === parts.length - 1) node.set(key, ALL);
      else {
        let next = cur;
        if (!next) node.set(key, (next = new Map()));
        node = next;
      }
    }
  }
  return root;
}

function* onlyPaths(tree: OnlyTree, prefix = ''): Generator<string> {
  for (const [k, v] of tree) {
    const p = prefix
      ? `${prefix}/${Buffer.from(k, 'latin1').toString()}`
      : Buffer.from(k, 'latin1').toString();
    if (v === ALL) yield p;
    else yield* onlyPaths(v, p);
  }
}

const SPECIAL: [(st: EntryStat) => boolean, NodeType][] = [
  [(st) => st.isFIFO(), 'fifo'],
  [(st) => st.isCharacterDevice(), 'chardev'],
  [(st) => st.isBlockDevice(), 'blockdev'],
  [(st) => st.isSocket(), 'socket'],
];

export async function backup(repo: Repository, opts: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const stdin = opts.stdin;
  const source = stdin ? `stdin:${stdin.name}` : resolve(opts.source);
  let rootStat: BigIntStats | null = null;
  if (stdin) {
    assertSafeName(Buffer.from(stdin.name));
  } else {
    try {
      rootStat = lstatSync(source, { bigint: true });
    } catch (err) {
      throw new EngineError('SOURCE_UNREADABLE', `cannot read source folder ${source}: ${describe(err)}`, {
        cause: err,
      });
    }
    if (rootStat.isSymbolicLink()) {
      // Not followed (a link is stored as a link everywhere else): say where it points instead
      // of calling a link to a folder "not a directory".
      let target = '';
      try {
        if (statSync(source).isDirectory()) target = realpathSync(source);
      } catch {
        // dangling or unreadable: no folder to name
      }
      throw new EngineError(
        'SOURCE_UNREADABLE',
        target
          ? `source ${source} is a symbolic link to the folder ${target}: name that folder`
          : `source ${source} is a symbolic link, not a directory`,
      );
    }
    if (!rootStat.isDirectory())
      throw new EngineError('SOURCE_UNREADABLE', `source ${source} is not a directory`);
  }
  assertValidTags(opts.tags ?? []);
  const only = opts.only ? onlyTree(opts.only) : null;

  throwIfAborted(opts.signal, 'backup');
  const lock = await Lock.acquire(repo.backend, 'shared', 'backup', opts.lockTiming, opts.signal);
  const ownPool = !opts.pool;
  const pool = opts.pool ?? new WorkerPool();
  // File reads still running when the walk fails or is cancelled: settled before the pool closes.
  const reading = new Set<Promise<unknown>>();
  let writer: WriterSession | undefined;
  // Set when the walk ends or fails: listings still arriving then request no more.
  let walkDone = false;
  try {
    const host = opts.host ?? hostname();
    const pk = pathKey(repo.keys);
    const sourceFp = pathFingerprint(pk, source);
    const service = opts.service ?? null;
    const plan = opts.plan ?? null;
    const excluder = new Excluder(opts.excludes ?? []);

    // ── folder listings in the worker threads ─────────────────────────────────────────────────
    const rootDev = rootStat?.dev;
    const prefetch = new Map<string, Promise<ScanDirResult>>();
    let prefetching = 0;
    const scanKey = new Uint8Array(pk);
    const scanDirs = (dirs: [Buffer, Buffer | null][]): Promise<ScanDirResult[]> => {
      const p = pool.run({
        op: 'scanDir',
        dirs: dirs.map(([path, rel]) => ({ path: ownedPath(path), rel: rel && ownedPath(rel) })),
        pathKey: scanKey,
      });
      p.catch(() => undefined);
      return p;
    };
    /**
     * Listing runs ahead of the walk in the walk's own order: `toList` is a stack of folders known
     * but not requested yet, each listing that arrives pushes its subfolders on top (first child
     * topmost), and `pump` requests from the top — a few folders to a message, at most two
     * messages per worker in flight, and at most PREFETCH_DIRS folders requested and not walked
     * yet (each listing holds its names and lstats until the walk takes it). So the folders listed
     * are always the next ones the walk needs, not far siblings that would fill the budget first.
     */
    const toList: [Buffer, Buffer | null][] = [];
    /** Folders the walk listed itself (not requested in time): skipped when popped. */
    const listedByWalk = new Set<string>();
    let scanMessages = 0;
    const pump = (): void => {
      while (!walkDone && toList.length > 0 && prefetching < PREFETCH_DIRS && scanMessages < pool.size * 2) {
        const group: [Buffer, Buffer | null][] = [];
        while (group.length < SCAN_GROUP && toList.length > 0 && prefetching < PREFETCH_DIRS) {
          const next = toList.pop()!;
          const key = next[0].toString('latin1');
          if (listedByWalk.delete(key)) continue;
          group.push(next);
          prefetching++;
        }
        if (group.length === 0) continue;
        scanMessages++;
        const results = scanDirs(group).then((r) => {
          // Last folder first, so that the first folder's subfolders (the walk's next) end on top.
          if (!walkDone)
            for (let k = group.length - 1; k >= 0; k--)
              queueChildren(group[k]![0], group[k]![1], r[k]!, false);
          pump();
          return r;
        });
        results.catch(() => undefined);
        group.forEach(([abs], k) => {
          const p = results.then((r) => r[k]!);
          p.catch(() => undefined);
          prefetch.set(abs.toString('latin1'), p);
        });
        const settled = (): void => {
          scanMessages--;
          pump();
        };
        results.then(settled, settled);
      }
    };
    /** A listed folder's subfolders the walk will enter, onto the stack in walk order. */
    const queueChildren = (
      abs: Buffer,
      relBytes: Buffer | null,
      listing: ScanDirResult,
      thenPump = true,
    ): void => {
      const names = scannedNames(listing);
      for (let i = names.length - 1; i >= 0; i--) {
        if (listing.statErrors[i] !== null) continue;
        const st = new PackedStat(listing.stats, i * PACKED_FIELDS);
        if (!st.isDirectory()) continue;
        const name = names[i]!;
        const childRelBytes = relBytes ? Buffer.concat([relBytes, SLASH, name]) : name;
        if (excluder.active && excluder.excluded(childRelBytes.toString(), true)) continue;
        if (opts.oneFileSystem && rootDev !== undefined && st.dev !== rootDev) continue;
        toList.push([Buffer.concat([abs, SLASH, name]), childRelBytes]);
      }
      if (thenPump) pump();
    };

    let parent = await findParent(repo, opts.parent, { service, plan, host, sourceFp });
    // With a parent, the listings start now, while this thread reads the index and the parent's
    // manifest (a second or more for a large tree): the walk then finds them ready. A filtered
    // backup (`only`) lists just what it walks.
    if (parent && !stdin && !only && opts.scanInWorkers !== false) {
      toList.push([Buffer.from(source), null]);
      pump();
    }
    const [{ index }, parentManifest] = await Promise.all([
      repo.loadIndex(),
      parent ? loadParentManifest(repo, parent) : null,
    ]);
    // A parent whose manifest is damaged (check reports it) is no parent: this backup reads
    // everything and stores a whole manifest, so the next ones build on something sound.
    if (!parentManifest) parent = null;
    const parentFiles = parentManifest?.manifest ?? null;

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
    // The totals a progress display needs, without a walk of its own before the backup (a
    // synchronous one blocked the event loop — lock renewals included — for seconds on a large
    // tree): an incremental backup starts from its parent's figures; a first backup counts the
    // tree in the background on libuv's threads, in phase 'scan' until the count is in.
    let counting: Promise<void> | undefined;
    if (opts.onProgress && !stdin) {
      if (parent) {
        progress.filesTotal = parent.stats.files;
        progress.bytesTotal = parent.stats.totalBytes;
        progress.phase = 'backup';
      } else {
        counting = countTree(Buffer.from(source), '', excluder, progress, () => walkDone).then(() => {
          if (progress.phase === 'scan') progress.phase = 'backup';
          emit(true);
        });
        counting.catch(() => undefined);
      }
      emit(true);
    } else {
      progress.phase = 'backup';
    }

    const session = (writer = new WriterSession(repo, index, pool, { dryRun: opts.dryRun === true }));
    const slots = new Budget(opts.fileConcurrency ?? pool.size * 2);
    // Large files one per worker: each holds a 16 MiB read window and two 9 MiB steps in flight,
    // and one file per worker already keeps it busy (memory, docs/benchmarks.md).
    const largeSlots = new Budget(Math.max(1, Math.min(pool.size, opts.fileConcurrency ?? pool.size)));
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

    /** The new manifest's files: a file that was stored (or found unchanged) is a row of it. */
    const files = new ManifestFiles();
    /** `file`: the entry's row in `files`. */
    type Stored = { node: TreeNode; file?: number; dir?: DirResult } | null;
    /** The root entries made from opts.streams (read before the walk), or null without any. */
    let streamed: NonNullable<Stored>[] | null = null;
    type Base = Omit<TreeNode, 'type'>;

    /** Takes the sealed blobs of a worker reply into the session; `ids` are the reply's chunk ids. */
    const takeSealed = (ids: Uint8Array, sealed: SealedBlobs): void => {
      const idBuf = Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength);
      for (const b of sealed.blobs) {
        const arena = sealed.arenas[b.arena]!;
        session.addSealed(
          Buffer.from(idBuf.subarray(b.chunk * ID_LEN, (b.chunk + 1) * ID_LEN)),
          [arena.subarray(b.offset, b.offset + b.length)],
          b.rawLength,
        );
      }
      session.arenas.settle(sealed.arenas);
    };
    const hexIds = (ids: Uint8Array, from: number, count: number): string[] => {
      const buf = Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength);
      const out = new Array<string>(count);
      for (let i = 0; i < count; i++)
        out[i] = buf.toString('hex', (from + i) * ID_LEN, (from + i + 1) * ID_LEN);
      return out;
    };

    /** A file that was read: its node and manifest entry. */
    const storedFile = (
      fp: Uint8Array,
      base: Base,
      extra: Partial<TreeNode>,
      size: number,
      content: string[],
      stat: { mtimeNs: string; ctimeNs: string; ino: string } | undefined,
    ): Stored => {
      stats.bytesRead += size;
      stats.totalBytes += size;
      if (parentFiles?.files.has(fp)) stats.filesChanged++;
      else stats.filesNew++;
      const mtime = stat?.mtimeNs ?? base.mtime;
      const row = files.set(
        fp,
        0,
        size,
        BigInt(mtime),
        BigInt(stat?.ctimeNs ?? 0),
        BigInt(stat?.ino ?? 0),
        content,
      );
      return { node: { ...base, ...extra, type: 'file', mtime, size, content }, file: row };
    };

    /** An unchanged file (same size, mtime, ctime, inode, all chunks still indexed): not read. */
    const unchanged = (
      fp: Uint8Array,
      st: EntryStat,
      base: Base,
      extra: Partial<TreeNode>,
    ): Stored | undefined => {
      if (!parentFiles) return undefined;
      const pf = parentFiles.files;
      const prev = pf.row(fp);
      if (
        prev < 0 ||
        pf.fileSize(prev) !== Number(st.size) ||
        pf.mtime(prev) !== st.mtimeNs ||
        pf.ctime(prev) !== st.ctimeNs ||
        pf.ino(prev) !== st.ino ||
        !pf.chunksIn(prev, index)
      ) {
        return undefined;
      }
      const size = pf.fileSize(prev);
      stats.filesUnmodified++;
      stats.totalBytes += size;
      progress.bytesDone += size;
      return {
        node: { ...base, ...extra, type: 'file', size, content: pf.chunkHex(prev) },
        file: files.copy(fp, 0, pf, prev),
      };
    };

    // ── small files: many per worker message ──────────────────────────────────────────────────
    interface Queued {
      abs: Buffer;
      rel: string;
      fp: Uint8Array;
      base: Base;
      extra: Partial<TreeNode>;
      size: number;
      done: (s: Stored) => void;
      fail: (err: unknown) => void;
    }
    let batch: Queued[] = [];
    let batchBytes = 0;
    const runBatch = async (files: Queued[]): Promise<void> => {
      let r: FileBatchResult;
      try {
        r = await pool.run({
          op: 'fileBatch',
          session: session.workerConfig(),
          files: files.map((f) => ({ path: f.abs, size: f.size })),
          spares: session.arenas.take(
            batchArenas(files.reduce((n, f) => n + f.size + SEAL_OVERHEAD_MAX, 0)),
            SMALL_ARENA_BYTES,
          ),
        });
        takeSealed(r.ids, r.sealed);
      } catch (err) {
        for (const f of files) f.fail(err);
        throw err;
      }
      let chunk = 0;
      r.files.forEach((res, i) => {
        const f = files[i]!;
        progress.filesDone++;
        progress.bytesDone += res.bytes;
        if (res.error !== undefined) {
          errors.push({ path: f.rel, error: res.error });
          f.done(null);
          return;
        }
        if (res.grown) {
          // Grown since it was listed, past what a batch reads whole: read step by step, as a
          // large file is (one of them per worker).
          const read = largeSlots.take(1).then(async () => {
            try {
              return await readLarge(f.abs, f.rel, f.fp, f.base, f.extra);
            } finally {
              largeSlots.give(1);
            }
          });
          reading.add(read);
          read.then(
            (stored) => {
              reading.delete(read);
              f.done(stored);
            },
            (err: unknown) => {
              reading.delete(read);
              f.fail(err);
            },
          );
          return;
        }
        const content = hexIds(r.ids, chunk, res.chunks);
        chunk += res.chunks;
        f.done(storedFile(f.fp, f.base, f.extra, res.bytes, content, res.stat));
      });
      progress.current = files[files.length - 1]!.rel;
      emit();
    };
    const flushBatch = async (): Promise<void> => {
      if (batch.length === 0) return;
      const files = batch;
      batch = [];
      batchBytes = 0;
      throwIfAborted(opts.signal, 'backup');
      await slots.take(1);
      await session.ready().catch((err: unknown) => {
        slots.give(1);
        throw err;
      });
      const run = runBatch(files).finally(() => {
        slots.give(1);
        reading.delete(run);
      });
      run.catch(() => undefined);
      reading.add(run);
    };
    /** Queues a small file; resolves (to its eventual result) once the batch has room. */
    const queueSmall = async (q: Omit<Queued, 'done' | 'fail'>): Promise<{ stored: Promise<Stored> }> => {
      const stored = new Promise<Stored>((done, fail) => batch.push({ ...q, done, fail }));
      batchBytes += q.size;
      if (batch.length >= BATCH_FILES || batchBytes >= BATCH_BYTES) await flushBatch();
      return { stored };
    };

    // ── large files: step by step in one worker ───────────────────────────────────────────────
    const readLarge = async (
      abs: Buffer,
      rel: string,
      fp: Uint8Array,
      base: Base,
      extra: Partial<TreeNode>,
    ): Promise<Stored> => {
      const handle = `${sessionTag}:${++fileCounter}`;
      const worker = pool.pick();
      const config = session.workerConfig();
      const content: string[] = [];
      let size = 0;
      let stat: FileStepResult['stat'];
      let done = false;
      // Two steps of a file are in flight at a time, so its worker never waits for this thread.
      // A step sent after the file's last one finds it closed and returns an empty result.
      const step = (first: boolean): Promise<FileStepResult> =>
        pool.run(
          {
            op: 'fileStep',
            handle,
            session: config,
            maxBytes: STEP_BYTES,
            spares: session.arenas.take(1, STEP_ARENA_BYTES),
            ...(first ? { path: abs } : {}),
          },
          worker,
        );
      throwIfAborted(opts.signal, 'backup');
      await session.ready();
      progress.current = rel;
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
          content.push(...hexIds(r.ids, 0, r.ids.length / ID_LEN));
          takeSealed(r.ids, r.sealed);
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
      return storedFile(fp, base, extra, size, content, stat);
    };

    // ── the walk ──────────────────────────────────────────────────────────────────────────────
    /** Hard-linked files seen so far (`dev:ino`): the first one is read, the others share it. */
    const links = new Map<string, Promise<Stored>>();
    // With a parent, most entries only need their lstat: listings come from the worker threads,
    // up to PREFETCH_DIRS folders ahead of the walk. A first backup keeps its workers busy reading
    // files, and lists folders itself so that the reads it feeds them never wait behind listings.
    const scanInWorkers = parentFiles !== null && opts.scanInWorkers !== false;
    const xattrError = (rel: string) => (message: string) =>
      errors.push({ path: rel || '.', error: message });

    /**
     * Walks one directory, starting the reads of its changed files, and returns — once the walk
     * is done, not the reads — a promise of the directory's tree. So the walk moves on to the next
     * directory while this one's files are still being read, and no worker idles at directory
     * boundaries. A file joins the manifest (`files`) when it has been read.
     */
    const walkDir = async (
      abs: Buffer,
      rel: string,
      relBytes: Buffer | null,
      filter: OnlyTree | null,
    ): Promise<{ result: Promise<DirResult> }> => {
      let names: Buffer[];
      let scanned: ScanDirResult | null = null;
      const key = abs.toString('latin1');
      const prefetched = prefetch.get(key);
      if (prefetched || (scanInWorkers && !filter)) {
        prefetch.delete(key);
        let listing: ScanDirResult;
        if (prefetched) {
          listing = await prefetched;
          prefetching--;
          pump();
        } else {
          // Not requested yet (the walk caught up, or under a --files-from folder): listed now,
          // on this thread — one native call costs less than a round trip to a worker — and its
          // subfolders queued.
          listedByWalk.add(key);
          listing = scanDir(abs, relBytes, pk);
          queueChildren(abs, relBytes, listing);
        }
        scanned = listing;
        if (listing.error !== undefined) errors.push({ path: rel || '.', error: listing.error });
        names = scannedNames(listing);
      } else if (!filter) {
        // A first backup lists on this thread (its workers are busy reading files), in one native
        // call per folder rather than an lstat and an xattr listing per entry.
        scanned = scanDir(abs, relBytes, pk);
        if (scanned.error !== undefined) errors.push({ path: rel || '.', error: scanned.error });
        names = scannedNames(scanned);
      } else {
        try {
          names = readdirSync(abs, { encoding: 'buffer' }).sort((a, b) => Buffer.compare(a, b));
        } catch (err) {
          errors.push({ path: rel || '.', error: describe(err) });
          names = [];
        }
      }
      // Promises of entries still being read, or the entries themselves (Promise.all takes both:
      // an unchanged file needs no promise, and on 60,000 of them two promises each showed).
      const pending: (Stored | Promise<Stored>)[] = [];
      const track = (p: Promise<Stored>): void => {
        // Handled here so a failure while the walk still runs is not an unhandled rejection;
        // Promise.all below still sees it.
        p.catch(() => undefined);
        pending.push(p);
      };
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        let childFilter: OnlyTree | null = null;
        if (filter) {
          const f = filter.get(name.toString('latin1'));
          if (f === undefined) continue;
          childFilter = f === ALL ? null : f;
        }
        // Made when first asked for: an unchanged file needs neither path.
        const child = new EntryPaths(abs, relBytes, name);
        let st: EntryStat;
        if (scanned) {
          const statError = scanned.statErrors[i];
          if (statError !== null) {
            errors.push({ path: child.rel, error: statError! });
            continue;
          }
          st = new PackedStat(scanned.stats, i * PACKED_FIELDS);
        } else {
          try {
            st = lstatSync(child.abs, { bigint: true });
          } catch (err) {
            errors.push({ path: child.rel, error: describe(err) });
            continue;
          }
        }
        if (excluder.active && excluder.excluded(child.rel, st.isDirectory())) continue;
        throwIfAborted(opts.signal, 'backup');
        const base: Base = {
          ...nameFields(name),
          mode: Number(st.mode & 0o7777n),
          mtime: st.mtimeNs.toString(),
          uid: Number(st.uid),
          gid: Number(st.gid),
        };
        let xattrs: [string, string][] | undefined;
        if (scanned) {
          xattrs = scanned.xattrs[i] ?? undefined;
          const xattrFailed = scanned.xattrErrors[i];
          if (xattrFailed) xattrError(child.rel)(xattrFailed);
        } else xattrs = readXattrs(child.abs, xattrError(child.rel));
        if (xattrs) base.xattrs = xattrs;
        // A listed path below this entry, but the entry is no directory: nothing to back up here.
        if (childFilter && !st.isDirectory()) continue;
        if (st.isDirectory()) {
          stats.dirs++;
          if (opts.oneFileSystem && rootDev !== undefined && st.dev !== rootDev) {
            // Another file system mounted here: kept as an empty directory, not entered.
            const tree = session.addTree(encodeTree({ nodes: [] })).toString('hex');
            track(
              Promise.resolve({
                node: { ...base, type: 'dir', subtree: tree },
                dir: { tree, dirs: [] },
              }),
            );
            continue;
          }
          const sub = await walkDir(child.abs, child.rel, child.relBytes, childFilter);
          track(sub.result.then((dir) => ({ node: { ...base, type: 'dir', subtree: dir.tree }, dir })));
        } else if (st.isFile()) {
          const fp = scanned ? scannedFingerprintBytes(scanned, i) : pathFingerprintBytes(pk, child.relBytes);
          const extra: Partial<TreeNode> = {};
          // Holes: fewer blocks allocated than the size needs.
          if (st.blocks * 512n < st.size) extra.sparse = true;
          let linkKey: string | undefined;
          if (st.nlink > 1n) {
            linkKey = `${st.dev}:${st.ino}`;
            extra.hardlink = linkKey;
            const first = links.get(linkKey);
            if (first) {
              // Another name of a file already read: same content, not read again — unless the
              // first name could not be read (it vanished): then this name is read on its own.
              const abs = child.abs;
              const rel = child.rel;
              track(
                first.then((s) => {
                  if (s?.file === undefined) return readLarge(abs, rel, fp, base, extra);
                  progress.filesDone++;
                  stats.totalBytes += files.fileSize(s.file);
                  stats.filesUnmodified++;
                  return {
                    node: { ...s.node, ...base, ...extra, type: 'file' as const, mtime: s.node.mtime },
                    file: files.copy(fp, 0, files, s.file),
                  };
                }),
              );
              continue;
            }
          }
          let stored: Promise<Stored> | null = null;
          const known = unchanged(fp, st, base, extra);
          if (known) {
            progress.filesDone++;
            emit();
            // Only another name of the same inode waits on it.
            if (linkKey) stored = Promise.resolve(known);
            else pending.push(known);
          } else if (st.size <= BigInt(BATCH_FILE_MAX)) {
            ({ stored } = await queueSmall({
              abs: child.abs,
              rel: child.rel,
              fp,
              base,
              extra,
              size: Number(st.size),
            }));
          } else {
            await flushBatch();
            await largeSlots.take(1);
            await slots.take(1);
            const read = readLarge(child.abs, child.rel, fp, base, extra).finally(() => {
              progress.filesDone++;
              emit();
              slots.give(1);
              largeSlots.give(1);
              reading.delete(read);
            });
            reading.add(read);
            stored = read;
          }
          if (stored) {
            if (linkKey) links.set(linkKey, stored);
            track(stored);
          }
        } else if (st.isSymbolicLink()) {
          try {
            const target = readlinkSync(child.abs, { encoding: 'buffer' });
            const t = nameFields(target);
            const node: TreeNode = { ...base, type: 'symlink', target: t.name };
            if (t.nameRaw !== undefined) node.targetRaw = t.nameRaw;
            pending.push({ node });
          } catch (err) {
            errors.push({ path: child.rel, error: describe(err) });
          }
        } else {
          const type = SPECIAL.find(([is]) => is(st))?.[1];
          if (type) {
            const node: TreeNode = { ...base, type };
            if (type === 'chardev' || type === 'blockdev') node.rdev = st.rdev.toString();
            pending.push({ node });
          } else errors.push({ path: child.rel, error: 'skipped: unknown file type' });
        }
        // Let worker replies, uploads and lock refreshes run between entries.
        if (++sinceYield >= 256) {
          sinceYield = 0;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
      // Wrapped: an async function returning a bare promise would wait for it. `pending` mixes
      // promises and plain entries on purpose (see its declaration); Promise.all takes both.
      // eslint-disable-next-line @typescript-eslint/await-thenable
      const result = Promise.all(pending).then((done) => {
        const nodes: TreeNode[] = [];
        const dir: DirResult = { tree: '', dirs: [] };
        if (rel === '' && streamed) {
          // The streamed files and folders join the root, in the byte order names are kept in.
          done = [...done.filter((d) => d !== null), ...streamed].sort((x, y) =>
            Buffer.compare(nodeNameBytes(x.node), nodeNameBytes(y.node)),
          );
        }
        for (const stored of done) {
          if (!stored) continue;
          nodes.push(stored.node);
          if (stored.file !== undefined) stats.files++;
          if (stored.dir) dir.dirs.push(stored.dir);
        }
        dir.tree = session.addTree(encodeTree({ nodes })).toString('hex');
        return dir;
      });
      return { result };
    };

    /** Reads opts.streams into files under their paths, and their folders' trees. */
    const readStreams = async (
      list: NonNullable<BackupOptions['streams']>,
    ): Promise<NonNullable<Stored>[]> => {
      interface Folder {
        files: Map<string, NonNullable<Stored>>;
        dirs: Map<string, Folder>;
      }
      const top: Folder = { files: new Map(), dirs: new Map() };
      const now = (BigInt(Date.now()) * 1_000_000n).toString();
      const uid = process.getuid?.() ?? 0;
      const gid = process.getgid?.() ?? 0;
      const seen = new Set<string>();
      for (const { path } of list) {
        const parts = path.split('/');
        for (const part of parts) {
          if (!part)
            throw new EngineError(
              'INVALID_ARGUMENT',
              `stream path ${JSON.stringify(path)} has an empty part`,
            );
          assertSafeName(Buffer.from(part));
        }
        if (seen.has(path))
          throw new EngineError('INVALID_ARGUMENT', `stream path ${JSON.stringify(path)} is given twice`);
        seen.add(path);
        if (lstatOrNull(`${source}/${parts[0]!}`)) {
          throw new EngineError(
            'INVALID_ARGUMENT',
            `stream path ${JSON.stringify(path)}: ${JSON.stringify(parts[0])} exists in the source folder ${source}`,
          );
        }
      }
      for (const { path, open } of list) {
        const parts = path.split('/');
        const file = await readStream(session, open(), opts.signal, (n) => {
          progress.bytesDone += n;
          progress.current = path;
          emit();
        });
        let folder = top;
        for (const part of parts.slice(0, -1)) {
          let next = folder.dirs.get(part);
          if (!next) folder.dirs.set(part, (next = { files: new Map(), dirs: new Map() }));
          folder = next;
        }
        const name = parts[parts.length - 1]!;
        const stat = { mtimeNs: now, ctimeNs: now, ino: '0' };
        const base = { name, mode: 0o600, mtime: now, uid, gid };
        folder.files.set(
          name,
          storedFile(pathFingerprintBytes(pk, path), base, {}, file.size, file.content, stat)!,
        );
        stats.files++;
      }
      const entries = (folder: Folder): NonNullable<Stored>[] =>
        [
          ...folder.files.values(),
          ...[...folder.dirs].map(([name, sub]): NonNullable<Stored> => {
            const children = entries(sub);
            const dir: DirResult = { tree: '', dirs: [] };
            for (const c of children) if (c.dir) dir.dirs.push(c.dir);
            dir.tree = session.addTree(encodeTree({ nodes: children.map((c) => c.node) })).toString('hex');
            return { node: { name, type: 'dir', mode: 0o700, mtime: now, uid, gid, subtree: dir.tree }, dir };
          }),
        ].sort((x, y) => Buffer.compare(nodeNameBytes(x.node), nodeNameBytes(y.node)));
      return entries(top);
    };

    let rootDir: DirResult;
    let rootNode: TreeNode;
    if (stdin && opts.streams?.length) {
      throw new EngineError('INVALID_ARGUMENT', 'streams go with a source folder, not with stdin');
    }
    if (opts.streams?.length) streamed = await readStreams(opts.streams);
    if (stdin) {
      const file = await readStream(session, stdin.stream, opts.signal, (n) => {
        progress.bytesDone += n;
        progress.current = stdin.name;
        emit();
      });
      const now = (BigInt(Date.now()) * 1_000_000n).toString();
      const uid = process.getuid?.() ?? 0;
      const gid = process.getgid?.() ?? 0;
      const fp = pathFingerprintBytes(pk, stdin.name);
      const stored = storedFile(
        fp,
        { name: stdin.name, mode: 0o600, mtime: now, uid, gid },
        {},
        file.size,
        file.content,
        {
          mtimeNs: now,
          ctimeNs: now,
          ino: '0',
        },
      );
      stats.files = 1;
      const tree = session.addTree(encodeTree({ nodes: [stored!.node] })).toString('hex');
      rootDir = { tree, dirs: [] };
      rootNode = { name: '.', type: 'dir', mode: 0o700, mtime: now, uid, gid, subtree: tree };
    } else {
      let pendingRoot: { result: Promise<DirResult> };
      try {
        pendingRoot = await walkDir(Buffer.from(source), '', null, only);
      } finally {
        // Listings still arriving request no more (an aborted or failed walk, or the end).
        walkDone = true;
      }
      await flushBatch();
      rootDir = await pendingRoot.result;
      if (only) {
        // A listed path that is not there is an error the user must see.
        for (const p of onlyPaths(only)) {
          try {
            lstatSync(`${source}/${p}`);
          } catch (err) {
            errors.push({ path: p, error: describe(err) });
          }
        }
      }
      const rs = rootStat!;
      // The root's own metadata is restored onto the target folder.
      rootNode = {
        name: '.',
        type: 'dir',
        mode: Number(rs.mode & 0o7777n),
        mtime: rs.mtimeNs.toString(),
        uid: Number(rs.uid),
        gid: Number(rs.gid),
        subtree: rootDir.tree,
      };
      const rootXattrs = readXattrs(Buffer.from(source), xattrError(''));
      if (rootXattrs) rootNode.xattrs = rootXattrs;
    }
    const manifest: Manifest = { files, trees: treesOf(rootDir) };
    await session.finish();
    throwIfAborted(opts.signal, 'backup');
    // Files are read concurrently; record their errors in a stable order.
    errors.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

    const snapshot = await session.commitSnapshot(
      manifest,
      { tree: rootDir.tree, root: rootNode, paths: [source], errors },
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
      parent && parentManifest ? { id: parent.manifest, ...parentManifest } : undefined,
    );
    // The count stops at the walk's end; its last figures must not follow 'done'.
    await counting;
    progress.phase = 'done';
    delete progress.current;
    progress.filesTotal = Math.max(progress.filesTotal, progress.filesDone);
    progress.bytesTotal = Math.max(progress.bytesTotal, progress.bytesDone);
    emit(true);
    return { snapshot, errors, dryRun: opts.dryRun === true };
  } catch (err) {
    // Cancelled (a worker shutting down): store and index what is already sealed, so the next
    // backup reuses it; the snapshot is not written.
    if (err instanceof EngineError && err.code === 'ABORTED' && writer) {
      await Promise.allSettled([...reading]);
      await writer.finish().catch(() => undefined);
    }
    // Packs still being built are dropped with their spool files.
    await writer?.discard();
    throw err;
  } finally {
    walkDone = true;
    await Promise.allSettled([...reading]);
    if (ownPool) await pool.close();
    await lock.release();
  }
}

/**
 * An entry's absolute path, path relative to the source (bytes) and display path, each made
 * when first asked for: in an incremental backup most entries are unchanged files that need
 * none of them, and two concatenations and a string per entry were ~15 % of that walk.
 */
class EntryPaths {
  private abs_: Buffer | undefined;
  private relBytes_: Buffer | undefined;
  private rel_: string | undefined;

  constructor(
    private readonly dir: Buffer,
    private readonly dirRel: Buffer | null,
    private readonly name: Buffer,
  ) {}

  get abs(): Buffer {
    return (this.abs_ ??= Buffer.concat([this.dir, SLASH, this.name]));
  }

  get relBytes(): Buffer {
    return (this.relBytes_ ??= this.dirRel ? Buffer.concat([this.dirRel, SLASH, this.name]) : this.name);
  }

  get rel(): string {
    return (this.rel_ ??= this.relBytes.toString());
  }
}

/**
 * A folder's trees for the manifest: its own and its subfolders' (in name order). Kept as a tree
 * and flattened once, at the end: copying every level's lists into its parent's cost time, and
 * spreading them into push() overflowed the call stack past ~120,000 folders and files.
 */
interface DirResult {
  tree: string;
  dirs: DirResult[];
}

/** A walked tree's tree ids in post-order (each folder after its subfolders). */
function treesOf(root: DirResult): string[] {
  const trees: string[] = [];
  // A stack, not recursion: a deep tree must not exhaust the call stack either.
  const stack: { dir: DirResult; next: number }[] = [{ dir: root, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next === top.dir.dirs.length) {
      trees.push(top.dir.tree);
      stack.pop();
    } else stack.push({ dir: top.dir.dirs[top.next++]!, next: 0 });
  }
  return trees;
}

/** Chunks a stream on this thread (the worker threads seal); returns its size and chunk ids. */
async function readStream(
  session: WriterSession,
  stream: AsyncIterable<Buffer | string>,
  signal: AbortSignal | undefined,
  onBytes: (n: number) => void,
): Promise<{ size: number; content: string[] }> {
  const chunker = new Chunker(session.chunkerParams, session.chunkerSeed);
  const { max } = session.chunkerParams;
  let window = Buffer.allocUnsafeSlow(2 * max);
  let filled = 0;
  let size = 0;
  const content: string[] = [];
  const cut = async (end: boolean): Promise<void> => {
    let pos = 0;
    while (filled - pos >= max || (end && pos < filled)) {
      const len = chunker.cut(window, pos, filled);
      const piece = window.subarray(pos, pos + len);
      const id = session.id(piece);
      content.push(id.toString('hex'));
      const data = session.borrow(len);
      data.set(piece);
      await session.addData(id, data);
      pos += len;
    }
    window.copyWithin(0, pos, filled);
    filled -= pos;
  };
  for await (const chunk of stream) {
    throwIfAborted(signal, 'backup');
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let off = 0;
    while (off < buf.length) {
      if (filled === window.length) {
        await cut(false);
        if (filled === window.length) {
          const bigger = Buffer.allocUnsafeSlow(window.length * 2);
          window.copy(bigger, 0, 0, filled);
          window = bigger;
        }
      }
      const n = Math.min(buf.length - off, window.length - filled);
      buf.copy(window, filled, off, off + n);
      filled += n;
      off += n;
    }
    size += buf.length;
    onBytes(buf.length);
  }
  await cut(true);
  return { size, content };
}

/** Counts the files and bytes under `abs` (what excludes leave), asynchronously; stops early on `stop()`. */
async function countTree(
  abs: Buffer,
  rel: string,
  excluder: Excluder,
  p: Progress,
  stop: () => boolean,
): Promise<void> {
  let names: Buffer[];
  try {
    names = await readdir(abs, { encoding: 'buffer' });
  } catch {
    return;
  }
  const entries = await Promise.all(
    names.map(async (name) => {
      const childAbs = Buffer.concat([abs, SLASH, name]);
      try {
        return { name, childAbs, st: await lstat(childAbs) };
      } catch {
        return null;
      }
    }),
  );
  for (const e of entries) {
    if (!e || stop()) continue;
    const childRel = rel ? `${rel}/${e.name.toString()}` : e.name.toString();
    if (excluder.active && excluder.excluded(childRel, e.st.isDirectory())) continue;
    if (e.st.isDirectory()) await countTree(e.childAbs, childRel, excluder, p, stop);
    else if (e.st.isFile()) {
      p.filesTotal++;
      p.bytesTotal += e.st.size;
    }
  }
}

async function loadParentManifest(repo: Repository, parent: SnapshotInfo): Promise<LoadedManifest | null> {
  try {
    return await loadManifestChain(repo, parent.manifest);
  } catch (err) {
    if (err instanceof EngineError && err.code === 'CORRUPT') return null;
    throw err;
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

/** lstat, or null when there is nothing at `path` (a dangling symlink is something). */
function lstatOrNull(path: string): BigIntStats | null {
  try {
    return lstatSync(path, { bigint: true });
  } catch {
    return null;
  }
}
