/**
 * Prune: drop packs that no snapshot references and repack mostly-unused ones.
 *
 * Runs under the exclusive lock. References come from manifests (writer-readable), so deleting
 * wholly unused packs needs only the writer key; with the password the snapshots' trees are walked
 * as well, so no manifest can hide a live blob. Repacking decrypts blobs and so needs the
 * password — without it, partly used packs are kept and reported. Nothing younger than the safety
 * margin is deleted: it may belong to a backup still running behind a lock that looked stale.
 * Order: new packs and index first, old index files next, packs last — a crash at any point
 * leaves every referenced blob indexed.
 */
import { BlobType, openBlob } from './blob';
import { BlobIndex } from './blob-index';
import { EngineError } from './errors';
import { withLock, type LockTiming } from './locks';
import { loadManifest, manifestRefs, manifestsOf, type StoredManifest } from './manifest';
import { packName } from './pack';
import { collectRefs } from './reader';
import type { IndexFileBody, Repository } from './repository';
import { mapLimit } from './util';
import { WorkerPool } from './workers/pool';
import { WriterSession } from './writer';

export interface PruneOptions {
  dryRun?: boolean;
  /** Repack a pack when at least this fraction of its bytes is unused (default 0.3). */
  repackThreshold?: number;
  /** Never delete packs, index files or manifests younger than this (default 1 h). */
  safetyMarginMs?: number;
  lockTiming?: LockTiming;
  pool?: WorkerPool;
}

export interface PruneResult {
  packsDeleted: number;
  packsRepacked: number;
  /** Partly used packs left alone because repacking needs the password. */
  packsNeedingPassword: number;
  unindexedPacksDeleted: number;
  blobsRemoved: number;
  bytesFreed: number;
  indexFilesRewritten: number;
  orphanManifestsDeleted: number;
  /** Temporary files interrupted writes left (a killed backup's pack spools), older than the margin. */
  tempFilesDeleted: number;
}

type PackBlobs = IndexFileBody['packs'][number];

export async function prune(repo: Repository, opts: PruneOptions = {}): Promise<PruneResult> {
  const threshold = opts.repackThreshold ?? 0.3;
  if (!(threshold > 0 && threshold <= 1))
    throw new EngineError('INVALID_ARGUMENT', 'repack threshold must be in (0, 1]');
  const margin = opts.safetyMarginMs ?? 60 * 60_000;
  return withLock(
    repo.backend,
    'exclusive',
    'prune',
    () => pruneLocked(repo, opts, threshold, margin),
    opts.lockTiming,
  );
}

async function pruneLocked(
  repo: Repository,
  opts: PruneOptions,
  threshold: number,
  margin: number,
): Promise<PruneResult> {
  const result: PruneResult = {
    packsDeleted: 0,
    packsRepacked: 0,
    packsNeedingPassword: 0,
    unindexedPacksDeleted: 0,
    blobsRemoved: 0,
    bytesFreed: 0,
    indexFilesRewritten: 0,
    orphanManifestsDeleted: 0,
    tempFilesDeleted: 0,
  };
  const now = Date.now();
  const old = (mtime: Date | undefined): boolean => mtime !== undefined && now - mtime.getTime() >= margin;

  // 1. What is referenced.
  const snapshots = await repo.listSnapshots();
  const used = new Set<string>();
  const manifests = new Map<string, StoredManifest>();
  for (const s of snapshots)
    for (const id of manifestRefs(await loadManifest(repo, s.manifest, manifests))) used.add(id);
  manifests.clear();
  if (repo.canRead) {
    // With the password the trees are the authority: a manifest can add references, never hide one.
    const { index } = await repo.loadIndex();
    const roots = await mapLimit(snapshots, 4, async (s) => (await repo.readSnapshotBody(s.id)).body.tree);
    await collectRefs(repo, index, roots, used);
  }

  // 2. Every index entry, duplicates included (the compact index keeps only one copy).
  const indexFiles = await repo.listNames('index/');
  const packs = new Map<string, PackBlobs>();
  for (const name of indexFiles) for (const p of (await repo.readIndexFile(name)).packs) packs.set(p.id, p);
  const stored = new Map<string, { size: number; mtime?: Date }>();
  for await (const o of repo.backend.list('data/')) stored.set(o.name.slice(o.name.lastIndexOf('/') + 1), o);

  // 3. Classify packs. The first pack holding a used blob keeps it; later copies are unused.
  const claimed = new Set<string>();
  const keep: PackBlobs[] = [];
  const drop: string[] = [];
  const repack: PackBlobs[] = [];
  for (const p of packs.values()) {
    const st = stored.get(p.id);
    if (!st) continue; // indexed but gone: check reports it; nothing to free.
    let usedBytes = 0;
    let totalBytes = 0;
    for (const [, id, , length] of p.blobs) {
      totalBytes += length;
      if (used.has(id) && !claimed.has(id)) {
        claimed.add(id);
        usedBytes += length;
      }
    }
    const young = !old(st.mtime);
    if (usedBytes === 0 && !young) {
      drop.push(p.id);
      result.packsDeleted++;
      result.blobsRemoved += p.blobs.length;
      result.bytesFreed += st.size;
    } else if (!young && totalBytes > 0 && (totalBytes - usedBytes) / totalBytes >= threshold) {
      if (repo.canRead) repack.push(p);
      else {
        result.packsNeedingPassword++;
        keep.push(p);
      }
    } else keep.push(p);
  }
  const unindexed = [...stored.entries()]
    .filter(([id, st]) => !packs.has(id) && old(st.mtime))
    .map(([id]) => id);
  result.unindexedPacksDeleted = unindexed.length;
  for (const id of unindexed) result.bytesFreed += stored.get(id)!.size;

  const referencedManifests = new Set(snapshots.flatMap(manifestsOf));
  const orphanManifests: string[] = [];
  for await (const o of repo.backend.list('manifests/')) {
    if (!referencedManifests.has(o.name.slice('manifests/'.length)) && old(o.mtime))
      orphanManifests.push(o.name);
  }
  result.orphanManifestsDeleted = orphanManifests.length;
  if (opts.dryRun) {
    result.packsRepacked = repack.length;
    return result;
  }

  // 4. Repack: copy still-used blobs of mostly-empty packs into new packs.
  const newIndexFiles: string[] = [];
  if (repack.length) {
    const inPlace = new BlobIndex();
    for (const p of keep) inPlace.addPack(p);
    const ownPool = !opts.pool;
    const pool = opts.pool ?? new WorkerPool();
    let session: WriterSession | undefined;
    try {
      session = new WriterSession(repo, inPlace, pool);
      for (const p of repack) {
        const key = repo.readKey(p.eph, 'repacking');
        const bytes = await repo.backend.get(packName(p.id));
        for (const [t, id, offset, length, rawLength] of p.blobs) {
          if (!used.has(id) || session.known(Buffer.from(id, 'hex'))) continue;
          const idBuf = Buffer.from(id, 'hex');
          const plain = openBlob(
            key,
            repo.keys.idKey,
            t,
            idBuf,
            bytes.subarray(offset, offset + length),
            rawLength,
          );
          if (t === BlobType.Tree) session.addTree(plain);
          else await session.addData(idBuf, new Uint8Array(plain));
        }
        result.packsRepacked++;
        result.bytesFreed += stored.get(p.id)!.size;
      }
      await session.finish();
      result.bytesFreed -= session.stats.bytesAdded;
      newIndexFiles.push(...session.indexFiles);
    } finally {
      // A failed repack drops the packs it was building (and their spool files).
      await session?.discard();
      if (ownPool) await pool.close();
    }
  }

  // 5. One consolidated index for the packs kept in place, then drop the old index files.
  const chunks: PackBlobs[][] = [];
  for (let i = 0; i < keep.length; i += 256) chunks.push(keep.slice(i, i + 256));
  for (const c of chunks) newIndexFiles.push(await repo.writeIndexFile({ packs: c }));
  result.indexFilesRewritten = chunks.length;
  const fresh = new Set(newIndexFiles.map((id) => `index/${id}`));
  await mapLimit(
    indexFiles.filter((n) => !fresh.has(n)),
    8,
    (n) => repo.backend.delete(n),
  );

  // 6. Packs and orphans last.
  await mapLimit([...drop, ...repack.map((p) => p.id), ...unindexed], 8, (id) =>
    repo.backend.delete(packName(id)),
  );
  await mapLimit(orphanManifests, 8, (n) => repo.backend.delete(n));
  // Under the exclusive lock no write is running: what a killed process left is stale (the
  // margin covers a lock taken over from a process that only looked dead).
  if (repo.backend.sweepTemp) {
    const swept = await repo.backend.sweepTemp(new Date(now - margin));
    result.tempFilesDeleted = swept.files;
    result.bytesFreed += swept.bytes;
  }
  return result;
}
